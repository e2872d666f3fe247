"""Re-scoring on arrival gives what the daily scorer gives for the same history: the worker's
micro-batches (one read, one feature pass, one predict per step; hand-offs explained together)
must not change a single score, reason or activity count. A real LightGBM model trained on the
pipeline's features (tests/serve_fixtures.py), the real accept path and worker, a real store
(SQLite and PostgreSQL), and the daily run's own scoring function (engine.daily_dask)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from daily.handoff import reason_words
from engine.daily_dask import day_scores
from features.mapping_file import load_mapping
from features.mapping_one import EventNamer
from foundation.params import DeliveryParams, IngestParams
from ingest.replay import identify_messages, track_messages
from ingest.rescore import Rules, quiet_period_end
from ingest.service import Ingest
from ingest.worker import Worker
from scoring.scorer import Scorer
from sla.qualify import NURTURE
from store import Store, schema
from store.events import EventStore, LeadState
from tests.serve_fixtures import T, small_scorer, synthetic_crm, train_small_model
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

N_LEADS = 16
# The history arrives in two parts, a month apart: the second step re-scores leads that already
# have a live score, from their whole stored history.
SPLIT = T - pd.Timedelta(days=30)
RULES = Rules(follow_up_hours=24, quiet_days=14)
NO_STAGES = pd.DataFrame(columns=["lead_id", "stage", "ts"])


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    return small_scorer(train_small_model(tmp_path_factory.mktemp("model") / "model.joblib"))


@pytest.fixture(scope="module")
def crm() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads with events on both sides of SPLIT (the others say nothing about re-scoring)."""
    leads, events = synthetic_crm(seed=7, n_leads=200)
    created = events["lead_id"].map(leads.set_index("lead_id")["created_at"])
    events = events[events["ts"] > created]  # a lead's events after it exists
    both = events.groupby("lead_id")["ts"].agg(lambda ts: ts.min() < SPLIT <= ts.max())
    chosen = both[both].index[:N_LEADS]
    return (
        leads[leads["lead_id"].isin(chosen)].reset_index(drop=True),
        events[events["lead_id"].isin(chosen)].sort_values("ts").reset_index(drop=True),
    )


def _daily(scorer: Scorer, lead: pd.DataFrame, events: pd.DataFrame, as_of: datetime) -> dict:
    """The daily run's score row of one lead as of `as_of` (its features, reasons, activity)."""
    _, scores = day_scores(scorer, lead, events, NO_STAGES, pd.Timestamp(as_of))
    return scores.iloc[0].to_dict()


def _live_scores(url: str) -> dict[str, dict]:
    t = schema.live_scores
    with Store.open(url) as store, store.engine.connect() as conn:
        return {r["lead_id"]: dict(r) for r in conn.execute(t.select()).mappings()}


def test_live_scores_hand_offs_and_activity_equal_the_daily_scorers_for_the_same_history(
    scorer: Scorer, crm: tuple[pd.DataFrame, pd.DataFrame], store_url: str
) -> None:
    """Three parts of the history; the first and the last re-scored by one worker, the middle
    one by another (a second service process): the first worker's kept histories of the leads
    the second one touched are stale and must be read again, the others brought up to date."""
    leads, events = crm
    now = datetime.now(UTC)
    later = SPLIT + pd.Timedelta(days=15)
    parts = {
        "first": events[events["ts"] < SPLIT],
        "second": events[(events["ts"] >= SPLIT) & (events["ts"] < later)],
        "third": events[events["ts"] >= later],
    }
    params = IngestParams(max_batch=10_000)
    live: dict[str, dict[str, dict]] = {}
    with Store.open(store_url) as store:
        one, other = (
            Worker(store, lambda: scorer, RULES, params, None, DeliveryParams()) for _ in range(2)
        )
        for stage, worker in (("first", one), ("second", other), ("third", one)):
            ingest = Ingest(EventNamer(load_mapping(None)), params, worker)
            batch = [*identify_messages(leads), *track_messages(parts[stage])]
            ingest.accept({"batch": batch}, now)
            reads, kept = one.history.reads, one.history.kept_hits
            while worker.step(now) > 0:
                pass
            live[stage] = _live_scores(store_url)
        assert one.history.reads > reads and one.history.kept_hits > kept  # both ways taken
        counters, phases, latency = one.measures.snapshot()
        assert latency.n == counters.rescored > 0 and all(t >= 0 for t in phases.values())
        assert EventStore(store).backlog().waiting == 0
        alerts = EventStore(store).alerts()

    seen = {
        "first": parts["first"],
        "second": events[events["ts"] < later],
        "third": events,
    }
    for stage, history_so_far in seen.items():
        assert set(live[stage]) == set(leads["lead_id"]), stage
        for lead_id, row in live[stage].items():
            history = history_so_far[history_so_far["lead_id"] == lead_id]
            as_of = pd.Timestamp(history["ts"].max()).to_pydatetime()
            assert row["as_of"] == as_of, (stage, lead_id)
            daily = _daily(scorer, leads[leads["lead_id"] == lead_id], history, as_of)
            got = (row["probability"], row["score"], row["decision"])
            want = (daily["probability"], daily["score"], daily["decision"])
            assert got == want, (stage, lead_id)

    handoffs = alerts[alerts["kind"] == "handoff"]
    assert len(handoffs) >= 2, "the test needs leads that cross the threshold"
    assert handoffs["lead_id"].is_unique
    for record in handoffs["payload_json"]:
        lead_id = record["lead_id"]
        # The history of the step it crossed in: the first part after which it was an MQL.
        stage = next(s for s in seen if live[s][lead_id]["decision"] == "mql")
        history = seen[stage][seen[stage]["lead_id"] == lead_id]
        as_of = pd.Timestamp(history["ts"].max()).to_pydatetime()
        daily = _daily(scorer, leads[leads["lead_id"] == lead_id], history, as_of)
        assert (record["probability"], record["score"]) == (daily["probability"], daily["score"])
        assert record["reasons"] == reason_words(daily["reasons"])
        assert {k: v for k, v in record["activity"].items() if k != "activity"} == daily["activity"]
        assert record["handed_at"] == pd.Timestamp(now).isoformat()
        assert datetime.fromisoformat(record["followup_deadline"]) == now + timedelta(hours=24)


def test_a_return_is_the_first_new_on_site_event_after_the_quiet_period() -> None:
    """Only a new on-site event ends a quiet period; the gap is to the on-site event before it,
    whatever else (e-mail) happened meanwhile; an old return is not alerted again."""
    day = datetime(2026, 11, 1, tzinfo=UTC)
    history = [
        (day, "site_visit", None),
        (day + timedelta(days=10), "email_open", None),  # not on the site: no end of quiet
        (day + timedelta(days=20), "page_view", None),  # back after 20 days, alerted before
        (day + timedelta(days=21), "site_visit", None),
        (day + timedelta(days=40), "site_visit", None),  # back after 19 days: new
    ]
    ids = ["m0", "m1", "m2", "m3", "m4"]
    state = LeadState("L", {}, history, ids, previous_decision=NURTURE, handed_over=False)
    assert quiet_period_end(state, {"m1", "m3"}, quiet_days=14) is None
    assert quiet_period_end(state, {"m3", "m4"}, quiet_days=14) == (4, 3, 19.0)
    assert quiet_period_end(state, {"m2"}, quiet_days=14) == (2, 0, 20.0)
    assert quiet_period_end(state, {"m4"}, quiet_days=20) is None
