"""A store of record filled for the dashboard tests and benchmark, through the Store API only.

The scores are made up (seeded, deterministic) rather than the champion's: the dashboard reads
what the daily job stores, and these tests pin how it shows it, not how the job computes it.
The month-to-date recap is the daily job's own function (daily.recap.month_recap) over the real
history of the trained project when that module is there, so Today shows real SLA arithmetic.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sla.qualify import BandLookup, scores_from_probabilities
from sla.report import open_at
from store import RunRecord, Store


@dataclass(frozen=True)
class Filled:
    run_dates: list[date]
    handoff_ids: dict[date, list[str]]  # lead ids handed over on each run day


def _history(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, Any, Any, Any]:
    import os

    from features.persona import load_personas
    from foundation.params import load_params
    from pipeline.sla_data import deal_values_by_persona, load_history, load_sla, personas_path

    here = Path.cwd()
    os.chdir(root)
    try:
        params = load_params(Path("params.yaml"))
        history = load_history(params)
        agreement = load_sla(params)
        deal_values = deal_values_by_persona(load_personas(personas_path(params)))
    finally:
        os.chdir(here)
    return history.leads, history.stages, history.persona, agreement, deal_values, params


def _targets_at(leads, stages, persona, agreement, deal_values, as_of) -> Any:
    """The targets the daily run computes on the month's first run: history cut at its date."""
    from daily.recap import cut_history
    from sla.targets import History, targets_from_agreement

    cut_leads, cut_stages = cut_history(leads, stages, as_of)
    return targets_from_agreement(agreement, History(cut_leads, cut_stages, persona), deal_values)


def _probabilities(lead_ids: pd.Series, run_day: date) -> np.ndarray:
    """A stable, skewed chance per lead and day (most leads low, a few high), like real scores."""
    seeds = np.array([zlib.crc32(f"{i}:{run_day}".encode()) for i in lead_ids], dtype=np.uint64)
    u = (seeds % np.uint64(1_000_003)).astype(float) / 1_000_003.0
    return np.clip(u**6 * 0.6, 0.001, 0.95)


REASONS = (
    "requested a demo 2 days ago",
    "viewed pricing 3 times this week",
    "attended a webinar 6 days ago",
    "downloaded 2 case studies",
    "came back after 3 weeks away",
)
ACTIVITY = (
    "5 visits (4 return), 14 pages, 2 downloads (case_study 2); intent: 1 demo requests",
    "3 visits (2 return), 8 pages; e-mail 4 opens, 2 clicks; intent: 3 pricing views",
    "7 visits (6 return), 21 pages; webinars 1 attended / 1 registered; intent: 1 forms",
    "2 visits (1 return), 5 pages, 1 downloads (whitepaper 1); intent: 2 pricing views",
)


def _pick(lead_id: str, options: tuple[str, ...], salt: str) -> str:
    return options[zlib.crc32(f"{salt}:{lead_id}".encode()) % len(options)]


def _reasons(lead_id: str, persona: str) -> list[str]:
    return [_pick(lead_id, REASONS, "r1"), f"fits the {persona} persona"]


def _activity(lead_id: str) -> str:
    return _pick(lead_id, ACTIVITY, "a")


def _recap(leads, stages, persona, agreement, targets, p_open, as_of, horizon) -> dict[str, Any]:
    try:
        from daily.recap import month_recap
    except ImportError:  # the daily package not there: a recap with the same shape, no cells
        return {"month": f"{as_of:%Y-%m}", "metrics": {}, "follow_up": {}, "cells": []}
    return month_recap(leads, stages, persona, agreement, targets, p_open, as_of, horizon, 0.9)


def fill_store(
    url: str,
    root: Path,
    run_dates: list[date],
    *,
    max_handoff: int = 12,
    lead_copies: int = 1,
    model_version: str = "1",
) -> Filled:
    """Store one run per date built from the project's history at `root`.

    `lead_copies` > 1 repeats every open lead under new ids (the benchmark's 100k leads)."""
    from daily.frozen_targets import targets_for_month
    from daily.recap import report_month
    from sla.agreement import agreement_version

    leads, stages, persona, agreement, deal_values, params = _history(root)
    version = agreement_version(root / "sla.yaml")
    tiers = BandLookup.of(agreement.tiers)
    horizon = params.features.horizon_days
    handed: dict[str, date] = {}
    out: dict[date, list[str]] = {}
    with Store.open(url) as store:
        for day in run_dates:
            as_of = pd.Timestamp(day, tz="UTC")
            existing = leads[leads["created_at"] <= as_of]
            open_ids = existing.loc[open_at(existing["lead_id"], stages, as_of).to_numpy()]
            base = open_ids[["lead_id", "channel"]].assign(
                persona=open_ids["lead_id"].map(persona).fillna("none").astype(str)
            )
            if lead_copies > 1:
                base = pd.concat(
                    [base.assign(lead_id=base["lead_id"] + f"-c{k}") for k in range(lead_copies)],
                    ignore_index=True,
                )
            p = _probabilities(base["lead_id"], day)
            score = scores_from_probabilities(p)
            threshold = 10.0
            decision = np.where(
                (score >= threshold) & (base["persona"] != "none"), "mql", "nurture"
            )
            scores = base.assign(
                probability=p,
                score=score,
                tier=tiers.names_of(score),
                decision=decision,
                rule=np.where(decision == "mql", "score", "below_threshold"),
                grade="B2",
                expected_value_eur=p * 1000.0,
                reasons=[{"reasons_for": [{"text": "visited pricing 2 days ago"}]}] * len(base),
                activity=[{"activity": "4 visits (3 return), 9 pages"}] * len(base),
            )
            new = scores[(scores["decision"] == "mql") & ~scores["lead_id"].isin(handed)]
            new = new.sort_values(["score", "lead_id"], ascending=[False, True]).head(max_handoff)
            deadline = as_of + pd.Timedelta(hours=agreement.follow_up_hours)
            handoff = pd.DataFrame(
                {
                    "lead_id": new["lead_id"],
                    "handed_at": as_of,
                    "followup_deadline": deadline,
                    "payload": [
                        {
                            "lead_id": r.lead_id,
                            "channel": r.channel,
                            "persona": r.persona,
                            "probability": float(r.probability),
                            "score": int(r.score),
                            "tier": r.tier,
                            "grade": "B2",
                            "expected_value_eur": float(r.expected_value_eur),
                            "handed_at": as_of.isoformat(),
                            "followup_deadline": deadline.isoformat(),
                            "reasons": _reasons(r.lead_id, r.persona),
                            "activity": {"activity": _activity(r.lead_id)},
                        }
                        for r in new.itertuples()
                    ],
                }
            )
            earlier = [lead for lead, d in handed.items() if d < day]
            flags = pd.DataFrame(
                [
                    {
                        "lead_id": lead,
                        "kind": "overdue",
                        "payload": {
                            "lead_id": lead,
                            "handed_on": str(handed[lead]),
                            "followup_deadline": (
                                pd.Timestamp(handed[lead], tz="UTC") + pd.Timedelta(hours=24)
                            ).isoformat(),
                            "hours_overdue": 30.0,
                            "channel": "events",
                            "persona": "enterprise_it",
                            "score": 22,
                            "decision": "mql",
                        },
                    }
                    for lead in earlier[:2]
                ]
                + [
                    {
                        "lead_id": lead,
                        "kind": "returning",
                        "payload": {
                            "lead_id": lead,
                            "status": "handed_over",
                            "handed_on": str(handed[lead]),
                            "score": 18,
                            "quiet_days": 20.5,
                            "back_at": as_of.isoformat(),
                            "events_since": 3,
                            "looked_at": "pricing, case studies",
                        },
                    }
                    for lead in earlier[2:4]
                ],
                columns=["lead_id", "kind", "payload"],
            )
            for lead in new["lead_id"]:
                handed[lead] = day
            # The month's targets as the daily run freezes them (daily/frozen_targets.py).
            targets, _, _ = targets_for_month(
                store,
                f"{report_month(as_of):%Y-%m}",
                version,
                partial(_targets_at, leads, stages, persona, agreement, deal_values, as_of),
                as_of,
            )
            recap = _recap(leads, stages, persona, agreement, targets, p, as_of, horizon)
            now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
            run = RunRecord(
                run_date=day,
                started_at=now,
                finished_at=now + timedelta(minutes=2),
                model_name="lead-propensity",
                model_version=model_version,
                threshold=threshold,
                n_open=len(scores),
                n_mql=int((decision == "mql").sum()),
                n_handoff=len(handoff),
                n_returning=int((flags["kind"] == "returning").sum()),
                n_overdue=int((flags["kind"] == "overdue").sum()),
                recap=recap,
            )
            store.save_run(run, scores, handoff, flags, [])
            out[day] = sorted(new["lead_id"])
    return Filled(run_dates=list(run_dates), handoff_ids=out)
