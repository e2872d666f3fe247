"""Cells as read (text) to typed columns, each parser returning the values and a mask of the cells
it could not read, so the triage can name every failing row instead of raising on the first.

Timestamps are ISO 8601 and a naive one means UTC; numbers are plain decimals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schemas import TIMESTAMP, TIMESTAMP_HINT

# --- parsing: raw column (text from CSV, or typed from Parquet) -> typed column + failures ---


def as_text(values: pd.Series) -> pd.Series:
    """Trimmed `str` column, empty strings as missing; Parquet ints or categories become text."""
    text = values.astype("str").str.strip()
    return text.mask(text.eq(""))


def no_failures(values: pd.Series) -> pd.Series:
    return pd.Series(False, index=values.index)


def parse_timestamp(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps; naive ones are taken as UTC. Returns (parsed, failed-to-parse mask)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIMESTAMP), no_failures(values)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype(TIMESTAMP), no_failures(values)
    text = as_text(values)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601").astype(TIMESTAMP)
    return parsed, parsed.isna() & text.notna()


def _parse_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        number = values.astype("float64")
        present = values.notna()
    else:
        text = as_text(values)
        number = pd.to_numeric(text, errors="coerce").astype("float64")
        present = text.notna()
    finite = pd.Series(
        np.isfinite(number.to_numpy(dtype="float64", na_value=np.nan)), index=number.index
    )
    return number.where(finite), present & ~finite


def parse_float(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """float64 amounts; text that is not a finite number fails."""
    return _parse_number(values)


def parse_integer(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Int64 counts; '12.0' is 12, '12.5', '1e30' or 'many' fail. Sign is a value rule, not here."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64"), no_failures(values)
    number, failed = _parse_number(values)
    whole = (number % 1 == 0) & (number.abs() < 2**53)
    failed = failed | (number.notna() & ~whole)
    return number.where(whole).astype("Int64"), failed


PARSERS = {
    TIMESTAMP: (parse_timestamp, "timestamp", "a timestamp", TIMESTAMP_HINT),
    "Int64": (parse_integer, "integer", "an integer", "expected a whole number >= 0"),
    "float64": (parse_float, "number", "a number", "expected a plain number like 1234.5"),
}


def empty_column(dtype: str, index: pd.Index) -> pd.Series:
    if dtype == TIMESTAMP:
        return pd.Series(pd.NaT, index=index, dtype=TIMESTAMP)
    return pd.Series(pd.NA if dtype == "Int64" else None, index=index, dtype=dtype)
