"""Batch scoring from a JSON body: row form (one object per lead) or columnar form.

A bad lead never fails the batch: it gets its own entry with the field paths that are wrong (a
lead that is not even an object, `5` or `null`, included), and the others are scored together in
one matrix. The row form is validated by pydantic-core with the same strict field types as the
single-lead route (one pass over the decoded body; a lead that fails is validated again from its
own JSON, so its errors read exactly as /v1/score's), so both routes give the same answer.
The columnar form skips per-lead models entirely: each feature column goes from the orjson list
straight into a float64 column of the matrix, which is what takes a batch of 1000 past the
per-lead parsing cost.

Every body is first read by orjson, which accepts standard JSON only (no NaN, no Infinity, no
number too large for a double): `standard_json` is the one gate both scoring routes pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from pydantic import TypeAdapter, ValidationError

from scoring.scorer import Scorer
from serve.errors import InputError, TooManyLeads, clean_errors, error_item
from serve.schemas import BatchRequest, LeadInput, UtcTime

_AS_OF = TypeAdapter(UtcTime | None)
_COLUMN_KEYS = frozenset({"columns", "lead_ids", "explain", "as_of"})
# What a cell of `columns` may be (the document: number, string, boolean or null).
_CELL_TYPES = frozenset({int, float, str, bool, type(None)})
_ID_TYPES = frozenset({str, type(None)})  # JSON gives exact types: no str subclasses here


def standard_json(body: bytes) -> Any:
    """The body decoded as standard JSON, or a 422 `json_invalid` at `body` (same on every
    route): NaN, Infinity and numbers beyond a double's range are not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = (
            f"Invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); "
            "standard JSON only (no NaN or Infinity)"
        )
        raise InputError([error_item(("body",), message, "json_invalid")]) from None


def _prefixed(items: list[dict[str, Any]], prefix: Sequence[str | int]) -> list[dict[str, Any]]:
    return [error_item((*prefix, *i["loc"]), i["msg"], i["type"]) for i in items]


def check_events(item: LeadInput, max_events: int) -> None:
    if len(item.events) > max_events:
        raise InputError(
            [
                error_item(
                    ("events",),
                    f"at most {max_events} events per lead (send the most recent ones)",
                    "too_many_events",
                )
            ]
        )


def lead_id_of(item: LeadInput) -> str | None:
    return item.lead_id or (item.lead.lead_id if item.lead is not None else None)


def _raw_lead_id(raw: Any) -> str | None:
    """Best-effort id of a lead that failed validation, so the caller can match the error."""
    if not isinstance(raw, dict):
        return None
    lead_id = raw.get("lead_id")
    if lead_id is None and isinstance(raw.get("lead"), dict):
        lead_id = raw["lead"].get("lead_id")
    return lead_id if isinstance(lead_id, str) else None


def lead_errors(raw: Any) -> list[dict[str, Any]]:
    """Why a batch item is not a LeadInput, exactly as the single-lead route would say it
    (strict JSON validation of the item's own JSON); only failed items come here."""
    try:
        LeadInput.model_validate_json(orjson.dumps(raw))
    except ValidationError as exc:
        return exc.errors(include_input=False)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: Python mode
        try:
            LeadInput.model_validate(raw)
        except ValidationError as exc:
            return exc.errors(include_input=False)
    return [{"loc": (), "msg": "Input should be a valid lead", "type": "model_type"}]


def score_row_batch(
    scorer: Scorer,
    data: Any,
    max_batch: int,
    max_events: int,
    now: datetime,
    body: bytes | None = None,
) -> dict[str, Any]:
    """Score a row-form batch body, `data` as `standard_json` decoded it (`body` is unused: the
    strict field types make validating the decoded data equal to validating the bytes, and
    saves parsing them twice, ~8% of a 1000-lead batch)."""
    del body
    try:
        request = BatchRequest.model_validate(data)
    except ValidationError as exc:
        raise InputError(clean_errors(exc.errors(include_input=False), ("body",))) from None
    if len(request.leads) > max_batch:
        raise TooManyLeads(len(request.leads), max_batch)

    items: list[dict[str, Any]] = [{} for _ in request.leads]
    rows, encoded, as_ofs, ids, where = [], [], [], [], []
    for i, item in enumerate(request.leads):
        prefix = ("body", "leads", i)
        if not isinstance(item, LeadInput):  # kept as it came: say why, like /v1/score would
            errors = clean_errors(lead_errors(item), prefix)
            items[i] = {"index": i, "lead_id": _raw_lead_id(item), "errors": errors}
            continue
        try:
            check_events(item, max_events)
            as_of = scorer.as_of_of(item, request.as_of, now)
            values, x = scorer.features_of(item, as_of)
        except InputError as exc:
            items[i] = {
                "index": i,
                "lead_id": lead_id_of(item),
                "errors": _prefixed(exc.items, prefix),
            }
            continue
        rows.append(values)
        encoded.append(x)
        as_ofs.append(as_of)
        ids.append(lead_id_of(item))
        where.append(i)
    results = scorer.score_rows(rows, as_ofs, ids, request.explain, encoded) if rows else []
    for i, result in zip(where, results, strict=True):
        items[i] = {"index": i, "lead_id": result["lead_id"], "result": result}
    return _response(scorer, items, len(results))


def _column_envelope(data: dict[str, Any], max_batch: int) -> tuple[dict, list, bool, Any, int]:
    """Check the columnar body's shape by hand (pydantic over 100k cells would cost more than
    scoring them); cell values are checked while encoding."""
    errors = [
        error_item(("body", key), "Extra inputs are not permitted", "extra_forbidden")
        for key in data
        if key not in _COLUMN_KEYS
    ]
    columns = data.get("columns")
    if not isinstance(columns, dict):
        errors.append(error_item(("body", "columns"), "Input should be an object", "dict_type"))
        raise InputError(errors)
    lengths = set()
    for name, col in columns.items():
        if not isinstance(col, list | np.ndarray):  # an array: a numeric column, fast path
            errors.append(
                error_item(("body", "columns", name), "Input should be a list", "list_type")
            )
        else:
            lengths.add(len(col))
    if len(lengths) > 1:
        errors.append(
            error_item(
                ("body", "columns"),
                f"all columns must have the same length, got lengths {sorted(lengths)}",
                "column_lengths",
            )
        )
    n = lengths.pop() if len(lengths) == 1 else 0
    lead_ids = data.get("lead_ids")
    if lead_ids is None:
        lead_ids = [None] * n
    elif not isinstance(lead_ids, list) or len(lead_ids) != n:
        errors.append(
            error_item(("body", "lead_ids"), f"Input should be a list of {n} ids", "lead_ids")
        )
    elif not set(map(type, lead_ids)) <= _ID_TYPES:
        errors.append(
            error_item(("body", "lead_ids"), "ids should be strings or null", "string_type")
        )
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        errors.append(error_item(("body", "explain"), "Input should be a boolean", "bool_type"))
    try:
        as_of = _AS_OF.validate_python(data.get("as_of"))
    except ValidationError as exc:
        errors += clean_errors(exc.errors(include_input=False), ("body", "as_of"))
        as_of = None
    if errors:
        raise InputError(errors)
    if n > max_batch:
        raise TooManyLeads(n, max_batch)
    return columns, lead_ids, explain, as_of, n


def check_cells(columns: dict[str, list[Any]], names: set[str]) -> None:
    """422 naming each column of `names` with a cell that is not a number, string, boolean
    or null (`set(map(type, ...))` runs in C: a few ns a cell)."""
    bad = [name for name in names if not set(map(type, columns[name])) <= _CELL_TYPES]
    if bad:
        raise InputError(
            [
                error_item(
                    ("body", "columns", name),
                    "cells should be numbers, strings, booleans or null",
                    "feature_value_type",
                )
                for name in sorted(bad)
            ]
        )


def score_column_batch(
    scorer: Scorer, data: dict[str, Any], max_batch: int, now: datetime
) -> dict[str, Any]:
    """Score a columnar batch body: {"columns": {feature: [values]}, "lead_ids": [...]}.

    Columnar in, columnar out: the answer's `columns` holds one list per result field (null
    where a lead failed; `errors` says why), so no per-lead object is built on either side.
    """
    from scoring.scorer import _utc

    columns, lead_ids, explain, as_of, n = _column_envelope(data, max_batch)
    as_of = _utc(as_of) if as_of is not None else now
    X, unreadable = scorer.encode_columns(columns, n)
    # Cells the document does not allow (objects, arrays) fail the request, as in the row form.
    # Numeric columns that numpy read whole hold only numbers, booleans and nulls; the others
    # (categories, unknown names, a numeric column with an unreadable cell) are checked here.
    suspects = {f for features in unreadable.values() for f in features}
    suspects.update(c for c in columns if c in scorer.categorical or c not in scorer.bounds.limits)
    check_cells(columns, suspects)
    bad: dict[int, list[dict[str, Any]]] = {
        i: [
            error_item(("body", "columns", f, i), "Input should be a valid number", "float_parsing")
            for f in features
        ]
        for i, features in unreadable.items()
    }
    bounds = scorer.bounds
    for i, features in bounds.impossible(X).items():
        bad.setdefault(i, []).extend(
            bounds.errors(features, lambda f, i=i: ("body", "columns", f, i))
        )
    good = [i for i in range(n) if i not in bad] if bad else None
    k = n if good is None else len(good)
    wanted = (*scorer.feature_names, *scorer.rule_fields) if explain else scorer.rule_fields
    raw = {
        c: columns[c] if good is None else [columns[c][i] for i in good]
        for c in dict.fromkeys((*wanted, "unsubscribed"))
        if c in columns
    }
    ids = lead_ids if good is None else [lead_ids[i] for i in good]
    results = (
        scorer.score_columns(X if good is None else X[good], raw, [as_of] * k, ids, explain)
        if k
        else {}
    )
    if good is not None:  # put the scored leads back at their positions, null for the failed
        for field, values in results.items():
            full: list[Any] = [None] * n
            for position, value in zip(good, values, strict=True):
                full[position] = value
            results[field] = full
        results["lead_id"] = list(lead_ids)
    errors = [
        {"index": i, "lead_id": lead_ids[i], "errors": items} for i, items in sorted(bad.items())
    ]
    return {
        "model": scorer.model_ref,
        "scored": k,
        "failed": n - k,
        "columns": results or {"lead_id": list(lead_ids)},
        "errors": errors,
    }


def is_columnar(data: Any) -> bool:
    return isinstance(data, dict) and "columns" in data and "leads" not in data


def cheap_enough_inline(data: Any, max_leads: int) -> bool:
    """A columnar batch without reasons of at most `max_leads` leads: a few milliseconds of
    numpy for 1000, about what decoding its JSON costs (done on the event loop anyway). Handing
    it to a thread cost ~20% of the throughput (GIL hand-offs between the loop and up to
    `concurrency` batch threads); row-form batches (per-lead validation and features), larger
    ones and reasons stay in a thread."""
    if not is_columnar(data) or data.get("explain") is True:
        return False
    columns = data["columns"]
    if not isinstance(columns, dict):
        return True  # refused at once by the envelope check
    return all(len(c) <= max_leads for c in columns.values() if isinstance(c, list | np.ndarray))


def score_batch(
    scorer: Scorer,
    data: Any,
    max_batch: int,
    max_events: int,
    now: datetime,
    body: bytes | None = None,
) -> dict[str, Any]:
    """Dispatch on the body's form: `columns` means columnar, anything else is the row form.
    `data` is the body decoded by `standard_json` (or `serve.column_json`); `body` its bytes."""
    if is_columnar(data):
        return score_column_batch(scorer, data, max_batch, now)
    return score_row_batch(scorer, data, max_batch, max_events, now, body)


def _response(scorer: Scorer, items: list[dict[str, Any]], scored: int) -> dict[str, Any]:
    return {
        "model": scorer.model_ref,
        "scored": scored,
        "failed": len(items) - scored,
        "items": items,
    }
