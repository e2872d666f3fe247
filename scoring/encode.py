"""Feature values -> the model's float64 rows, in training order.

One `Encoder` per model, built once with the category code tables, so encoding one lead is a dict
look-up per category and one `np.array` for the numbers; a batch fills one column per feature.
The result equals LeadModel.encode_row (a test pins it).
"""

from __future__ import annotations

import array
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scoring.errors import InputError, error_item

# Feature-row values that mean "unknown" for a numeric feature, as in LeadModel.encode_row.
_EMPTY = ("", None)

STR_OR_NONE = frozenset({str, type(None)})
NONE_ONLY = frozenset({type(None)})


def _bad_number(value: Any) -> bool:
    """True when a numeric feature value cannot be read as a number (encode_row would refuse)."""
    if value is None or isinstance(value, int | float):  # bool is an int
        return False
    if isinstance(value, str):
        if value == "":
            return False
        try:
            float(value)
        except ValueError:
            return True
        return False
    return True


def floats(values: Sequence[Any]) -> np.ndarray:
    """A list of JSON numbers (null -> NaN, numeric strings and booleans as numpy reads them) as
    float64. `array.array` reads a list of plain numbers in one C loop, about 1.5x numpy's
    generic conversion, and still 1.5x with the nulls swapped for NaN first (the usual reason a
    numeric column reaches here as a list: simdjson gave the plain ones as float64 already); a
    list holding anything else goes through numpy, which decides."""
    try:
        return np.frombuffer(array.array("d", values), dtype=np.float64)
    except TypeError:
        pass
    try:
        nan = math.nan
        return np.frombuffer(
            array.array("d", [nan if v is None else v for v in values]), dtype=np.float64
        )
    except TypeError:
        return np.asarray(values, dtype=np.float64)


class Encoder:
    """Encodes feature rows and columns for one model; immutable once built."""

    def __init__(self, model: Any) -> None:
        from foundation.categories import category_key

        self.model = model
        self.feature_names: tuple[str, ...] = tuple(model.feature_names)
        self.categorical: frozenset[str] = frozenset(model.categorical)
        self.numeric: tuple[str, ...] = tuple(
            f for f in self.feature_names if f not in self.categorical
        )
        self.numeric_names: frozenset[str] = frozenset(self.numeric)
        self.category_key = category_key
        self._codes: dict[str, dict[str, float]] = {
            c: {v: float(i) for i, v in enumerate(model.categories[c])} for c in model.categorical
        }
        self._numeric_index = np.array(
            [j for j, f in enumerate(self.feature_names) if f not in self.categorical],
            dtype=np.intp,
        )
        self._category_plan = [
            (j, f, self._codes[f]) for j, f in enumerate(self.feature_names) if f in self._codes
        ]

    def check_row(self, row: Mapping[str, Any], loc: Sequence[str | int]) -> None:
        """422 naming every numeric feature whose value is not a number."""
        bad = [n for n in self.numeric if _bad_number(row.get(n))]
        if bad:
            raise InputError(
                [
                    error_item((*loc, n), "Input should be a valid number", "float_parsing")
                    for n in bad
                ]
            )

    def encode_row(self, values: Mapping[str, Any]) -> np.ndarray:
        """One row as (1, n_features) float64, equal to LeadModel.encode_row (a test pins it).

        The numeric features go through one `np.array(..., dtype=float64)` (None -> NaN) instead
        of a Python loop of `float()` calls: about 4x faster for ~120 features. Anything numpy
        refuses (an empty string, a word) falls back to LeadModel.encode_row, which decides.
        """
        try:
            numbers = np.array(list(map(values.get, self.numeric)), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return self.model.encode_row(values)
        x = np.empty((1, len(self.feature_names)), dtype=np.float64)
        x[0, self._numeric_index] = numbers
        key, nan = self.category_key, math.nan
        for j, name, codes in self._category_plan:
            v = values.get(name)
            if type(v) is str:
                x[0, j] = codes.get(v, nan)
            else:
                k = key(v)
                x[0, j] = nan if k is None else codes.get(k, nan)
        return x

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any]], n: int
    ) -> tuple[np.ndarray, dict[int, list[str]]]:
        """Columnar feature values -> (n, n_features) float64 in training order, plus bad cells.

        Numeric columns go through one `np.asarray` (None -> NaN), or come as float64 arrays
        already (`serve.column_json`); a column that refuses falls back to cell by cell so a bad
        value fails only its own lead. Categories use the same key
        function and code tables as LeadModel.encode_row (a test pins equality).
        """
        # Filled one feature at a time, so one row per feature (contiguous writes); the matrix
        # is its transpose, a view: whoever needs C order (compiled trees) copies once.
        XT = np.full((len(self.feature_names), n), np.nan, dtype=np.float64)
        bad: dict[int, list[str]] = {}
        key = self.category_key
        for j, name in enumerate(self.feature_names):
            col = columns.get(name)
            if col is None:
                continue
            if type(col) is np.ndarray:  # numbers only, read by the fast JSON path
                XT[j] = col
                continue
            if name in self._codes:
                codes = self._codes[name]
                nan = math.nan
                types = set(map(type, col))
                if types == NONE_ONLY:  # unknown for every lead (common: NaN already)
                    continue
                if types <= STR_OR_NONE:
                    # Text and nulls only (the usual column): C-level look-ups, unknown and null
                    # -> None -> NaN. About 10x the comprehension below on 1000 cells.
                    XT[j] = np.array(list(map(codes.get, col)), dtype=np.float64)
                    continue
                # Strings are their own key: skip the call for the common case (1000s of cells).
                XT[j] = [
                    codes.get(v, nan)
                    if type(v) is str
                    else (nan if (k := key(v)) is None else codes.get(k, nan))
                    for v in col
                ]
                continue
            if col and col[0] is None and col.count(None) == n:  # unknown for every lead
                continue
            try:
                XT[j] = floats(col)
            except (TypeError, ValueError, OverflowError):
                for i, v in enumerate(col):
                    if _bad_number(v):
                        bad.setdefault(i, []).append(name)
                    elif v not in _EMPTY:
                        XT[j, i] = float(v)
        return XT.T, bad
