"""Batch scoring of a table (`leadscore score`): the service's scorer over a whole file.

Three inputs, told apart by their columns:
- a flat CRM export for a model trained by `leadscore train-table` (the model carries the column
  types it was trained with, `metadata["table_spec"]`, and converts new rows the same way);
- ready feature rows (every feature the model uses is a column), e.g. a training table;
- a leads table (lead_id, created_at, firmographics), with an optional events table: features
  are built by `features.build.build_features` as of `as_of`, the code training used.

Scoring goes through `Scorer.score_matrix`, the method behind the HTTP batch route, so a lead
gets the same probability, tier and decision from the file as from the service.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foundation.errors import DataError
from scoring.context import ScoringContext, build_context
from scoring.scorer import Scorer

RESULT_COLUMNS = (
    "lead_id",
    "probability",
    "score",
    "tier",
    "fit_grade",
    "engagement_grade",
    "decision",
    "rule",
    "follow_up_by",
    "persona",
    "expected_value_eur",
    "as_of",
)
REASON_COLUMNS = ("reasons_for", "reasons_against")
LEAD_COLUMNS = ("lead_id", "created_at")


@dataclass(frozen=True)
class Prepared:
    """Feature values (one row per lead to score), their ids, and what the input was."""

    features: pd.DataFrame
    lead_ids: list[str | None]
    kind: str  # "table", "features" or "leads"
    skipped: int = 0  # leads created after as_of (nothing to score yet)


def is_table_model(model: Any) -> bool:
    return (getattr(model, "metadata", None) or {}).get("source") == "table"


def scoring_context(
    model: Any,
    params_path: Path,
    personas_path: Path,
    sla_path: Path | None,
    threshold: float | None,
    threshold_path: Path | None,
) -> ScoringContext:
    """The context for a file: a flat-table model scores only (its columns are not the
    pipeline's features, so persona fit and the agreement's rules do not apply to it)."""
    if is_table_model(model):
        return build_context(None, None, None)
    from scoring.context import feature_inputs
    from sla.agreement import load_agreement

    feature_params, personas = feature_inputs(model, params_path, personas_path)
    agreement = (
        load_agreement(sla_path) if sla_path is not None and Path(sla_path).exists() else None
    )
    return build_context(feature_params, personas, agreement, threshold, threshold_path)


def _ids(df: pd.DataFrame, column: str | None) -> list[str | None]:
    if column is None or column not in df.columns:
        return [None] * len(df)
    values = df[column].astype(object)
    return [None if pd.isna(v) else str(v) for v in values]


def prepare(
    df: pd.DataFrame,
    scorer: Scorer,
    events: pd.DataFrame | None,
    as_of: datetime,
    source: str = "input",
    stages: pd.DataFrame | None = None,
) -> Prepared:
    """Turn an input table into feature rows for `scorer`'s model (see the module docstring).
    `stages` (lead_id, stage, ts) feeds the funnel-state features; None: no funnel rows."""
    model = scorer.model
    if is_table_model(model):
        from features.table_mapping import TableSpec, features_for_scoring

        meta = model.metadata
        spec = TableSpec.from_dict(meta["table_spec"])
        features = features_for_scoring(df, spec, source)
        return Prepared(features, _ids(df, meta.get("id_column") or spec.id), "table")
    missing = [c for c in scorer.feature_names if c not in df.columns]
    if not missing:
        return Prepared(df, _ids(df, "lead_id"), "features")
    if all(c in df.columns for c in LEAD_COLUMNS):
        if scorer.context.personas is None or scorer.context.feature_params is None:
            raise DataError(f"{source}: scoring a leads table needs personas.yaml (--personas)")
        from features.build import build_features

        events = (
            events if events is not None else pd.DataFrame(columns=["lead_id", "ts", "event_type"])
        )
        features = build_features(
            df, events, stages, as_of, scorer.context.personas, scorer.context.feature_params
        )
        return Prepared(
            features, _ids(features, "lead_id"), "leads", skipped=len(df) - len(features)
        )
    shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
    raise DataError(
        f"{source}: neither feature rows (missing {len(missing)} feature column(s): {shown}) nor "
        "a leads table (needs lead_id and created_at, plus --events for behaviour)"
    )


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def score_prepared(
    scorer: Scorer,
    prepared: Prepared,
    as_of: datetime,
    explain: bool = False,
    chunk_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score every row; `progress(n)` is called after each chunk of n rows."""
    frame = prepared.features
    wanted = (*scorer.feature_names, *scorer.rule_fields, "unsubscribed")
    columns = [
        c
        for c in dict.fromkeys(wanted if explain else (*scorer.rule_fields, "unsubscribed"))
        if c in frame.columns
    ]
    parts: list[pd.DataFrame] = []
    for part in chunks(len(frame), chunk_size):
        piece = frame.iloc[part]
        X = scorer.model.encode(piece)
        rows = piece[columns].astype(object).to_dict("records") if columns else [{}] * len(piece)
        rows = [{k: (None if _missing(v) else v) for k, v in r.items()} for r in rows]
        results = scorer.score_matrix(
            X, rows, [as_of] * len(piece), prepared.lead_ids[part], explain
        )
        parts.append(results_frame(results, explain))
        if progress is not None:
            progress(len(piece))
    if not parts:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def results_frame(results: list[dict[str, Any]], explain: bool) -> pd.DataFrame:
    """Result dicts as a table; reasons as JSON text (one cell per lead)."""
    out = pd.DataFrame({c: [r.get(c) for r in results] for c in RESULT_COLUMNS})
    for c in ("follow_up_by", "as_of"):
        out[c] = pd.to_datetime(out[c], utc=True)
    if explain:
        for c in REASON_COLUMNS:
            out[c] = [json.dumps(r.get(c), default=str) for r in results]
    return out
