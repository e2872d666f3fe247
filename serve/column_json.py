"""A columnar batch body read straight into float64 columns, when a fast parser can.

Why: orjson builds one Python float per cell (1000 leads x 119 features), and the scorer then
copies those floats into the float64 matrix: together about two thirds of a columnar batch's
CPU. simdjson (pysimdjson, the `serve` extra) parses the text into its own tape and hands a
column of plain numbers over as one float64 buffer, no Python object per cell
(`benchmarks/batch_steps_bench.py` prints both ways).

Only what cannot differ from `standard_json` takes this path: a JSON object with `columns` and no
`leads`, without duplicate keys at the top or among the columns (orjson keeps the last, simdjson
the first) and without arrays inside the columns (or a `[` inside a string: the check is a
count). A numeric feature column of numbers only (no null, string or boolean: those keep
their per-cell treatment) becomes an array; every other value comes out as orjson would give it.
Anything simdjson refuses (bad JSON, an integer beyond 64 bits, a missing parser) returns None
and the route falls back to `standard_json`, which decides and words the error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Set
from typing import Any

import numpy as np

log = logging.getLogger("leadscore.serve")

try:
    import simdjson
except ImportError:  # the `serve` extra is not installed: every body goes through orjson
    simdjson = None

UTF8_BOM = b"\xef\xbb\xbf"


_local = threading.local()


def _parser() -> Any:
    """This thread's parser: it keeps its buffers between bodies (a new one per body paid for
    fresh pages on every request). Nothing returned refers to it, so it is free to reuse."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


def _parse(body: bytes) -> Any:
    try:
        return _parser().parse(body)
    except RuntimeError:  # still referenced (or a number simdjson refuses): once more, afresh
        _local.parser = simdjson.Parser()
        return _local.parser.parse(body)


def plain(value: Any) -> Any:
    """A simdjson value as the Python value orjson would give (dicts, lists, scalars)."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _unique(keys: list[str]) -> bool:
    return len(keys) == len(set(keys))


def numeric_column(column: Any) -> np.ndarray | list[Any]:
    """One float64 array when every cell is a JSON number, else the cells as Python values."""
    try:
        return np.frombuffer(column.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        return column.as_list()


def read_columnar(body: bytes, numeric: Set[str]) -> dict[str, Any] | None:
    """The decoded columnar body with the `numeric` feature columns as float64 arrays, or None
    when this body is not one the fast path may read (the caller then uses `standard_json`)."""
    if simdjson is None or body.startswith(UTF8_BOM):  # orjson refuses a BOM, simdjson skips it
        return None
    try:
        doc = _parse(body)
        if not isinstance(doc, simdjson.Object):
            return None
        keys = list(doc.keys())
        if "columns" not in keys or "leads" in keys or not _unique(keys):
            return None
        top = {key: doc[key] for key in keys}  # each looked up once (a lookup scans the keys)
        columns = top.pop("columns")
        if not isinstance(columns, simdjson.Object):
            return None
        names = list(columns.keys())
        if not _unique(names):
            return None
        cells = {name: columns[name] for name in names}
        # `as_buffer` flattens nested arrays ([1, [2]] reads as 1, 2): only a body whose every
        # `[` opens a top-level value or a column may take the fast path.
        arrays = sum(isinstance(v, simdjson.Array) for v in (*top.values(), *cells.values()))
        if body.count(b"[") != arrays:
            return None
        data: dict[str, Any] = {key: plain(value) for key, value in top.items()}
        data["columns"] = {
            name: numeric_column(column)
            if name in numeric and isinstance(column, simdjson.Array)
            else plain(column)
            for name, column in cells.items()
        }
        return data
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:  # let orjson decide and word it
        log.debug("columnar body left to orjson: %s", exc)
        return None
