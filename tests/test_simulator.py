"""The simulator: deterministic, in the data contract, believable, and with a consistent truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.persona import load_personas
from foundation.params import Params
from pipeline.simulate import main

ROOT = Path(__file__).resolve().parents[1]
H = pd.Timedelta(days=60)


def make_params(tmp: Path, **simulate) -> Params:
    return Params.model_validate(
        {
            "paths": {
                "raw": str(tmp / "raw"),
                "truth": str(tmp / "truth"),
                "personas": str(ROOT / "personas.yaml"),
            },
            "simulate": simulate,
        }
    )


def run(tmp: Path, **simulate) -> dict[str, pd.DataFrame]:
    params = make_params(tmp, **simulate)
    main(params)
    frames = {
        n: pd.read_parquet(tmp / "raw" / f"{n}.parquet") for n in ("leads", "events", "stages")
    }
    frames["truth"] = pd.read_parquet(tmp / "truth" / "truth.parquet")
    return frames


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The default-sized world (6,000 leads, 22 months): large enough for funnel rates."""
    return run(tmp_path_factory.mktemp("sim"))


def first_ts(stages: pd.DataFrame, stage: str) -> pd.Series:
    return stages[stages.stage == stage].groupby("lead_id").ts.min()


def persona_fit(leads: pd.DataFrame) -> pd.Series:
    """Best share of a persona's criteria met, from what the CRM shows (missing = not met)."""
    best = pd.Series(0.0, index=leads.index)
    for p in load_personas(ROOT / "personas.yaml").personas:
        size = leads.company_size.astype("Float64")
        met = (size >= (p.company_size.min or 0)) & (size <= (p.company_size.max or math.inf))
        met = met.fillna(False).astype(float)
        met += leads.industry.isin(p.industries) + leads.job_role.isin(p.job_roles)
        met += leads.country.isin(p.countries)
        best = np.maximum(best, met / 4)
    return best


def test_same_seed_gives_byte_identical_files(tmp_path):
    for name in ("a", "b"):
        main(make_params(tmp_path / name, n_leads=800, seed=7))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) >= 5
    for rel in files:
        if rel.name == "summary.json":  # holds the wall time
            continue
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_different_seeds_give_different_data(tmp_path):
    one = run(tmp_path / "a", n_leads=800, seed=1)
    two = run(tmp_path / "b", n_leads=800, seed=2)
    for name in ("leads", "events", "stages", "truth"):
        assert not one[name].equals(two[name]), name


def test_files_follow_the_raw_data_contract(world, tmp_path):
    leads, events, stages, truth = (world[n] for n in ("leads", "events", "stages", "truth"))
    assert list(leads.columns) == [
        "lead_id", "created_at", "channel", "company_size", "industry", "job_role", "country",
        "email_domain", "company",
    ]  # fmt: skip
    assert list(events.columns) == ["lead_id", "ts", "event_type", "content_topic"]
    assert list(stages.columns) == ["lead_id", "stage", "ts", "deal_value_eur"]
    assert list(truth.columns) == ["lead_id", "snapshot", "p_true"]
    assert leads.lead_id.is_unique and len(leads) == 6000
    for frame, col in ((leads, "created_at"), (events, "ts"), (stages, "ts"), (truth, "snapshot")):
        assert str(frame[col].dt.tz) == "UTC", col
    known = set(leads.lead_id)
    assert set(events.lead_id) <= known and set(stages.lead_id) <= known
    assert set(stages.stage) <= {
        "mql",
        "contacted",
        "sql",
        "opportunity",
        "customer",
        "disqualified",
    }
    end = pd.Timestamp("2026-11-01", tz="UTC")
    assert events.ts.max() < end and stages.ts.max() < end
    created = leads.set_index("lead_id").created_at
    assert (events.ts.to_numpy() >= created.loc[events.lead_id].to_numpy()).all()


def test_personas_file_is_a_copy_of_the_agreed_one(tmp_path):
    main(make_params(tmp_path, n_leads=200))
    assert (tmp_path / "raw" / "personas.yaml").read_bytes() == (
        ROOT / "personas.yaml"
    ).read_bytes()


def test_funnel_rates_land_in_published_b2b_benchmarks(world):
    leads, stages = world["leads"], world["stages"]
    mature = leads[leads.created_at < pd.Timestamp("2026-05-01", tz="UTC")].lead_id
    reached = {s: stages[stages.lead_id.isin(mature) & (stages.stage == s)].lead_id.nunique()
               for s in ("mql", "sql", "opportunity", "customer")}  # fmt: skip
    assert 0.15 <= reached["mql"] / len(mature) <= 0.40
    assert 0.13 <= reached["sql"] / reached["mql"] <= 0.50
    assert 0.30 <= reached["opportunity"] / reached["sql"] <= 0.75
    assert 0.12 <= reached["customer"] / reached["opportunity"] <= 0.40  # few opportunities


def test_stages_follow_the_funnel_order(world):
    stages = world["stages"]
    wide = {s: first_ts(stages, s) for s in ("mql", "contacted", "sql", "opportunity", "customer")}
    for before, after in (("mql", "contacted"), ("contacted", "sql"), ("sql", "opportunity"),
                          ("opportunity", "customer")):  # fmt: skip
        later = wide[after]
        assert later.index.isin(wide[before].index).all(), f"{after} without {before}"
        assert (wide[before].loc[later.index] <= later).all(), f"{after} before {before}"


def test_engaged_well_fitting_leads_reach_sql_more_often(world):
    leads, events, stages = world["leads"], world["events"], world["stages"]
    leads = leads[leads.created_at < pd.Timestamp("2026-05-01", tz="UTC")].set_index("lead_id")
    sql = leads.index.isin(first_ts(stages, "sql").index)
    strong = events[events.event_type.isin(["pricing_view", "demo_request", "webinar_attend"])]
    engaged = leads.index.isin(strong.lead_id)
    fits = persona_fit(leads.reset_index()).to_numpy() >= 0.75
    top, rest = sql[engaged & fits], sql[~(engaged & fits)]
    p_top, p_rest = top.mean(), rest.mean()
    pooled = sql.mean()
    z = (p_top - p_rest) / math.sqrt(pooled * (1 - pooled) * (1 / len(top) + 1 / len(rest)))
    assert p_top > 2 * p_rest and z > 4, (p_top, p_rest, z)


def test_busy_non_buyers_never_reach_sql(world):
    leads, events, stages = world["leads"], world["events"], world["stages"]
    students = leads[leads.job_role.isin(["student", "intern"])].lead_id
    competitors = leads[leads.email_domain.isin(["leadrival.com", "scoreforge.io"])].lead_id
    busy = pd.concat([students, competitors])
    assert len(busy) > 50
    assert events.lead_id.isin(busy).sum() / len(busy) > events.shape[0] / len(leads) / 2
    assert not first_ts(stages, "sql").index.isin(busy).any()


def test_slow_follow_up_lowers_sql_conversion(tmp_path):
    def sql_per_mql(median_hours: float) -> float:
        frames = run(tmp_path / str(median_hours), n_leads=3000, followup_median_hours=median_hours)
        stages = frames["stages"]
        return first_ts(stages, "sql").size / first_ts(stages, "mql").size

    fast, slow = sql_per_mql(0.25), sql_per_mql(72)
    assert slow < 0.6 * fast, (fast, slow)


def test_truth_covers_each_snapshot_population_with_valid_probabilities(world):
    leads, stages, truth = world["leads"], world["stages"], world["truth"]
    snapshots = pd.date_range("2025-02-01", "2026-11-01", freq="MS", tz="UTC")
    assert list(np.sort(truth.snapshot.unique())) == list(snapshots)
    assert truth.p_true.between(0, 1).all() and not truth.duplicated(["lead_id", "snapshot"]).any()
    created = leads.set_index("lead_id").created_at
    sql = first_ts(stages, "sql")
    for snapshot in snapshots[::5]:
        expected = set(created[created <= snapshot].index) - set(sql[sql <= snapshot].index)
        assert set(truth[truth.snapshot == snapshot].lead_id) == expected


def test_truth_is_calibrated_against_realised_sql(world):
    truth, stages = world["truth"], world["stages"]
    sql = first_ts(stages, "sql").reindex(truth.lead_id).to_numpy()
    complete = truth.snapshot + H < pd.Timestamp("2026-11-01", tz="UTC")
    label = (sql > truth.snapshot.to_numpy()) & (sql <= (truth.snapshot + H).to_numpy())
    p, y = truth.p_true[complete], label[complete]
    sd = math.sqrt((p * (1 - p)).sum())
    assert abs(y.sum() - p.sum()) < 4 * sd, (y.sum(), p.sum())
    top = p >= p.quantile(0.9)
    assert y[top].mean() > 5 * y[~top].mean()  # the truth ranks, too


def test_customers_have_positive_deal_values_near_persona_averages(world):
    stages = world["stages"]
    customers = stages[stages.stage == "customer"]
    assert len(customers) > 20
    assert (customers.deal_value_eur > 0).all()
    assert stages[stages.stage != "customer"].deal_value_eur.isna().all()
    averages = [p.avg_deal_value_eur for p in load_personas(ROOT / "personas.yaml").personas]
    assert min(averages) / 3 < customers.deal_value_eur.median() < max(averages)


def test_export_has_the_noise_a_real_crm_has(world):
    leads, events = world["leads"], world["events"]
    assert events.duplicated(["lead_id", "event_type", "ts"]).sum() > 0 or (
        events.assign(s=events.ts.dt.floor("5s")).duplicated(["lead_id", "event_type", "s"]).any()
    )
    assert 0.05 < 1 - leads.lead_id.isin(events.lead_id).mean() < 0.4  # leads with no events
    assert leads.email_domain.isin(["gmail.com", "gmx.de", "outlook.com"]).mean() > 0.03
    for column in ("company_size", "industry", "job_role", "country"):
        assert 0.03 < leads[column].isna().mean() < 0.3, column
    assert set(leads.channel) >= {"organic_search", "paid_search", "referral", "outbound"}
    assert leads.channel.value_counts(normalize=True).max() < 0.35


def test_duplicate_events_exist(world):
    events = world["events"]
    key = events.assign(second=events.ts.dt.floor("min"))
    assert key.duplicated(["lead_id", "event_type", "second"]).sum() > 0.005 * len(events)


def test_recent_activity_says_more_than_old(world):
    """Engagement in the 30 days before a snapshot separates positives better than older."""
    events, truth, stages = world["events"], world["truth"], world["stages"]
    snapshot = pd.Timestamp("2026-03-01", tz="UTC")
    pop = truth[truth.snapshot == snapshot].set_index("lead_id")
    sql = first_ts(stages, "sql").reindex(pop.index)
    label = (sql > snapshot) & (sql <= snapshot + H)
    age = snapshot - events.ts
    recent = events[(age > pd.Timedelta(0)) & (age <= pd.Timedelta(days=30))]
    old = events[(age > pd.Timedelta(days=120)) & (age <= pd.Timedelta(days=150))]
    lift = {}
    for name, frame in (("recent", recent), ("old", old)):
        active = pop.index.isin(frame.lead_id)
        lift[name] = label[active].mean() / max(label[~active].mean(), 1e-9)
    assert lift["recent"] > lift["old"], lift


def test_lead_volume_dips_in_august_and_december(world):
    month = world["leads"].created_at.dt.month
    assert (month.isin([8, 12])).sum() < 0.8 * (month.isin([9, 10])).sum()
