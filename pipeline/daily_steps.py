"""The steps of `leadscore daily` (pipeline/daily_cli.py runs them in order), each a function a test
can call alone: validate the exports, load the model, score the open leads, compare with the last
stored run (hand-off, returning, overdue), the month to date, the drift check.

They read and write (files, the store, a cluster); the logic they call is the pure functions of
daily/ and the scoring core (scoring/). Writing the day's files, storing the run and delivering
are in pipeline/daily_record.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from foundation.errors import ConfigError, DataError, LeadscoreError
from foundation.io import find_table, read_table
from foundation.params import EngineParams, Params

DAILY_DIR = "daily"
VALIDATION_DIR = "validation"


@dataclass
class Day:
    """One run's date, cut-off and folder, and its clock: `step(name)` ends a step, reports it
    to `progress` and adds its time to `timings` (the terminal summary's "took")."""

    run_date: date
    out: Path
    progress: Callable[[str, int, int], None] | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    timings: dict[str, float] = field(default_factory=dict)
    clock: float = field(default_factory=time.perf_counter)

    @property
    def t(self) -> pd.Timestamp:
        return cut_off(self.run_date)

    def step(self, name: str, done: int = 0, total: int = 0) -> None:
        now = time.perf_counter()
        if self.progress is not None:
            self.progress(name, done, total)
        self.timings[name] = self.timings.get(name, 0.0) + now - self.clock
        self.clock = now


@dataclass(frozen=True)
class Comparison:
    """Today against the last stored run: the new MQLs to hand over, the leads that came back,
    the follow-ups now overdue."""

    previous: Any  # store.RunRecord | None
    handoff: pd.DataFrame
    returning: pd.DataFrame
    overdue: pd.DataFrame
    owners: pd.DataFrame | None = None  # the hand-off's owners, stored after the run (sales/)


def parse_run_date(text: str | None, today: date | None = None) -> date:
    """--as-of as a date (YYYY-MM-DD); default today in UTC."""
    if text is None:
        return today or datetime.now(UTC).date()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not a date (expected YYYY-MM-DD)") from None


def cut_off(run_date: date) -> pd.Timestamp:
    """The instant the run for `run_date` sees everything up to: that date, 00:00 UTC."""
    return pd.Timestamp(run_date).tz_localize("UTC")


def run_dir(params: Params, run_date: date) -> Path:
    return Path(params.paths.artifacts) / DAILY_DIR / run_date.isoformat()


# ---------------------------------------------------------------------------- 1. validate


def validate_exports(
    params: Params, out: Path, engine: EngineParams | None = None, client: Any = None
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """The `validate` stage itself (pipeline/validate.py: same contract, same quarantine), with
    its outputs in `out` instead of the DVC-tracked data/interim; its console report is not
    printed (the daily summary names what was quarantined, validation_summary.json has all).
    Returns the validated tables this process needs: all three with the pandas engine; leads
    and stages with the Dask engine (the events stay on disk for the workers)."""
    import contextlib
    import io

    from features.vocabularies import TABLES
    from pipeline import validate

    run_params = params.model_copy(
        update={"paths": params.paths.model_copy(update={"interim": out})}
    )
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        summary = validate.main(
            run_params, raw_dir=Path(params.paths.raw), engine=engine, client=client
        )
    kept = TABLES if engine is None or engine.kind != "dask" else ("leads", "stages")
    tables = {table: read_table(find_table(out, table)) for table in kept}
    return tables, summary


# ---------------------------------------------------------------------------- 2. score


def load_scorer(params: Params, params_path: Path, settings: Any) -> Any:
    """The champion (or LEADSCORE_MODEL_URI) under the agreement in force, as `leadscore score`
    builds it; an unusable agreement or an unresolved `auto` threshold is a clear error."""
    from models.registry import load_lead_model
    from scoring.score_file import is_table_model, scoring_context
    from scoring.scorer import Scorer
    from sla.agreement import load_agreement

    load_agreement(Path(params.paths.sla))  # a missing or broken agreement stops here, clearly
    loaded = load_lead_model(settings.model_uri)
    if is_table_model(loaded.model):
        raise ConfigError(
            f"{settings.model_uri} was trained on a flat lead table (`leadscore train-table`); "
            "the daily hand-off needs a model trained by `dvc repro` on leads and events"
        )
    context = scoring_context(
        loaded.model,
        Path(params_path),
        Path(params.paths.personas),
        Path(params.paths.sla),
        settings.mql_threshold,
        settings.threshold_path,
    )
    if context.threshold is None:
        raise ConfigError(
            "the MQL threshold is `auto` and not resolved yet "
            f"({settings.threshold_path} is missing): run `dvc repro` (stage sla_report) or "
            "set LEADSCORE_MQL_THRESHOLD"
        )
    return Scorer(loaded, context, batch_threads=0)


def scoring_job(
    scorer: Any, settings: Any, params: Params, params_path: Path, as_of: pd.Timestamp
) -> Any:
    """What each Dask worker needs to build the scorer this process built (engine/score.py):
    the same files and threshold settings, and the model pinned to the version loaded here, so
    a promotion during the run cannot give the workers another champion."""
    from engine.score import ScoringJob

    loaded = scorer.loaded
    if str(loaded.uri).startswith("models:/") and loaded.version is not None:
        uri = f"models:/{loaded.name}/{loaded.version}"
    else:  # a model file: absolute, workers do not share this working folder
        uri = str(Path(loaded.uri).resolve()) if Path(loaded.uri).exists() else str(loaded.uri)
    threshold_path = settings.threshold_path
    return ScoringJob(
        model_uri=uri,
        # As load_scorer: the model's own feature params and personas win (its metadata).
        params=Path(params_path).resolve(),
        personas=Path(params.paths.personas).resolve(),
        sla=Path(params.paths.sla).resolve(),
        threshold=settings.mql_threshold,
        threshold_path=Path(threshold_path).resolve() if threshold_path else None,
        as_of=as_of.to_pydatetime(),
        source="leads",
    )


def open_leads_at(
    leads: pd.DataFrame, stages: pd.DataFrame, t: pd.Timestamp, raw: Any
) -> pd.DataFrame:
    """The leads open at the cut-off (daily/handoff.py); none is an error: nothing to score."""
    from daily.handoff import open_leads

    scope = open_leads(leads, stages, t)
    if not len(scope):
        raise DataError(
            f"no open lead at {t.isoformat()} in {raw} (every lead is newer, "
            "already SQL or disqualified): nothing to score"
        )
    return scope


def score_open_leads(
    scorer: Any,
    scope: pd.DataFrame,
    events: pd.DataFrame | None,
    stages: pd.DataFrame,
    t: pd.Timestamp,
    job: Any,
    engine: EngineParams,
    client: Any,
    out: Path,
    step: Callable[..., None],
    added: Any = None,
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Features and scores of the open leads (engine/daily_dask.py `day_scores`): here, or per lead
    partition on the cluster. On the cluster the features stay in the day's part files (None
    here; `job` is what the workers build their scorer from; `added`: `store_additions`, which
    the workers merge with their partitions); the scores come back in `scope`'s order either
    way."""
    from engine.daily_dask import day_scores, day_scores_partitioned

    if client is None:
        return day_scores(
            scorer, scope, events, stages, t, progress=lambda n: step("score", n, len(scope))
        )
    scores, scored_with = day_scores_partitioned(
        client,
        out / VALIDATION_DIR,
        out,
        job,
        t,
        scope["lead_id"],
        engine,
        added,
    )
    here = {"threshold": scorer.context.threshold, "model": dict(scorer.model_ref)}
    if scored_with != here:
        raise ConfigError(
            f"the Dask workers scored with {scored_with}, this process loaded {here}: the "
            "workers must read the same model registry, sla.yaml and threshold file"
        )
    step("score", len(scores), len(scope))
    return None, scores


# ---------------------------------------------------------------------------- 3. compare


def compare_with_last_run(
    day: Day,
    store: Any,
    scores: pd.DataFrame,
    leads_stages_events: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None],
    follow_up_hours: float,
    params: Params,
    desk: Any = None,
    handed_live: set[str] | frozenset[str] = frozenset(),
) -> Comparison:
    """The hand-off (MQLs new since the last stored run, none handed over before, by a run or
    in real time (`handed_live`), none already with sales), the leads that came back since
    that run, the follow-ups now overdue. `desk` (sla.yaml sales_desk; default: the
    agreement's defaults) assigns owners and sets what is overdue: the contact attempts its
    cadence still owes (sales/)."""
    from daily.activity import activity_text
    from daily.handoff import (
        OVERDUE_COLUMNS,
        RETURNING_COLUMNS,
        handoff_diff,
        handoff_records,
        returning_candidates,
        returning_leads,
        with_sales,
    )
    from sales.service import (
        current_owners,
        desk_step,
        overdue_at,
        owners_for,
        with_contacts,
        with_owners,
    )
    from sla.sales_desk import SalesDesk

    leads, stages, events = leads_stages_events
    desk = desk if desk is not None else SalesDesk()
    run_date, t, out = day.run_date, day.t, day.out
    previous = store.last_run(before=run_date)
    prev_scores = store.scores(previous.run_date) if previous is not None else None
    handed = store.handed_over()
    if len(handed):
        handed = handed[pd.to_datetime(handed["run_date"]).dt.date < run_date]
    already = set(handed["lead_id"].astype(str)) if len(handed) else set()
    already |= set(handed_live)
    new = handoff_diff(scores, prev_scores, already | with_sales(stages, t))
    # The activity counts of every open lead (stored); the words only for the hand-off.
    records = dict(zip(scores["lead_id"].astype(str), scores["activity"], strict=True))
    day.step("hand-off")

    new = scores.loc[new.index]
    # The sales desk: CRM touches, owners, reassignment, recycling as of the cut-off; then
    # whom to call (the leads export) and who calls, for today's hand-off.
    desk_step(store, desk, stages, t)
    new = with_contacts(new, leads) if leads is not None else new
    owners = owners_for(store, desk, new)
    new = with_owners(new, owners)
    with_words = {
        str(i): records[str(i)] | {"activity": activity_text(records[str(i)])}
        for i in new["lead_id"]
    }
    handoff = handoff_records(new, with_words, t, follow_up_hours)

    since = cut_off(previous.run_date) if previous is not None else t - pd.Timedelta(days=1)
    candidates = returning_candidates(handed, prev_scores, set(handoff["lead_id"]))
    if events is None:  # Dask: read the few events it needs, not the log
        from engine.daily_dask import returning_events

        events = returning_events(find_table(out / VALIDATION_DIR, "events"), candidates, since, t)
    returning = returning_leads(candidates, events, since, t, params.daily.quiet_days)
    by_lead = scores.set_index(scores["lead_id"].astype(str))
    returning = _join_scores(returning, by_lead, ("decision", "score"), RETURNING_COLUMNS)
    owned = current_owners(store, returning["lead_id"].astype(str).tolist())
    returning["owner"] = returning["lead_id"].astype(str).map(owned)
    overdue = overdue_at(store, desk, t)  # still owed per the cadence, oldest first
    overdue = _join_scores(
        overdue, by_lead, ("channel", "persona", "score", "decision"), OVERDUE_COLUMNS
    )
    day.step("returning, overdue")
    return Comparison(previous, handoff, returning, overdue, owners)


# ---------------------------------------------------------------------------- 4. the month


def month_to_date(
    day: Day,
    store: Any,
    scorer: Any,
    leads: pd.DataFrame,
    stages: pd.DataFrame,
    scores: pd.DataFrame,
    comparison: Comparison,
    agreement: Any,
    params: Params,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The month-to-date recap against the frozen targets, with the run's counts, model and
    notes; and the counts (open, mql, handoff, returning, overdue)."""
    from daily.recap import cut_history, month_recap

    t = day.t
    cut_leads, cut_stages = cut_history(leads, stages, t)
    personas = scorer.context.personas
    persona = _personas(cut_leads, personas, params)
    targets, target_note = month_targets(
        store,
        agreement,
        params,
        t,
        lambda: _targets(agreement, cut_leads, cut_stages, persona, personas),
    )
    recap = month_recap(
        cut_leads,
        cut_stages,
        persona,
        agreement,
        targets,
        scores["probability"].to_numpy(dtype=float),
        t,
        scorer.context.feature_params.horizon_days,
        params.daily.interval_level,
    )
    is_mql = (scores["decision"] == "mql").to_numpy()
    counts = {
        "open": len(scores),
        "mql": int(is_mql.sum()),
        "handoff": len(comparison.handoff),
        "returning": len(comparison.returning),
        "overdue": len(comparison.overdue),
    }
    previous = comparison.previous
    recap |= {
        "run_date": day.run_date.isoformat(),
        "model": dict(scorer.model_ref),
        "threshold": scorer.context.threshold,
        "counts": counts,
        "previous_run": previous.run_date.isoformat() if previous is not None else None,
        "notes": [n for n in (target_note,) if n],
    }
    return recap, counts


def _join_scores(
    frame: pd.DataFrame, by_lead: pd.DataFrame, columns: tuple[str, ...], order: tuple[str, ...]
) -> pd.DataFrame:
    """Add today's score columns (None for a lead no longer open) in the file's column order."""
    frame = frame.copy()
    ids = frame["lead_id"].astype(str).tolist()
    for c in columns:
        known = dict(zip(by_lead.index, by_lead[c].tolist(), strict=True))
        frame[c] = pd.Series([known.get(i) for i in ids], index=frame.index, dtype=object)
    return frame.reindex(columns=list(order))


def _personas(leads: pd.DataFrame, personas: Any, params: Params) -> pd.Series:
    from pipeline.sla_data import lead_personas

    return lead_personas(leads, personas, params.features.persona_min_fit)


def _targets(
    agreement: Any, leads: pd.DataFrame, stages: pd.DataFrame, persona: pd.Series, personas: Any
) -> tuple[Any, str | None]:
    """The month's targets, measured on the history up to the cut-off; None with a note when the
    history cannot support them (the recap then shows actuals without targets)."""
    from pipeline.sla_data import deal_values_by_persona
    from sla.targets import History, targets_from_agreement

    try:
        return targets_from_agreement(
            agreement, History(leads, stages, persona), deal_values_by_persona(personas)
        ), None
    except LeadscoreError as exc:
        return None, f"no monthly targets: {exc}"


def month_targets(
    store: Any,
    agreement: Any,
    params: Params,
    t: pd.Timestamp,
    compute: Callable[[], tuple[Any, str | None]],
) -> tuple[Any, str | None]:
    """The month's frozen targets (daily/frozen_targets.py): computed and frozen on the month's
    first run, read back on every later one, whatever the history or sla.yaml say since."""
    from daily.frozen_targets import targets_for_month
    from daily.recap import report_month
    from sla.agreement import agreement_version

    notes: list[str] = []

    def computed() -> Any:
        targets, note = compute()
        notes.extend([note] if note else [])
        return targets

    targets, _, changed = targets_for_month(
        store,
        f"{report_month(t):%Y-%m}",
        agreement_version(Path(params.paths.sla)),
        computed,
        datetime.now(UTC),
    )
    notes.extend([changed] if changed else [])
    return targets, "; ".join(notes) or None


# ---------------------------------------------------------------------------- 5. drift


def check_drift(
    day: Day,
    scorer: Any,
    features: pd.DataFrame | None,
    scores: pd.DataFrame,
    stages: pd.DataFrame,
    params: Params,
) -> list[str]:
    """Today's open leads against the champion's reference profile (pipeline/drift.py); the
    lines for the terminal summary."""
    from pipeline.drift import daily_check, summary_lines

    if features is None:  # Dask: the columns the check reads, from the day's part files
        from engine.daily_dask import read_features

        features = read_features(day.out, drift_columns(scorer.loaded), scores["lead_id"])
    drift = daily_check(
        scorer.loaded,
        features,
        scores["probability"].to_numpy(),
        stages,
        day.t,
        params,
        day.out / "drift",
    )
    return summary_lines(drift) if drift is not None else []


def drift_columns(loaded: Any) -> list[str]:
    """The feature columns the drift check reads: the reference profile's features, its cell
    keys and the population filter (models/drift.py)."""
    from models.drift import REFERENCE_PROFILE

    profile = (getattr(loaded.model, "metadata", None) or {}).get(REFERENCE_PROFILE) or {}
    by = (profile.get("cells") or {}).get("by", [])
    return list(dict.fromkeys([*profile.get("features", {}), *by, "disqualified"]))
