"""`leadscore daily`: the day's hand-off, returning leads, overdue follow-ups and recap.

Not a DVC stage: it never trains. The run for date D is cut at D 00:00 UTC: it sees every lead,
event and stage row stamped at or before that instant and nothing after, so a run can be
replayed from a later export and a re-run of D writes the same files. Steps:

1. validate the raw exports with the `validate` stage's contract (features/schemas.py); the
   quarantine and summary go to artifacts/daily/<D>/validation/, never over data/interim;
2. score every open lead with the champion and the agreement in force, through the scorer
   `leadscore score` and the HTTP service use (serve/score_file.py + serve/scorer.py);
3. compare with the last stored run before D (store.last_run): hand-off, returning, overdue;
   the month-to-date recap (daily/recap.py);
4. write artifacts/daily/<D>/{handoff.csv, handoff.json, returning.csv, overdue.csv, recap.md,
   recap.html, summary.json};
5. save the run in ONE store transaction (store.Store.save_run), then deliver the hand-off
   through the outbox when a webhook URL is configured (delivery.deliver_pending).

With the Dask engine (`--engine dask`, `--scheduler tcp://...`, or params `engine`) steps 1 and 2
run on a cluster: validation as `leadscore validate --engine dask` (same files), then features
and scores of the open leads per lead_id partition of the day's validated Parquet with the same
function (engine/daily.py `day_scores`), written under the day's folder as part files. Only the
scores (one row per open lead, with the reasons of the MQLs and the activity counts) come back:
this process holds leads and stages, never the event log. Steps 3-5 are the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from foundation import DEFAULT_PARAMS
from foundation.completion import COMPLETE, mark_complete, publish_text
from foundation.errors import ConfigError, DataError, LeadscoreError
from foundation.io import find_table, read_table
from foundation.params import EngineParams, Params

DAILY_DIR = "daily"
VALIDATION_DIR = "validation"
FILES = (
    "handoff.csv",
    "handoff.json",
    "returning.csv",
    "overdue.csv",
    "recap.md",
    "recap.html",
    "summary.json",
)
SCORE_COLUMNS = (
    "lead_id",
    "channel",
    "persona",
    "probability",
    "score",
    "tier",
    "decision",
    "rule",
    "grade",
    "expected_value_eur",
    "reasons",
    "activity",
)


@dataclass
class DailyResult:
    """What a run did, for the terminal summary and the tests."""

    run_date: date
    out_dir: Path
    counts: dict[str, int]
    model: dict[str, Any]
    threshold: float
    previous: date | None
    recap: dict[str, Any]
    validation: dict[str, dict[str, Any]]
    delivery: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "pandas"


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

    from features.schemas import TABLES
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
    from serve.score_file import is_table_model, scoring_context
    from serve.scorer import Scorer
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


# ---------------------------------------------------------------------------- the run


def check_order(store: Any, run_date: date, replay: bool) -> None:
    """A date before the latest stored run would be compared with the wrong "last run"."""
    latest = store.last_run()
    if latest is not None and run_date < latest.run_date and not replay:
        raise ConfigError(
            f"--as-of {run_date} is before the latest stored run ({latest.run_date}): "
            "its hand-off would be compared with the wrong day. Pass --replay to recompute it "
            "against the run before it"
        )


def check_unfinished(store: Any, params: Params, run_date: date) -> None:
    """A run of an earlier date that wrote its files but never stored its run (killed in its
    store transaction, the database lost mid-run) is not done: running a later date first
    would make that date's hand-off this one's, and the `--replay` of the crashed date would
    then hand the same leads over again under new keys. Stop and say which date to re-run."""
    from foundation.completion import is_complete

    root = Path(params.paths.artifacts) / DAILY_DIR
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if day >= run_date or is_complete(folder) or not (folder / FILES[0]).exists():
            continue
        if store.run(day) is None:
            raise ConfigError(
                f"the daily run of {day} did not finish ({folder} has its files but no "
                f"completion marker, and the store has no run of {day}): re-run "
                f"`leadscore daily --as-of {day}` first (or delete that folder to skip the day)"
            )


def main(
    params: Params,
    as_of: str | None = None,
    replay: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    engine: EngineParams | None = None,
    params_path: Path = DEFAULT_PARAMS,
) -> DailyResult:
    """Run the day (see the module docstring); `progress(step, advance, total)` reports each
    step as it ends, and the scoring step chunk by chunk (advance = leads just scored; with
    the Dask engine all at once). `engine` overrides params.engine (--engine / --scheduler);
    `params_path` is the file `params` came from (a model without feature metadata reads its
    feature params there)."""
    from contextlib import ExitStack

    from daily.activity import activity_text
    from daily.handoff import (
        OVERDUE_COLUMNS,
        RETURNING_COLUMNS,
        handoff_diff,
        handoff_records,
        open_leads,
        returning_candidates,
        returning_leads,
        with_sales,
    )
    from daily.recap import cut_history, month_recap
    from delivery import resolve_webhook
    from sales.service import (
        current_owners,
        desk_step,
        overdue_at,
        owners_for,
        record_owners,
        with_contacts,
        with_owners,
    )
    from serve.settings import Settings
    from sla.agreement import load_agreement
    from store import OutboxItem, RunRecord, Store

    started_at = datetime.now(UTC)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str, done: int = 0, total: int = 0) -> None:
        nonlocal clock
        now = time.perf_counter()
        if progress is not None:
            progress(name, done, total)
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    run_date = parse_run_date(as_of)
    t = cut_off(run_date)
    out = run_dir(params, run_date)
    settings = Settings()
    agreement = load_agreement(Path(params.paths.sla))
    # A URL without its signing secret stops the run before anything is written.
    webhook = resolve_webhook(params.daily.webhook_url)

    engine = engine or params.engine
    on_dask = engine.kind == "dask"
    store = Store.open()  # $LEADSCORE_DB_URL, else sqlite:///leadscore.db
    cluster = ExitStack()
    held = ExitStack()
    try:
        # One run per date at a time (store/run_lock.py), held until the end of the run.
        held.enter_context(store.daily_run_lock(run_date))
        check_unfinished(store, params, run_date)
        check_order(store, run_date, replay)
        client = None
        if on_dask:
            from engine.cluster import dask_client

            client = cluster.enter_context(dask_client(engine))
        # The exports first: a broken export should not wait for a model download.
        tables, validation = validate_exports(params, out / VALIDATION_DIR, engine, client)
        leads, stages = tables["leads"], tables["stages"]
        events = tables.get("events")  # None on Dask: the event log stays with the workers
        step("validate")
        scorer = load_scorer(params, params_path, settings)
        step("model")

        scope = open_leads(leads, stages, t)
        if not len(scope):
            raise DataError(
                f"no open lead at {t.isoformat()} in {params.paths.raw} (every lead is newer, "
                "already SQL or disqualified): nothing to score"
            )
        job = scoring_job(scorer, settings, params, params_path, t) if on_dask else None
        features, scores = _score_day(
            scorer, scope, events, stages, t, job, engine, client, out, step
        )
        cluster.close()  # the workers' memory is free before the store and delivery
        step("score")

        previous = store.last_run(before=run_date)
        prev_scores = store.scores(previous.run_date) if previous is not None else None
        handed = store.handed_over()
        if len(handed):
            handed = handed[pd.to_datetime(handed["run_date"]).dt.date < run_date]
        already = set(handed["lead_id"].astype(str)) if len(handed) else set()
        new = handoff_diff(scores, prev_scores, already | with_sales(stages, t))
        is_mql = (scores["decision"] == "mql").to_numpy()
        # The activity counts of every open lead (stored); the words only for the hand-off.
        records = dict(zip(scores["lead_id"].astype(str), scores["activity"], strict=True))
        step("hand-off")

        new = scores.loc[new.index]
        # The sales desk (sales/): CRM touches, owners, reassignment and recycling as of the
        # cut-off, then whom to call and who calls for today's hand-off.
        desk = agreement.sales_desk
        desk_step(store, desk, stages, t)
        new = with_contacts(new, leads)
        owners = owners_for(store, desk, new)
        new = with_owners(new, owners)
        with_words = {
            str(i): records[str(i)] | {"activity": activity_text(records[str(i)])}
            for i in new["lead_id"]
        }
        handoff = handoff_records(new, with_words, t, agreement.follow_up_hours)

        since = cut_off(previous.run_date) if previous is not None else t - pd.Timedelta(days=1)
        candidates = returning_candidates(handed, prev_scores, set(handoff["lead_id"]))
        if events is None:  # Dask: read the few events it needs, not the log
            from engine.daily import returning_events

            events = returning_events(
                find_table(out / VALIDATION_DIR, "events"), candidates, since, t
            )
        returning = returning_leads(candidates, events, since, t, params.daily.quiet_days)
        by_lead = scores.set_index(scores["lead_id"].astype(str))
        returning = _join_scores(returning, by_lead, ("decision", "score"), RETURNING_COLUMNS)
        owned = current_owners(store, returning["lead_id"].astype(str).tolist())
        returning["owner"] = returning["lead_id"].astype(str).map(owned)
        overdue = overdue_at(store, desk, t)  # still owed per the cadence, oldest first
        overdue = _join_scores(
            overdue, by_lead, ("channel", "persona", "score", "decision"), OVERDUE_COLUMNS
        )
        step("returning, overdue")

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
        counts = {
            "open": len(scores),
            "mql": int(is_mql.sum()),
            "handoff": len(handoff),
            "returning": len(returning),
            "overdue": len(overdue),
        }
        model = dict(scorer.model_ref)
        recap |= {
            "run_date": run_date.isoformat(),
            "model": model,
            "threshold": scorer.context.threshold,
            "counts": counts,
            "previous_run": previous.run_date.isoformat() if previous is not None else None,
            "notes": [n for n in (target_note,) if n],
        }
        step("recap")

        header = {
            "run_date": run_date.isoformat(),
            "as_of": t.isoformat(),
            "model": model,
            "threshold": scorer.context.threshold,
            "follow_up_hours": agreement.follow_up_hours,
        }
        write_outputs(
            out,
            handoff,
            returning,
            overdue,
            recap,
            counts,
            header,
            validation,
            dashboard_url=settings.dashboard_url,
        )
        step("write")

        run = RunRecord(
            run_date=run_date,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            model_name=str(model["name"]),
            model_version=str(model["version"]),
            threshold=float(scorer.context.threshold),
            n_open=counts["open"],
            n_mql=counts["mql"],
            n_handoff=counts["handoff"],
            n_returning=counts["returning"],
            n_overdue=counts["overdue"],
            recap=recap,
        )
        payloads = [{**header, "lead": r} for r in _records(handoff)]
        outbox = (
            [
                OutboxItem.new(run_date, p["lead"]["lead_id"], p, created_at=datetime.now(UTC))
                for p in payloads
            ]
            if webhook is not None
            else []
        )
        save_run(store, run, scores, handoff, returning, overdue, outbox)
        record_owners(store, owners, t)
        mark_complete(out, "daily")  # the files and the store agree: the day is done
        step("store")

        delivery = deliver(store, webhook, params) if webhook is not None else None
        step("deliver")

        recap_mail = mail_recap(store, run_date, agreement.recap.recipients)
        step("recap e-mail")

        from pipeline.drift import daily_check, summary_lines

        if features is None:  # Dask: the columns the check reads, from the day's part files
            from engine.daily import read_features

            features = read_features(out, drift_columns(scorer.loaded), scores["lead_id"])
        drift = daily_check(
            scorer.loaded,
            features,
            scores["probability"].to_numpy(),
            stages,
            t,
            params,
            out / "drift",
        )
        drift_notes = summary_lines(drift) if drift is not None else []
        step("drift")
    finally:
        cluster.close()
        held.close()
        store.close()
    return DailyResult(
        run_date=run_date,
        out_dir=out,
        counts=counts,
        model=model,
        threshold=float(scorer.context.threshold),
        previous=previous.run_date if previous is not None else None,
        recap=recap,
        validation=validation,
        delivery=delivery,
        notes=[*scorer.context.notes, *recap["notes"], *drift_notes, *recap_mail],
        timings=timings,
        engine=engine.kind,
    )


def _score_day(
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
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Features and scores of the open leads (engine/daily.py `day_scores`): here, or per lead
    partition on the cluster. On the cluster the features stay in the day's part files (None
    here; `job` is what the workers build their scorer from); the scores come back in `scope`'s
    order either way."""
    from engine.daily import day_scores, day_scores_partitioned

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
    )
    here = {"threshold": scorer.context.threshold, "model": dict(scorer.model_ref)}
    if scored_with != here:
        raise ConfigError(
            f"the Dask workers scored with {scored_with}, this process loaded {here}: the "
            "workers must read the same model registry, sla.yaml and threshold file"
        )
    step("score", len(scores), len(scope))
    return None, scores


def drift_columns(loaded: Any) -> list[str]:
    """The feature columns the drift check reads: the reference profile's features, its cell
    keys and the population filter (models/drift.py)."""
    from models.drift import REFERENCE_PROFILE

    profile = (getattr(loaded.model, "metadata", None) or {}).get(REFERENCE_PROFILE) or {}
    by = (profile.get("cells") or {}).get("by", [])
    return list(dict.fromkeys([*profile.get("features", {}), *by, "disqualified"]))


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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def flags_frame(returning: pd.DataFrame, overdue: pd.DataFrame) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {"lead_id": f["lead_id"].astype(str), "kind": kind, "payload": _records(f)},
            columns=["lead_id", "kind", "payload"],
        )
        for kind, f in (("returning", returning), ("overdue", overdue))
        if len(f)
    ]
    if not parts:
        return pd.DataFrame(columns=["lead_id", "kind", "payload"])
    return pd.concat(parts, ignore_index=True)


def save_run(
    store: Any,
    run: Any,
    scores: pd.DataFrame,
    handoff: pd.DataFrame,
    returning: pd.DataFrame,
    overdue: pd.DataFrame,
    outbox: list[Any],
) -> None:
    """ONE transaction (store.save_run): all of the day or nothing."""
    import sqlalchemy as sa

    stored = scores[list(SCORE_COLUMNS)]
    handoffs = pd.DataFrame(
        {
            "lead_id": handoff["lead_id"],
            "handed_at": pd.to_datetime(handoff["handed_at"], utc=True),
            "followup_deadline": pd.to_datetime(handoff["followup_deadline"], utc=True),
            "payload": _records(handoff),
        }
    )
    try:
        store.save_run(run, stored, handoffs, flags_frame(returning, overdue), outbox)
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DataError(
            f"store: run {run.run_date} was not saved (nothing written): "
            f"{first[0] if first else type(exc).__name__}"
        ) from exc


def mail_recap(store: Any, run_date: date, recipients: tuple[str, ...]) -> list[str]:
    """E-mail the day's recap (daily/recap_message.py, from the stored summary) to `recipients`
    through LEADSCORE_SMTP_*; returns the notes for the terminal summary. A mail server that is
    down does not undo the run: the hand-off is stored and delivered, the note says what failed
    (re-send with the dashboard's recap page, or re-run the day with --replay)."""
    if not recipients:
        return []
    from daily.recap_message import recap_message
    from daily.summary import day_summary
    from delivery.recap_mail import RecapMailError, SmtpSettings, recap_email, send_recap

    settings = SmtpSettings()
    if not settings.host:
        return [
            f"recap not e-mailed to {len(recipients)} recipients: set LEADSCORE_SMTP_HOST "
            "(and _PORT, _SENDER, _USER, _PASSWORD as the server needs)"
        ]
    message = recap_message(day_summary(store, run_date))
    email = recap_email(settings.sender, recipients, message.subject, message.text, message.html)
    try:
        send_recap(settings, email, recipients)
    except RecapMailError as exc:
        return [str(exc)]
    return [f"recap e-mailed to {', '.join(recipients)} via {settings.host}:{settings.port}"]


def deliver(store: Any, webhook: Any, params: Params) -> dict[str, Any]:
    """Send what the outbox holds (delivery/): at least once, deduplicated by key; a receiver
    that is down leaves the items pending for the next run or `leadscore deliver`."""
    from dataclasses import asdict

    from delivery import deliver_pending

    report = deliver_pending(
        store, webhook.url, webhook.secret, datetime.now(UTC), policy=params.delivery
    )
    return {k: v for k, v in asdict(report).items() if k != "errors"} | {"pending": report.pending}


def write_outputs(
    out: Path,
    handoff: pd.DataFrame,
    returning: pd.DataFrame,
    overdue: pd.DataFrame,
    recap: dict[str, Any],
    counts: dict[str, int],
    header: dict[str, Any],
    validation: dict[str, dict[str, Any]],
    dashboard_url: str = "",
) -> None:
    """The day's files; each written to a temporary name of its own and renamed, so a reader
    never sees half a file and a failed run leaves the previous version of a file whole. The
    completion marker goes first: it is written back only once the store has the run. The
    recap's lead ids link to their lead pages on `dashboard_url` when it is set."""
    from daily import render
    from daily.handoff import OVERDUE_COLUMNS, RETURNING_COLUMNS

    title = f"Lead hand-off and SLA recap, {header['run_date']}"
    texts = {
        "handoff.csv": render.handoff_csv(handoff),
        "handoff.json": render.handoff_json(handoff, header),
        "returning.csv": render.table_csv(returning, RETURNING_COLUMNS),
        "overdue.csv": render.table_csv(overdue, OVERDUE_COLUMNS),
        "recap.md": render.recap_markdown(recap, handoff, counts, title, dashboard_url),
        "recap.html": render.recap_html(recap, handoff, counts, title, dashboard_url),
        "summary.json": render.summary_json(header, counts, recap, validation),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPLETE).unlink(missing_ok=True)
    for name, text in texts.items():
        publish_text(out / name, text)


# ---------------------------------------------------------------------------- the terminal

STEPS = (
    "validate",
    "model",
    "score",
    "hand-off",
    "returning, overdue",
    "recap",
    "write",
    "store",
    "deliver",
    "recap e-mail",
    "drift",
)


def run_in_terminal(
    params: Params,
    as_of: str | None,
    replay: bool,
    engine: EngineParams | None = None,
    params_path: Path = DEFAULT_PARAMS,
) -> DailyResult:
    """`leadscore daily`: a progress bar while it runs, then a one-screen summary."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=False)
    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        overall = bar.add_task("daily run", total=len(STEPS))
        scoring = bar.add_task("scoring open leads", total=None, visible=False)

        def report(name: str, advance: int, total: int) -> None:
            if name == "score" and total:
                bar.update(scoring, total=total, visible=True)
                bar.advance(scoring, advance)
                return
            if name in STEPS:
                bar.advance(overall)
            bar.update(overall, description=name)

        result = main(
            params,
            as_of=as_of,
            replay=replay,
            progress=report,
            engine=engine,
            params_path=params_path,
        )
    for line in summary_lines(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return result


def summary_lines(result: DailyResult) -> list[str]:
    """The one-screen summary: what was scored, what came out, where it went."""
    c, r = result.counts, result.recap
    f = r["follow_up"]
    lines = [
        f"leadscore daily {result.run_date} (cut-off {cut_off(result.run_date).isoformat()}), "
        f"model {result.model['name']} v{result.model['version']}, "
        f"MQL threshold {result.threshold:g}",
        f"  compared with: {result.previous or 'no earlier run (first run: every MQL is new)'}",
        f"  open leads scored {c['open']:,}; MQL {c['mql']:,}; hand-off {c['handoff']:,}; "
        f"returning {c['returning']:,}; overdue {c['overdue']:,}",
    ]
    for table, s in result.validation.items():
        if s["rows_quarantined"]:
            lines.append(
                f"  validation: {table} {s['rows_quarantined']:,} of {s['rows_in']:,} rows "
                "quarantined (see validation/quarantine)"
            )
    lines.append(f"  {r['month']} to date (day {r['days_elapsed']:g} of {r['days_in_month']}):")
    for key, label in (
        ("leads", "leads"),
        ("mqls", "MQLs"),
        ("sqls", "SQLs"),
        ("customers", "customers"),
        ("revenue_eur", "revenue EUR"),
    ):
        m = r["metrics"][key]
        target = "-" if m["target"] is None else f"{m['target']:,.0f}"
        lines.append(
            f"    {label:<12} {m['actual']:>10,.0f} of {target:>8}   projected "
            f"{m['projected']:,.0f} ({m['low']:,.0f} to {m['high']:,.0f})"
        )
    compliance = "-" if f["compliance"] is None else f"{100 * f['compliance']:.0f}%"
    lines.append(
        f"    follow-up    {compliance} on time of {f['mqls_due']} due "
        f"(agreed {100 * f['agreed_compliance']:.0f}% within {f['hours']:g} h)"
    )
    if result.delivery is not None:
        lines.append(f"  delivery: {result.delivery}")
    for note in result.notes:
        lines.append(f"  note: {note}")
    lines.append(f"  wrote {result.out_dir}/ ({', '.join(FILES)}); store updated")
    if result.engine == "dask":
        from engine.daily import FEATURES_DIR, SCORES_DIR

        lines.append(
            f"  engine dask: open leads' features and scores in {FEATURES_DIR}/, {SCORES_DIR}/"
        )
    took = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    lines.append(f"  took {sum(result.timings.values()):.1f} s ({took})")
    return lines
