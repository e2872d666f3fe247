"""A flat CRM export (one row per lead, activity already summed up, a converted flag) described by
a mapping file, validated against the data, and turned into typed model features.

The mapping is the user's statement of what each column means; the data is checked against it
before any training, so a typo or a wrong `positive` value is an error naming the column instead
of a model trained on nothing. Columns the mapping does not type are inferred (boolean, numeric,
categorical) and the resolved types are stored with the model (`TableSpec`), so scoring new leads
applies exactly the same conversion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from foundation.categories import category_key
from foundation.errors import ConfigError, DataError, InsufficientDataError
from foundation.io import read_yaml
from foundation.params import (
    CandidateParams,
    LeakageParams,
    TrainParams,
    format_validation_error,
)

TRUE_WORDS = frozenset({"yes", "y", "true", "t"})
FALSE_WORDS = frozenset({"no", "n", "false", "f"})
# An inferred text column with more distinct values than this share of rows is an identifier or
# free text (names, emails, notes), not a category: it is dropped, with the reason reported.
MAX_DISTINCT_SHARE = 0.5
MAX_LISTED_COLUMNS = 12  # columns shown in a "not found" message before "..."

Kind = Literal["numeric", "boolean", "categorical"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvaluationParams(_Section):
    folds: int = Field(5, ge=2)
    # Share of each training fold held out (latest by time, else stratified at random) for early
    # stopping and calibration, so the fold's test rows never steer the model.
    inner_valid_fraction: float = Field(0.2, gt=0.0, lt=1.0)


class TableMapping(_Section):
    """What each column of a lead table means (see configs/x_education.yaml for an example)."""

    label: str
    positive: tuple[str | int | float | bool, ...] = Field(min_length=1)
    id: str | None = None
    time: str | None = None
    channel: str | None = None
    persona: str | None = None
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    # Columns not listed above: infer their type from the data (false: use only the listed ones).
    infer: bool = True
    exclude: tuple[str, ...] = ()
    na_values: tuple[str, ...] = ()
    model_name: str | None = None
    experiment: str = "leadscore-table"
    leakage: LeakageParams = LeakageParams()
    evaluation: EvaluationParams = EvaluationParams()
    train: TrainParams = TrainParams()
    candidates: CandidateParams = CandidateParams()

    @model_validator(mode="after")
    def _one_role_per_column(self) -> TableMapping:
        roles: dict[str, list[str]] = {}
        for role in ("label", "id", "time"):
            name = getattr(self, role)
            if name is not None:
                roles.setdefault(name, []).append(role)
        for role in ("numeric", "categorical", "boolean", "exclude"):
            for name in getattr(self, role):
                roles.setdefault(name, []).append(role)
        clashes = {name: r for name, r in roles.items() if len(r) > 1}
        if clashes:
            detail = "; ".join(f"{name!r} is in {' and '.join(r)}" for name, r in clashes.items())
            raise ValueError(f"a column can have one role only: {detail}")
        for role in ("channel", "persona"):
            name = getattr(self, role)
            if name is not None and name in (*self.exclude, self.label, self.id, self.time):
                raise ValueError(f"{role} column {name!r} is also the label, id, time or excluded")
        return self

    def named_columns(self) -> dict[str, str]:
        """Every column the mapping names -> the role it names it in (for existence checks)."""
        out: dict[str, str] = {}
        for role in ("label", "id", "time", "channel", "persona"):
            name = getattr(self, role)
            if name is not None:
                out.setdefault(name, role)
        for role in ("numeric", "categorical", "boolean", "exclude"):
            for name in getattr(self, role):
                out.setdefault(name, role)
        for name in self.leakage.reviewed:
            out.setdefault(name, "leakage.reviewed")
        return out


def load_mapping(path: Path) -> TableMapping:
    """Read and validate a mapping file; every problem names its key."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (label:, positive:, ...)")
    try:
        return TableMapping.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc


@dataclass(frozen=True)
class TableSpec:
    """The resolved feature types of a table: stored with the model so scoring converts new rows
    exactly as training did. Plain data (JSON-able) on purpose."""

    numeric: tuple[str, ...]
    boolean: tuple[str, ...]
    categorical: tuple[str, ...]
    na_values: tuple[str, ...] = ()
    id: str | None = None

    @property
    def model_numeric(self) -> tuple[str, ...]:
        """Columns the model treats as numbers: numerics, then booleans as 0/1."""
        return self.numeric + self.boolean

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSpec:
        return cls(
            numeric=tuple(data["numeric"]),
            boolean=tuple(data["boolean"]),
            categorical=tuple(data["categorical"]),
            na_values=tuple(data.get("na_values", ())),
            id=data.get("id"),
        )


@dataclass(frozen=True)
class PreparedTable:
    """A validated table: `frame` has the id (if any), `label` as 0/1, the time (if any) and the
    typed features; `dropped` says why each unused column was left out."""

    frame: pd.DataFrame
    label: str
    spec: TableSpec
    time: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        return self.frame[self.label].to_numpy(dtype=np.int64)


def _suggest(name: str, columns: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(columns), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_columns(df: pd.DataFrame, mapping: TableMapping, source: str) -> None:
    """Every column the mapping names exists; one error lists all that do not."""
    missing = [(n, r) for n, r in mapping.named_columns().items() if n not in df.columns]
    if not missing:
        return
    shown = list(df.columns[:MAX_LISTED_COLUMNS]) + (
        ["..."] if len(df.columns) > MAX_LISTED_COLUMNS else []
    )
    lines = [
        f"  {role}: column {name!r} is not in the table{_suggest(name, df.columns)}"
        for name, role in missing
    ]
    raise ConfigError(
        f"{source}: the mapping names column(s) the table does not have:\n"
        + "\n".join(lines)
        + f"\n  the table's columns: {shown}"
    )


def apply_na_values(df: pd.DataFrame, na_values: Iterable[str]) -> pd.DataFrame:
    """Values that mean "not filled in" (a form default like "Select") become missing."""
    words = {str(v).strip() for v in na_values}
    if not words:
        return df
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            out[col] = series.where(~series.astype("string").str.strip().isin(words), None)
    return out


def _first_row(mask: pd.Series) -> int:
    """1-based data row number of the first True (the row a user finds in the file)."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def label_values(series: pd.Series, positive: Iterable[Any], source: str) -> np.ndarray:
    """The label as 0/1: 1 where the value is one of `positive` (1, "1" and 1.0 are the same)."""
    name = series.name
    if series.isna().any():
        raise DataError(
            f"{source}: label column {name!r} is empty in {int(series.isna().sum())} row(s) "
            f"(first: data row {_first_row(series.isna())}); remove them or fill them in"
        )
    wanted = {category_key(v) for v in positive}
    keys = series.map(category_key)
    y = keys.isin(wanted).to_numpy(dtype=np.int64)
    positives = int(y.sum())
    if positives in (0, len(y)):
        seen = sorted(keys.unique().tolist())[:MAX_LISTED_COLUMNS]
        which = "no row is" if positives == 0 else "every row is"
        raise InsufficientDataError(
            f"{source}: label column {name!r} has a single class: {which} positive "
            f"(positive: {sorted(wanted)}; values seen: {seen}). Check `positive` in the mapping."
        )
    return y


def infer_kind(series: pd.Series) -> Kind:
    """Boolean if every value is a yes/no word, numeric if every value parses, else categorical."""
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    words = set(values.astype(str).str.strip().str.lower().unique())
    if words and words <= (TRUE_WORDS | FALSE_WORDS):
        return "boolean"
    if len(values) and pd.to_numeric(values, errors="coerce").notna().all():
        return "numeric"
    return "categorical"


def to_numeric(series: pd.Series, source: str) -> pd.Series:
    converted = pd.to_numeric(series, errors="coerce").astype("float64")
    bad = converted.isna() & series.notna()
    if bad.any():
        raise DataError(
            f"{source}: column {series.name!r} is numeric but data row {_first_row(bad)} holds "
            f"{series[bad].iloc[0]!r}; add it to `na_values` or type the column `categorical`"
        )
    return converted


def to_boolean(series: pd.Series, source: str) -> pd.Series:
    """yes/true/1 -> 1.0, no/false/0 -> 0.0 (any case), missing -> NaN."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64")
    else:
        words = series.astype("string").str.strip().str.lower()
        values = pd.Series(np.nan, index=series.index, dtype="float64")
        values[words.isin(TRUE_WORDS | {"1"})] = 1.0
        values[words.isin(FALSE_WORDS | {"0"})] = 0.0
    bad = values.isna() & series.notna() | ~values.isin([0.0, 1.0]) & values.notna()
    if bad.any():
        raise DataError(
            f"{source}: column {series.name!r} is boolean but data row {_first_row(bad)} holds "
            f"{series[bad].iloc[0]!r} (expected yes/no, true/false or 1/0)"
        )
    return values


def to_categorical(series: pd.Series) -> pd.Series:
    """Text with NaN for missing: what LeadModel and the logistic baseline expect."""
    return series.map(category_key).astype("str")


def convert(df: pd.DataFrame, spec: TableSpec, source: str) -> pd.DataFrame:
    """The features of `df` typed per `spec`, in spec order (numeric, boolean, categorical)."""
    columns: dict[str, pd.Series] = {}
    for col in spec.numeric:
        columns[col] = to_numeric(df[col], source)
    for col in spec.boolean:
        columns[col] = to_boolean(df[col], source)
    for col in spec.categorical:
        columns[col] = to_categorical(df[col])
    return pd.DataFrame(columns, index=df.index)


def resolve_features(
    df: pd.DataFrame, mapping: TableMapping
) -> tuple[dict[str, Kind], dict[str, str]]:
    """Feature column -> kind (listed, else inferred), and dropped column -> why."""
    roles = {mapping.label, mapping.id, mapping.time, *mapping.exclude} - {None}
    listed: dict[str, Kind] = {c: "numeric" for c in mapping.numeric}
    listed |= {c: "boolean" for c in mapping.boolean}
    listed |= {c: "categorical" for c in mapping.categorical}
    kinds: dict[str, Kind] = {}
    dropped: dict[str, str] = {c: "excluded by the mapping" for c in mapping.exclude}
    for col in df.columns:
        if col in roles:
            continue
        if col not in listed and not mapping.infer:
            dropped[col] = "not listed (infer: false)"
            continue
        values = df[col].dropna()
        distinct = values.astype(str).nunique()
        if distinct == 0:
            dropped[col] = "empty"
            continue
        # One value and some blanks still says something (filled in or not); one value always
        # says nothing.
        if distinct == 1 and len(values) == len(df):
            dropped[col] = f"constant (always {values.iloc[0]!r})"
            continue
        kind = listed.get(col) or infer_kind(df[col])
        if col not in listed and kind == "categorical" and distinct > MAX_DISTINCT_SHARE * len(df):
            dropped[col] = f"looks like an identifier or free text ({distinct} distinct values)"
            continue
        kinds[col] = kind
    return kinds, dropped


def prepare_table(df: pd.DataFrame, mapping: TableMapping, source: str = "table") -> PreparedTable:
    """Validate `df` against `mapping` and return typed features, 0/1 label, id and time."""
    check_columns(df, mapping, source)
    df = apply_na_values(df, mapping.na_values)
    y = label_values(df[mapping.label], mapping.positive, source)

    if mapping.id is not None:
        ids = df[mapping.id]
        dupes = ids[ids.duplicated(keep=False) & ids.notna()]
        if ids.isna().any() or len(dupes):
            problem = f"{len(dupes)} duplicated" if len(dupes) else "empty"
            raise DataError(
                f"{source}: id column {mapping.id!r} must be unique and filled; {problem} "
                f"(e.g. {(dupes.iloc[0] if len(dupes) else None)!r})"
            )

    kinds, dropped = resolve_features(df, mapping)
    if not kinds:
        reasons = "; ".join(f"{c}: {why}" for c, why in dropped.items()) or "no other columns"
        raise ConfigError(
            f"{source}: no usable feature column: every column is the label, id or time, "
            f"excluded, constant or empty ({reasons})"
        )
    spec = TableSpec(
        numeric=tuple(c for c, k in kinds.items() if k == "numeric"),
        boolean=tuple(c for c, k in kinds.items() if k == "boolean"),
        categorical=tuple(c for c, k in kinds.items() if k == "categorical"),
        na_values=tuple(str(v) for v in mapping.na_values),
        id=mapping.id,
    )
    frame = convert(df, spec, source)
    frame.insert(0, mapping.label, y)
    if mapping.time is not None:
        times = pd.to_datetime(df[mapping.time], utc=True, errors="coerce", format="mixed")
        bad = times.isna()
        if bad.any():
            raise DataError(
                f"{source}: time column {mapping.time!r}: data row {_first_row(bad)} holds "
                f"{df[mapping.time][bad].iloc[0]!r}, not a date (expected ISO 8601)"
            )
        frame.insert(0, mapping.time, times)
    if mapping.id is not None:
        frame.insert(0, mapping.id, df[mapping.id].astype("str"))
    return PreparedTable(frame, mapping.label, spec, mapping.time, dropped)


def features_for_scoring(df: pd.DataFrame, spec: TableSpec, source: str = "table") -> pd.DataFrame:
    """New leads (same export format, no label needed) -> the model's input columns, typed as in
    training. Use with a LeadModel whose `metadata["table_spec"]` holds `spec.as_dict()`."""
    needed = [*spec.model_numeric, *spec.categorical]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) the model uses: {missing}")
    return convert(apply_na_values(df, spec.na_values), spec, source)
