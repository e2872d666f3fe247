"""DVC stage `drift` (and part of `leadscore daily`): have today's open leads moved away from
what the champion was trained on?

Reads the champion's frozen reference profile (saved with the model at training), scores the
leads open at the end of the data (or `as_of`) with the same code the SLA report uses, and
compares them bin by bin (PSI): the score, every feature, and each channel x persona cell big
enough to mean something. Writes artifacts/drift/drift.json (DVC metrics: a few numbers) and
report.json (everything, worst first), and logs the numbers to the champion's MLflow run as a
time series (step = the day). Drift never blocks anything by itself: it warns and names.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from features.persona import load_personas
from features.snapshots import observed_until
from foundation.errors import DataError
from foundation.io import find_table, read_table, write_json
from foundation.params import Params
from models.drift import (
    REFERENCE_PROFILE,
    DriftThresholds,
    cell_drift,
    population_drift,
    scored_population,
)
from pipeline.sla_data import personas_path
from pipeline.sla_report import scored_open_leads

DRIFT_DIR = "drift"


def drift_dir(params: Params) -> Path:
    return Path(params.paths.artifacts) / DRIFT_DIR


def thresholds(params: Params) -> DriftThresholds:
    return DriftThresholds(params.drift.warn_psi, params.drift.alert_psi, params.drift.epsilon)


def drift_of_scored(
    profile: dict[str, Any], scored: pd.DataFrame, params: Params
) -> dict[str, Any]:
    """Overall and per-cell drift of scored open leads (features + `probability`), on the
    population the reference describes (open, never disqualified)."""
    scored = scored[scored_population(scored)]
    limits = thresholds(params)
    probability = scored["probability"].to_numpy(dtype=float)
    overall = population_drift(profile, scored, probability, limits)
    cells = cell_drift(profile, scored, probability, params.drift.min_cell_rows, limits)
    return {**overall, "cells": cells}


def metrics_of(report: dict[str, Any]) -> dict[str, float]:
    features = report["features"]
    return {
        "score_psi": report["score"]["psi"],
        "max_feature_psi": max((f["psi"] for f in features), default=0.0),
        "features_warn": sum(f["level"] == "warn" for f in features),
        "features_alert": sum(f["level"] == "alert" for f in features),
        "cells_alert": sum(c["score_level"] == "alert" for c in report["cells"]),
        "open_leads": report["rows"],
        "calibration_bands_outside": len(
            (report.get("realised_calibration") or {}).get("bands_outside", [])
        ),
    }


def summary_lines(report: dict[str, Any], limit: int = 5) -> list[str]:
    score = report["score"]
    lines = [
        f"drift: {report['rows']:,} open leads as of {report['as_of'][:10]} vs the reference of "
        f"model v{report['model_version']}: score PSI {score['psi']:.3f} ({score['level']})"
    ]
    for row in report["warnings"][:limit]:
        grew = ", ".join(
            f"{m['bin']} {m['reference_share']:.0%} -> {m['current_share']:.0%}"
            for m in row["moved"]
        )
        lines.append(f"  {row['level']:>5}: {row['feature']} PSI {row['psi']:.3f} ({grew})")
    if len(report["warnings"]) > limit:
        lines.append(f"  ... and {len(report['warnings']) - limit} more in report.json")
    realised = report.get("realised_calibration") or {}
    if realised.get("bands"):
        lines.append(
            f"realised calibration of the {realised['run_date']} scores ({realised['leads']:,} "
            f"leads, {realised['horizon_days']} days on): {realised['status']}"
            + (f", bands outside: {realised['bands_outside']}" if realised["bands_outside"] else "")
        )
    elif realised:
        lines.append(f"realised calibration: {realised['status']}")
    return lines


def log_to_mlflow(run_id: str | None, metrics: dict[str, float], as_of: pd.Timestamp) -> bool:
    """A time series on the model's run: one point per check, stepped by the day checked."""
    if not run_id:
        return False
    import mlflow

    step = int(as_of.normalize().timestamp() // 86_400)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"drift.{k}": float(v) for k, v in metrics.items()}, step=step)
    return True


def realised_from_store(
    params: Params, stages: pd.DataFrame, as_of: pd.Timestamp, db_url: str | None
) -> dict[str, Any]:
    """Realised calibration of the latest stored daily run at least one horizon before `as_of`:
    every lead it scored has had its full horizon to convert. Without a store, or before any
    run is that old, says why instead (a first month has nothing to check yet)."""
    from store.urls import DEFAULT_DB_URL, resolve_url

    url = resolve_url(db_url)
    if url == DEFAULT_DB_URL and not Path(url.removeprefix("sqlite:///")).exists():
        return {"status": "no store yet (leadscore daily keeps one)", "bands": []}
    from sla.calibration import converted_within, realised_calibration
    from sla.report import first_sql_at
    from store import Store

    horizon = params.features.horizon_days
    latest = (as_of - pd.Timedelta(days=horizon)).date()
    with Store.open(url) as store:
        run = store.last_run(before=latest + timedelta(days=1))
        if run is None:
            return {
                "status": f"no stored run on or before {latest} ({horizon} days ago)",
                "bands": [],
            }
        scores = store.scores(run.run_date)
    start = pd.Timestamp(run.run_date, tz="UTC")  # a daily run sees the data up to 00:00 UTC
    converted = converted_within(scores["lead_id"], first_sql_at(stages), start, horizon)
    bands = realised_calibration(
        scores["probability"].to_numpy(dtype=float),
        converted,
        params.drift.calibration_bands,
        params.drift.calibration_level,
    )
    outside = [b["band"] for b in bands if not b["within"]]
    return {
        "status": "alert" if outside else "ok",
        "run_date": run.run_date.isoformat(),
        "horizon_days": horizon,
        "leads": len(scores),
        "level": params.drift.calibration_level,
        "bands_outside": outside,
        "bands": bands,
    }


def reference_of(loaded: Any) -> dict[str, Any]:
    """The champion's frozen training reference, or a clear error for a model without one."""
    profile = (getattr(loaded.model, "metadata", None) or {}).get(REFERENCE_PROFILE)
    if profile is None:
        raise DataError(
            f"{loaded.uri} (v{loaded.version}) carries no reference profile: it was trained "
            "before drift checks existed. Retrain (`dvc repro`) to give the champion one."
        )
    return profile


def drift_report(
    loaded: Any,
    scored: pd.DataFrame,
    stages: pd.DataFrame,
    as_of: pd.Timestamp,
    params: Params,
    db_url: str | None = None,
) -> dict[str, Any]:
    """The whole check on leads already scored by `loaded` (features + `probability`): the
    DVC stage scores them itself, `leadscore daily` passes the day's scores."""
    report = {
        "as_of": as_of.isoformat(),
        "model_uri": loaded.uri,
        "model_version": str(loaded.version),
        "run_id": loaded.run_id,
        "reference_rows": reference_of(loaded)["rows"],
        "thresholds": {"warn": params.drift.warn_psi, "alert": params.drift.alert_psi},
        **drift_of_scored(reference_of(loaded), scored, params),
        "realised_calibration": realised_from_store(params, stages, as_of, db_url),
    }
    report["metrics"] = metrics_of(report)
    return report


def write_report(report: dict[str, Any], out: Path, as_of: pd.Timestamp) -> dict[str, Any]:
    """drift.json (the numbers) and report.json (everything) in `out`; the numbers also go to
    the model's MLflow run."""
    write_json(report["metrics"], out / "drift.json")
    write_json(report, out / "report.json")
    return {**report, "mlflow_logged": log_to_mlflow(report["run_id"], report["metrics"], as_of)}


def daily_check(
    loaded: Any,
    features: pd.DataFrame,
    probability: Any,
    stages: pd.DataFrame,
    as_of: pd.Timestamp,
    params: Params,
    out: Path,
) -> dict[str, Any] | None:
    """The drift part of `leadscore daily`, on the day's own scores (no second scoring pass),
    written to the day's folder and logged to the model's run. A model without a reference
    profile (trained before drift checks) is skipped, never an error: the hand-off matters more.
    """
    if REFERENCE_PROFILE not in (getattr(loaded.model, "metadata", None) or {}):
        return None
    scored = features.assign(probability=probability)
    return write_report(drift_report(loaded, scored, stages, as_of, params), out, as_of)


def main(
    params: Params,
    as_of: pd.Timestamp | None = None,
    write: bool = True,
    db_url: str | None = None,
) -> dict[str, Any]:
    from models.registry import CHAMPION, load_lead_model
    from models.tracking import configure_mlflow

    configure_mlflow()
    loaded = load_lead_model(f"models:/{params.registry.model_name}@{CHAMPION}")
    reference_of(loaded)  # fail before the expensive part
    interim = Path(params.paths.interim)
    leads, events, stages = (
        read_table(find_table(interim, n)) for n in ("leads", "events", "stages")
    )
    end = as_of if as_of is not None else observed_until(events, stages, params.features.data_end)
    personas = load_personas(personas_path(params))
    scored = scored_open_leads(loaded.model, personas, params, leads, events, stages, end)
    report = drift_report(loaded, scored, stages, end, params, db_url)
    if write:
        report = write_report(report, drift_dir(params), end)
    for line in summary_lines(report):
        print(line)
    return report
