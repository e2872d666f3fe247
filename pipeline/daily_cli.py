"""`leadscore daily`: the day's hand-off, returning leads, overdue follow-ups and recap.

Not a DVC stage: it never trains. The run for date D is cut at D 00:00 UTC: it sees every lead,
event and stage row stamped at or before that instant and nothing after, so a run can be
replayed from a later export and a re-run of D writes the same files. `main` runs the steps
in order, each a function of its own (pipeline/daily_steps.py, pipeline/daily_record.py):

1. `validate_exports`: the raw exports against the `validate` stage's contract
   (features/triage.py); the quarantine and summary go to artifacts/daily/<D>/validation/,
   never over data/interim; `add_ingested`, `add_crm_leads`, `add_crm_stages`: the events
   posted live, the leads created in a CRM and the stages CRMs sent (store) up to the cut-off
   join the exports';
2. `load_scorer`, `score_open_leads`: every open lead scored with the champion and the agreement
   in force, through the scorer `leadscore score` and the HTTP service use (scoring/);
3. `compare_with_last_run`: hand-off, returning, overdue against the last stored run before D;
   `month_to_date`: the month's recap against its frozen targets (daily/recap.py);
4. `write_outputs`: artifacts/daily/<D>/{handoff.csv, handoff.json, returning.csv, overdue.csv,
   recap.md, recap.html, summary.json};
5. `store_run`: the run in ONE store transaction (store.Store.save_run); then `deliver` the
   hand-off through the outbox when a webhook URL is configured, `push_after_run` the scores
   onto HubSpot contacts when crm.yaml asks (pipeline/daily_crm.py; its failure is a line of
   the summary, not a failed run), `mail_recap` the recap;
6. `check_drift`: today's open leads against the champion's reference profile.

With the Dask engine (`--engine dask`, `--scheduler tcp://...`, or params `engine`) steps 1 and 2
run on a cluster: validation as `leadscore validate --engine dask` (same files), then features
and scores of the open leads per lead_id partition of the day's validated Parquet with the same
function (engine/daily_dask.py `day_scores`), written under the day's folder as part files. Only the
scores (one row per open lead, with the reasons of the MQLs and the activity counts) come back:
this process holds leads and stages, never the event log. What the store adds to the exports
(events posted live, identify and CRM-only leads, CRM stages: `store_additions`) goes to the
workers with their lead partitions and is merged there as here. Steps 3-6 are the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from foundation import DEFAULT_PARAMS
from foundation.params import EngineParams, Params
from pipeline.daily_crm import push_after_run, resolve_daily_push
from pipeline.daily_record import (
    FILES,
    check_order,
    check_unfinished,
    deliver,
    mail_recap,
    store_run,
    write_outputs,
)
from pipeline.daily_steps import (
    VALIDATION_DIR,
    Day,
    check_drift,
    compare_with_last_run,
    cut_off,
    load_scorer,
    month_to_date,
    open_leads_at,
    parse_run_date,
    run_dir,
    score_open_leads,
    scoring_job,
    validate_exports,
)
from pipeline.daily_store_inputs import add_crm_leads, add_crm_stages, add_ingested, store_additions


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
    # The write-back's lines for the summary (pipeline/daily_crm.py); empty when not asked.
    crm_push: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "pandas"


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

    from daily.recap_links import RecapLinks
    from delivery import resolve_webhook
    from sales.service import record_owners
    from scoring.settings import ScoringSettings
    from sla.agreement import load_agreement
    from store import Store

    run_date = parse_run_date(as_of)
    day = Day(run_date, run_dir(params, run_date), progress)
    settings = ScoringSettings()
    agreement = load_agreement(Path(params.paths.sla))
    # A URL without its signing secret stops the run before anything is written.
    webhook = resolve_webhook(
        params.daily.webhook_url, signature_format=params.delivery.signature_format
    )
    crm_push = resolve_daily_push()  # likewise a write-back without its token
    engine = engine or params.engine
    store = Store.open()  # $LEADSCORE_DB_URL, else sqlite:///leadscore.db
    cluster, held = ExitStack(), ExitStack()
    try:
        # One run per date at a time (store/run_lock.py), held until the end of the run.
        held.enter_context(store.daily_run_lock(run_date))
        check_unfinished(store, params, run_date)
        check_order(store, run_date, replay)
        client = None
        if engine.kind == "dask":
            from engine.cluster import dask_client

            client = cluster.enter_context(dask_client(engine))
        # The exports first: a broken export should not wait for a model download.
        tables, validation = validate_exports(params, day.out / VALIDATION_DIR, engine, client)
        leads, stages = tables["leads"], tables["stages"]
        events = tables.get("events")  # None on Dask: the event log stays with the workers
        exported_ids = leads["lead_id"]
        # Events posted as they happened (POST /v1/events) count with the exports'.
        leads, events, handed_live = add_ingested(store, leads, events, day.t)
        # Leads created in a CRM (BottleCRM, HubSpot, Salesforce) the exports do not hold yet.
        leads = add_crm_leads(store, leads, day.t)
        # Stages HubSpot and Salesforce sent count with the exports' (the CRM is the record).
        stages, crm_note = add_crm_stages(store, stages, day.t)
        day.step("validate")
        scorer = load_scorer(params, params_path, settings)
        day.step("model")

        scope = open_leads_at(leads, stages, day.t, params.paths.raw)
        job = (
            scoring_job(scorer, settings, params, params_path, day.t)
            if client is not None
            else None
        )
        # On Dask the workers merge what the store added with their share of the exports.
        added = store_additions(store, exported_ids, leads, day.t) if client is not None else None
        features, scores = score_open_leads(
            scorer, scope, events, stages, day.t, job, engine, client, day.out, day.step, added
        )
        cluster.close()  # the workers' memory is free before the store and delivery
        day.step("score")

        compared = compare_with_last_run(
            day,
            store,
            scores,
            (leads, stages, events),
            agreement.follow_up_hours,
            params,
            agreement.sales_desk,
            handed_live,
        )
        recap, counts = month_to_date(
            day, store, scorer, leads, stages, scores, compared, agreement, params
        )
        day.step("recap")

        header = {
            "run_date": run_date.isoformat(),
            "as_of": day.t.isoformat(),
            "model": dict(scorer.model_ref),
            "threshold": scorer.context.threshold,
            "follow_up_hours": agreement.follow_up_hours,
        }
        write_outputs(
            day.out,
            compared.handoff,
            compared.returning,
            compared.overdue,
            recap,
            counts,
            header,
            validation,
            dashboard_url=RecapLinks().dashboard_url,
        )
        day.step("write")
        store_run(day, store, scores, compared, recap, counts, header, webhook)
        if compared.owners is not None:  # after the run: the hand-off's owners (sales/)
            record_owners(store, compared.owners, day.t)
        day.step("store")
        delivery = deliver(store, webhook, params) if webhook is not None else None
        day.step("deliver")
        pushed = push_after_run(store, crm_push, run_date) if crm_push is not None else []
        if crm_push is not None:
            day.step("crm push")
        recap_mail = mail_recap(store, run_date, agreement.recap.recipients)
        day.step("recap e-mail")
        drift_notes = check_drift(day, scorer, features, scores, stages, params)
        day.step("drift")
    finally:
        cluster.close()
        held.close()
        store.close()
    return DailyResult(
        run_date=run_date,
        out_dir=day.out,
        counts=counts,
        model=header["model"],
        threshold=float(scorer.context.threshold),
        previous=compared.previous.run_date if compared.previous is not None else None,
        recap=recap,
        validation=validation,
        delivery=delivery,
        crm_push=pushed,
        notes=[
            *scorer.context.notes,
            *([crm_note] if crm_note else []),
            *recap["notes"],
            *drift_notes,
            *recap_mail,
        ],
        timings=day.timings,
        engine=engine.kind,
    )


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
    lines += [f"  {line}" for line in result.crm_push]
    for note in result.notes:
        lines.append(f"  note: {note}")
    lines.append(f"  wrote {result.out_dir}/ ({', '.join(FILES)}); store updated")
    if result.engine == "dask":
        from engine.daily_dask import FEATURES_DIR, SCORES_DIR

        lines.append(
            f"  engine dask: open leads' features and scores in {FEATURES_DIR}/, {SCORES_DIR}/"
        )
    took = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    lines.append(f"  took {sum(result.timings.values()):.1f} s ({took})")
    return lines
