"""The triage of the raw data against the contract: which rows downstream stages may trust, and
why not.

The pandera schemas (features/schemas.py) are the single statement of the contract. The
triage (`validate_leads`, `validate_events`, `validate_stages`) applies exactly those rules row by
row, but with vectorised masks of its own rather than `schema.validate(lazy=True)`: pandera builds
its failure cases in Python at a few microseconds per failing row, so an export whose every
timestamp is in the wrong format (30M failures) would take minutes; masks take seconds and let each
reason name the value as read. The kept rows are then validated by the schema as a post-condition,
so what downstream reads is guaranteed to match the contract.

Decisions a user relies on (docs/data-scientist.md and docs/CONTRACTS.md say the same):
- Unknown extra columns are ignored: dropped from the typed tables, listed in the summary, and kept
  in the quarantine file (which holds bad rows as read).
- Optional columns (firmographics, content_topic, deal_value_eur) may be absent: they are added
  empty and listed in the summary. Required columns missing stop the stage (DataError).
- Text is trimmed (surrounding spaces are not part of a value: exports pad cells, and ` L7 ` in
  events must find `L7` in leads); an empty string is missing. Inside the value every character
  is kept exactly. Text longer than the store keeps (lead_id 200 characters, email_domain 320,
  other text 100: foundation/text_limits.py) or holding a NUL is quarantined naming the column.
- Timestamps are ISO 8601; a naive one means UTC.
- Duplicate lead_id: the first valid row is kept, later ones are quarantined naming that row.
- Events and stages must belong to a kept lead. Activity dated before the lead's created_at is kept
  (tracking cookies predate the form fill) and only counted as a warning.
- Unknown event types, content topics and channels are kept (features ignore what they do not
  know) and counted as warnings; an unknown funnel stage is quarantined (labels depend on it).
- A row with several problems is quarantined once, its reason listing all of them; the summary
  counts each kind of problem, so its reason counts can add up to more than rows_quarantined.
- A CSV byte that is not UTF-8 quarantines the row it sits in (reason: file line, column and
  field), not the file; the other rows are validated as usual.
- A table with a header and no rows is `empty` in the summary (a warning); empty leads are an
  error in the stage, since nothing downstream can run without leads.

A table can be triaged whole (`validate_table`) or chunk by chunk (`TableTriage`): the chunked
triage calls `validate_table` on each chunk with the rows numbered as in the whole file and the
keys kept so far, so both give the same kept rows, quarantine and counts (tests pin it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow_lib
import pyarrow.compute as pc

from features.parsers import PARSERS, as_text, empty_column, no_failures
from features.schemas import SCHEMAS, dtype_name, ensure_contract
from features.triage_results import (
    TOP_UNKNOWN_VALUES,
    UNKNOWN_VALUES_COUNTED,
    Problem,
    TableResult,
    merge_summaries,
)
from features.vocabularies import VOCABULARY
from foundation.chunks import BadByte, TableChunk
from foundation.errors import DataError


@dataclass(frozen=True)
class LeadIndex:
    """What events and stages are checked against: the kept leads' ids (an Arrow array, built
    once, not once per chunk) and creation times, and the ids of quarantined leads."""

    keys: pyarrow_lib.Array
    created_at: np.ndarray  # datetime64[us], UTC, aligned with keys
    quarantined: pd.Series  # text ids

    @classmethod
    def of(cls, leads: TableResult | LeadIndex) -> LeadIndex:
        if isinstance(leads, LeadIndex):
            return leads
        quarantined = leads.quarantined.get("lead_id", pd.Series(dtype="str"))
        return cls.build(leads.kept["lead_id"], leads.kept["created_at"], quarantined)

    @classmethod
    def build(cls, lead_id: pd.Series, created_at: pd.Series, quarantined: pd.Series) -> LeadIndex:
        return cls(
            keys=pyarrow_lib.array(lead_id.astype("str"), type=pyarrow_lib.large_string()),
            created_at=created_at.to_numpy(dtype="datetime64[us]"),
            quarantined=as_text(quarantined).dropna().reset_index(drop=True),
        )

    def __len__(self) -> int:
        return len(self.keys)


# --- triage ---


def _message(column: str, shown: pd.Series, positions: np.ndarray, tail: str) -> pd.Series:
    """ "<column> '<value as read>' <tail>" for the given rows, built without a Python loop."""
    return (f"{column} '" + shown.iloc[positions].astype("str") + f"' {tail}").set_axis(positions)


def _problem(kind: str, mask: pd.Series | np.ndarray, build: Any) -> Problem | None:
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    if len(positions) == 0:
        return None
    if isinstance(build, str):
        return Problem(kind, positions, pd.Series(build, index=positions, dtype="str"))
    messages = build(positions)
    return Problem(kind, positions, messages)


def check_required_columns(raw: pd.DataFrame, schema: pa.DataFrameSchema, source: str) -> None:
    """Stop on a missing required column: no row can be trusted without it."""
    required = [name for name, col in schema.columns.items() if col.required]
    missing = [name for name in required if name not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns)) or "none"
        raise DataError(
            f"{source}: missing required column {', '.join(repr(m) for m in missing)} "
            f"(required: {', '.join(required)}; found: {found})"
        )


def _column_problems(
    name: str, column: pa.Column, raw: pd.Series
) -> tuple[pd.Series, list[Problem]]:
    """Parse one raw column into its contract dtype; report what did not parse or pass."""
    dtype = dtype_name(column)
    if dtype in PARSERS:
        parser, kind, what, hint = PARSERS[dtype]
        value, failed = parser(raw)
    else:
        value, failed, kind, what, hint = as_text(raw), no_failures(raw), "", "", ""
    problems = [
        _problem(
            f"{name}_not_{kind}",
            failed,
            lambda p: _message(name, raw, p, f"is not {what} ({hint})"),
        )
    ]
    if not column.nullable:
        problems.append(_problem(f"{name}_empty", value.isna() & ~failed, f"{name} is empty"))
    present = value.dropna()
    for check in column.checks:
        ok = check(present).check_output
        bad = np.asarray(~ok.reindex(value.index, fill_value=True), dtype=bool)
        problems.append(
            _problem(
                f"{name}_{check.name}", bad, lambda p, c=check: _message(name, raw, p, c.error)
            )
        )
    return value, [p for p in problems if p is not None]


def _duplicate_problem(
    name: str,
    value: pd.Series,
    bad: np.ndarray,
    source_row: np.ndarray,
    earlier: pd.Series | None = None,
) -> Problem | None:
    """Later rows repeating a key of an earlier *valid* row; the reason names the kept row.
    `earlier` maps keys kept in earlier chunks to their source row: a chunked run finds the
    same duplicates as a whole-table run."""
    good = value[~bad]
    later = good.duplicated(keep="first")
    seen = None
    if earlier is not None and len(earlier):
        seen = good.isin(earlier.index)
        later = later | seen
    if not later.any():
        return None
    keys = good[later].unique()
    candidates = good[good.isin(keys)]
    first_row = (
        pd.Series(source_row[candidates.index], index=candidates.index)
        .groupby(candidates.to_numpy())
        .transform("min")
    )
    if seen is not None and seen.any():
        before = good[seen]
        first_row.loc[before.index] = earlier.reindex(before.to_numpy()).to_numpy()
    positions = later[later].index.to_numpy()
    messages = (
        f"{name} '"
        + good.loc[positions].astype("str")
        + "' duplicates row "
        + first_row.loc[positions].astype("str")
        + " (the first row is kept)"
    ).set_axis(positions)
    return Problem(f"{name}_duplicate", positions, messages)


def _lead_positions(lead_ids: pd.Series, keys: pyarrow_lib.Array) -> np.ndarray:
    """Row of each lead_id in `keys` (the kept leads), -1 if absent. Arrow's hash join: pandas
    isin on 30M strings against 1M keys is 4x slower here."""
    values = pyarrow_lib.array(lead_ids.astype("str"), type=pyarrow_lib.large_string())
    found = pc.index_in(values, value_set=keys)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _lead_problems(
    lead_id: pd.Series, shown: pd.Series, positions_in_leads: np.ndarray, leads: LeadIndex
) -> list[Problem]:
    """Events and stages must belong to a kept lead; say whether it was absent or quarantined,
    since the fixes differ (export the lead, or repair its row)."""
    missing = lead_id.notna().to_numpy() & (positions_in_leads < 0)
    quarantined_ids = leads.quarantined
    was_quarantined = np.zeros(len(lead_id), dtype=bool)
    if missing.any() and len(quarantined_ids):
        subset = np.flatnonzero(missing)
        was_quarantined[subset] = lead_id.iloc[subset].isin(quarantined_ids).to_numpy()
    problems = [
        _problem(
            "lead_id_unknown",
            missing & ~was_quarantined,
            lambda p: _message("lead_id", shown, p, "is not in leads"),
        ),
        _problem(
            "lead_id_quarantined",
            was_quarantined,
            lambda p: _message("lead_id", shown, p, "was quarantined in leads (see its reason)"),
        ),
    ]
    return [p for p in problems if p is not None]


def _vocabulary_warnings(
    typed: pd.DataFrame, schema: pa.DataFrameSchema
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    warnings: dict[str, int] = {}
    examples: dict[str, dict[str, int]] = {}
    for name, column in schema.columns.items():
        vocabulary = (column.metadata or {}).get(VOCABULARY)
        if not vocabulary:
            continue
        values = typed[name].dropna()
        unknown = values[~values.isin(vocabulary)]
        if len(unknown):
            warnings[f"{name}_unknown"] = len(unknown)
            top = unknown.value_counts().head(UNKNOWN_VALUES_COUNTED)
            examples[name] = {str(k): int(v) for k, v in top.items()}
    return warnings, examples


def _reasons(problems: list[Problem], n_rows: int) -> tuple[np.ndarray, pd.Series]:
    """Bad-row mask and one reason per bad row listing all its problems, in rule order."""
    bad = np.zeros(n_rows, dtype=bool)
    for problem in problems:
        bad[problem.positions] = True
    reason = pd.Series("", index=np.flatnonzero(bad), dtype="str")
    for problem in problems:
        before = reason.loc[problem.positions]
        joined = (before + "; " + problem.messages).where(before.ne(""), problem.messages)
        reason.loc[problem.positions] = joined
    return bad, reason


def _raw_as_text(raw: pd.DataFrame) -> pd.DataFrame:
    """Bad rows as read: every column as text (missing stays missing), whatever the input format."""
    return raw.astype("str") if len(raw.columns) else raw


def _bad_byte_problems(bad_bytes: tuple[BadByte, ...], source: str) -> list[Problem]:
    """One problem per field holding bytes that are not UTF-8; each row's message says where."""
    by_field: dict[str, dict[int, list[str]]] = {}
    for bad in bad_bytes:
        rows = by_field.setdefault(bad.field, {})
        rows.setdefault(bad.row, []).append(f"{source} {bad.describe()}")
    problems = []
    for name, rows in by_field.items():
        positions = np.array(sorted(rows), dtype=np.int64)
        messages = pd.Series(["; ".join(rows[p]) for p in positions], index=positions, dtype="str")
        problems.append(Problem(f"{name}_not_utf8", positions, messages))
    return problems


def validate_table(
    raw: pd.DataFrame,
    table: str,
    source: str | None = None,
    leads: TableResult | LeadIndex | None = None,
    *,
    first_row: int = 1,
    earlier: dict[str, pd.Series] | None = None,
    bad_bytes: tuple[BadByte, ...] = (),
) -> TableResult:
    """Triage one raw table (CSV text or typed Parquet), or one chunk of it, against its schema.

    `leads` (the triaged leads) enables the cross-table rule for events and stages: rows must
    belong to a kept lead. For a chunk: `first_row` is the source row of its first row,
    `earlier` maps each unique column to the keys kept in earlier chunks (key -> source row),
    `bad_bytes` are the non-UTF-8 bytes the reader found in it. Raises DataError if a required
    column is missing.
    """
    schema = SCHEMAS[table]
    source = source or table
    raw = raw.rename(columns=lambda c: str(c).strip()).reset_index(drop=True)
    check_required_columns(raw, schema, source)
    n_rows = len(raw)
    source_row = np.arange(first_row, first_row + n_rows, dtype=np.int64)

    typed: dict[str, pd.Series] = {}
    # Bytes first: a cell that was not UTF-8 is reported as such before what it then fails.
    problems: list[Problem] = _bad_byte_problems(bad_bytes, source)
    for name, column in schema.columns.items():
        if name not in raw.columns:
            typed[name] = empty_column(dtype_name(column), raw.index)
            continue
        typed[name], found = _column_problems(name, column, raw[name])
        problems += found

    warnings: dict[str, int] = {}
    if leads is not None and table != "leads":
        index = LeadIndex.of(leads)
        in_leads = _lead_positions(typed["lead_id"], index.keys)
        problems += _lead_problems(typed["lead_id"], raw["lead_id"], in_leads, index)
        warnings |= _before_lead_created(typed["ts"], in_leads, index.created_at)

    bad, _ = _reasons(problems, n_rows)
    for name, column in schema.columns.items():
        if column.unique and name in raw.columns:
            seen = (earlier or {}).get(name)
            duplicate = _duplicate_problem(name, typed[name], bad, source_row, seen)
            problems += [duplicate] if duplicate else []
    bad, reason = _reasons(problems, n_rows)

    kept = pd.DataFrame(typed)[~bad].reset_index(drop=True)
    quarantined = _raw_as_text(raw[bad]).assign(
        source_row=source_row[bad], reason=pd.array(reason.to_numpy(), dtype="str")
    )
    quarantined = quarantined.reset_index(drop=True)
    vocabulary_warnings, unknown_values = _vocabulary_warnings(kept, schema)
    warnings |= vocabulary_warnings
    ensure_contract(kept, schema)
    assert len(kept) + len(quarantined) == n_rows, "every row is either kept or quarantined"
    return TableResult(
        table=table,
        kept=kept,
        quarantined=quarantined,
        reasons=_count_kinds(problems),
        warnings=warnings,
        unknown_values=unknown_values,
        ignored_columns=tuple(c for c in raw.columns if c not in schema.columns),
        missing_optional_columns=tuple(c for c in schema.columns if c not in raw.columns),
    )


def _before_lead_created(
    ts: pd.Series, in_leads: np.ndarray, created_at: np.ndarray
) -> dict[str, int]:
    """Count activity dated before its lead was created: kept (cookies predate the form fill)."""
    known = in_leads >= 0
    created = created_at[in_leads[known]]
    when = ts.to_numpy(dtype="datetime64[us]")[known]
    n_before = int(np.count_nonzero(when < created))
    return {"ts_before_lead_created_at": n_before} if n_before else {}


def _count_kinds(problems: list[Problem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.kind] = counts.get(problem.kind, 0) + len(problem.positions)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def validate_leads(raw: pd.DataFrame, source: str | None = None) -> TableResult:
    return validate_table(raw, "leads", source)


def validate_events(
    raw: pd.DataFrame, leads: TableResult, source: str | None = None
) -> TableResult:
    return validate_table(raw, "events", source, leads=leads)


def validate_stages(
    raw: pd.DataFrame, leads: TableResult, source: str | None = None
) -> TableResult:
    return validate_table(raw, "stages", source, leads=leads)


class TableTriage:
    """Triage a table chunk by chunk with `validate_table`'s rules, giving what one call on the
    whole table gives: rows numbered as in the file, duplicates of keys kept in earlier chunks
    found, counts summed. Memory: one chunk plus the unique keys kept so far."""

    def __init__(
        self, table: str, source: str | None = None, leads: TableResult | LeadIndex | None = None
    ) -> None:
        self.table = table
        self.source = source or table
        self.leads = LeadIndex.of(leads) if leads is not None else None
        self.unique = [n for n, c in SCHEMAS[table].columns.items() if c.unique]
        # Unique column -> kept key -> its source row, over the chunks triaged so far.
        self.earlier: dict[str, pd.Series] = {}
        self.parts: list[dict[str, Any]] = []
        # For leads: what events and stages are checked against (ids and times, no firmographics).
        self._kept_keys: list[pd.DataFrame] = []
        self._quarantined_ids: list[pd.Series] = []

    def add(self, chunk: TableChunk) -> TableResult:
        """Triage one chunk (in file order); returns its kept rows and quarantine to write."""
        result = validate_table(
            chunk.frame,
            self.table,
            self.source,
            self.leads,
            first_row=chunk.first_row,
            earlier=self.earlier,
            bad_bytes=chunk.bad_bytes,
        )
        if self.unique:
            rows = np.arange(chunk.first_row, chunk.first_row + len(chunk.frame), dtype=np.int64)
            kept_rows = np.setdiff1d(rows, result.quarantined["source_row"].to_numpy())
            for name in self.unique:
                keys = pd.Series(kept_rows, index=result.kept[name].to_numpy())
                known = self.earlier.get(name)
                self.earlier[name] = keys if known is None else pd.concat([known, keys])
        if self.table == "leads":
            self._kept_keys.append(result.kept[["lead_id", "created_at"]])
            self._quarantined_ids.append(result.quarantined.get("lead_id", pd.Series(dtype="str")))
        self.parts.append(result.summary(top=None))
        return result

    def summary(self, top: int | None = TOP_UNKNOWN_VALUES) -> dict[str, Any]:
        return merge_summaries(self.parts, top=top)

    def lead_index(self) -> LeadIndex:
        """After the last leads chunk: the index events and stages are checked against."""
        if self.table != "leads":
            raise ValueError("lead_index() is for the leads table")
        kept = pd.concat(self._kept_keys, ignore_index=True)
        quarantined = pd.concat(self._quarantined_ids, ignore_index=True)
        return LeadIndex.build(kept["lead_id"], kept["created_at"], quarantined)
