"""The event-log mapping (features/mapping.py) and the event families (features/event_families.py):
rules, stages, identity, the checks that stop a bad mapping before any work, and point in time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.event_families import (
    OTHER_FAMILY,
    family_features,
    family_phrases,
    family_slugs,
    resolve_families,
)
from features.mapping import apply_mapping
from features.mapping_file import MappingFile, load_mapping
from features.persona import load_personas
from features.snapshots import snapshot_dates, training_table
from foundation.errors import ConfigError, DataError
from foundation.params import FeatureParams, Params

ROOT = Path(__file__).resolve().parents[1]
UTC = "UTC"


def mapping_file(tmp_path: Path, text: str) -> MappingFile:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    return load_mapping(path)


def leads(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "signup": [f"2025-01-0{i + 1}T00:00:00Z" for i in range(n)],
        }
    )


def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "who": ["L0", "L0", "L1", "L1", "L2"],
            "at": ["2025-02-01T10:00:00Z"] * 5,
            "what": ["Page view", "Page view", "Form submission", "invited", "Page view"],
            "url": ["/pricing/plans", "/blog/x", None, None, "/docs"],
        }
    )


def stage_log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "who": ["L0", "L0", "L0", "L1"],
            "status": ["Qualified", "Accepted", "Qualified", "Lost"],
            "when": [
                "2025-02-02T00:00:00Z",
                "2025-02-10T00:00:00Z",
                "2025-03-01T00:00:00Z",
                "2025-02-05T00:00:00Z",
            ],
        }
    )


MAPPING = """\
leads:
  file: leads
  columns: {lead_id: id, created_at: signup}
events:
  file: events
  columns: {lead_id: who, ts: at, event_type: what}
  types:
    - {name: Page view, property: url, pattern: "^/pricing", as: pricing_view}
    - {name: Page view, as: page_view}
    - {pattern: "(?i)^form", as: form_submit}
  content_topic:
    property: url
    rules: [{pattern: "/blog/", as: how_to}]
stages:
  file: stages
  columns: {lead_id: who, stage: status, ts: when}
  names: {Qualified: mql, Accepted: sql}
  lost: [Lost]
"""


def sources() -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    frames = {"leads": leads(), "events": events(), "stages": stage_log()}
    return frames, {t: f"{t}.csv" for t in frames}


def test_event_rules_match_by_name_and_regex_first_rule_wins(tmp_path):
    frames, names = sources()
    mapped = apply_mapping(frames, names, mapping_file(tmp_path, MAPPING), "sql")
    assert mapped.events["event_type"].tolist() == [
        "pricing_view",
        "page_view",
        "form_submit",
        "invited",  # no rule: kept in the source's words
        "page_view",
    ]
    assert mapped.events["content_topic"].tolist()[:2] == [pd.NA, "how_to"] or (
        pd.isna(mapped.events["content_topic"].iloc[0])
        and mapped.events["content_topic"].iloc[1] == "how_to"
    )
    assert mapped.report.counts["events_in_source_words"] == 1


NAME_RULES = """\
leads:
  file: leads
  columns: {lead_id: id, created_at: signup}
events:
  file: events
  columns: {lead_id: who, ts: at, event_type: what}
  types:
    - {name: Page view, pattern: "^Page", as: page_view}
    - {pattern: "(?i)^form", as: form_submit}
    - {name: page_view, as: pricing_view}
    - {name: Meeting, as: demo_request}
    - {name: Ghost, as: webinar_attend}
    - {pattern: "e", as: site_visit}
stages:
  file: stages
  columns: {lead_id: who, stage: status, ts: when}
  names: {Qualified: mql, Accepted: sql}
"""


def test_name_rules_decided_per_distinct_name_give_what_rules_run_per_row_give(tmp_path):
    """Without a property pattern the rules are decided once per distinct name: the event
    types and every rule's hits and tries must be those of the rules run row by row (a rule
    naming an earlier rule's `as`, a name no row has, rows without a name)."""
    from features.mapping import RuleTally, rules_by_name, rules_by_row

    mf = mapping_file(tmp_path, NAME_RULES)
    names = ["Page view", "Form submission", None, "Meeting", "invited", "Page view", "form", None]
    codes, uniques = pd.factorize(pd.Series(names, dtype="string"), use_na_sentinel=True)
    codes = codes.astype(np.int32)
    labels = [str(u) for u in uniques]
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    rules = mf.mapping.events.types
    results = {}
    for how in ("name", "row"):
        code_of = {label: i for i, label in enumerate(labels)}
        tally = RuleTally([0] * len(rules), [0] * len(rules))
        if how == "name":
            out, mapped = rules_by_name(codes, labels, code_of, counts, rules, tally)
        else:
            out, mapped = rules_by_row(codes, labels, code_of, pd.DataFrame(), rules, tally)
        types = [list(code_of)[c] if c >= 0 else None for c in out]
        results[how] = (types, mapped, tally.hits, tally.tried)
    assert results["name"] == results["row"]
    assert results["name"][0] == [
        "page_view", "form_submit", None, "demo_request", "site_visit", "page_view", "form_submit",
        None,
    ]  # fmt: skip
    assert results["name"][2] == [2, 2, 0, 1, 0, 1]  # hits: 'page_view' is no source name
    assert results["name"][3] == [2, 6, 0, 1, 0, 3]  # tries: rows without a name count


def test_stage_names_lost_and_backward_moves_are_kept(tmp_path):
    frames, names = sources()
    mapped = apply_mapping(frames, names, mapping_file(tmp_path, MAPPING), "sql")
    assert mapped.stages["stage"].tolist() == ["mql", "sql", "mql", "disqualified"]


def test_stage_date_columns_become_stage_rows(tmp_path):
    frames, names = sources()
    frames["leads"]["Became customer"] = ["2025-04-01T00:00:00Z", None, ""]
    dates = "  stage_dates: {customer: Became customer}\n"
    text = MAPPING.replace("  file: leads\n", "  file: leads\n" + dates)
    mapped = apply_mapping(frames, names, mapping_file(tmp_path, text), "sql")
    rows = mapped.stages[mapped.stages["stage"] == "customer"]
    assert rows[["lead_id", "ts"]].values.tolist() == [["L0", "2025-04-01T00:00:00Z"]]


def test_identity_merges_duplicate_people_and_their_history(tmp_path):
    frames, names = sources()
    frames["leads"] = pd.DataFrame(
        {
            "id": ["L0", "L1", "L2", "L9"],
            "signup": [
                "2025-01-05T00:00:00Z",
                "2025-01-02T00:00:00Z",
                "2025-01-03T00:00:00Z",
                None,
            ],
            "email": ["a@x.io", "b@x.io", " A@X.io ", None],
            "industry": [None, "retail", "saas", "bank"],
        }
    )
    text = MAPPING.replace(
        "  columns: {lead_id: id, created_at: signup}\n",
        "  columns: {lead_id: id, created_at: signup, industry: industry}\n  identity: email\n",
    )
    mapped = apply_mapping(frames, names, mapping_file(tmp_path, text), "sql")
    # L0 and L2 are one person; L2 was created first, so its id and date win.
    assert mapped.leads["lead_id"].tolist() == ["L1", "L2", "L9"]
    person = mapped.leads.set_index("lead_id").loc["L2"]
    assert person["created_at"] == "2025-01-03T00:00:00Z" and person["industry"] == "saas"
    assert "L0" not in set(mapped.events["lead_id"]) | set(mapped.stages["lead_id"])
    assert (mapped.events["lead_id"] == "L2").sum() == 3
    assert mapped.report.counts["lead_rows_merged"] == 1


def test_missing_column_is_an_error_naming_file_line_and_a_close_name(tmp_path):
    frames, names = sources()
    text = MAPPING.replace("ts: at", "ts: att")
    with pytest.raises(DataError) as err:
        apply_mapping(frames, names, mapping_file(tmp_path, text), "sql")
    message = str(err.value)
    assert "mapping.yaml line 6 (events.columns.ts)" in message
    assert "column 'att' is not in events.csv; did you mean 'at'?" in message


def test_a_rule_matching_nothing_is_a_warning_with_counts(tmp_path):
    frames, names = sources()
    text = MAPPING.replace('pattern: "^/pricing"', 'pattern: "^/tarifs"')
    mapped = apply_mapping(frames, names, mapping_file(tmp_path, text), "sql")
    (warning,) = [w for w in mapped.report.warnings if "tarifs" in w]
    assert "line 8 (events.types.0)" in warning
    assert "tried on their url of 3 events named 'Page view'" in warning


def test_target_stage_that_never_occurs_is_an_error(tmp_path):
    frames, names = sources()
    with pytest.raises(DataError, match=r"no stage row maps to the target stage 'customer'"):
        apply_mapping(frames, names, mapping_file(tmp_path, MAPPING), "customer")


def test_a_label_with_one_class_is_an_error(tmp_path):
    frames, names = sources()
    frames["stages"] = pd.DataFrame(
        {
            "who": ["L0", "L1", "L2"],
            "status": ["Accepted"] * 3,
            "when": ["2025-03-01T00:00:00Z"] * 3,
        }
    )
    with pytest.raises(DataError, match=r"every lead \(3\) reaches the target stage 'sql'"):
        apply_mapping(frames, names, mapping_file(tmp_path, MAPPING), "sql")


def test_most_events_before_lead_creation_is_an_error(tmp_path):
    frames, names = sources()
    frames["events"]["at"] = "2024-06-01T00:00:00Z"
    with pytest.raises(DataError) as err:
        apply_mapping(frames, names, mapping_file(tmp_path, MAPPING), "sql")
    message = str(err.value)
    assert "line 6 (events.columns.ts): 5 events (100.0%) of events.csv are dated ('at')" in message
    assert "before their lead's created_at (leads.csv column 'signup'" in message


def test_time_zones_mixed_in_a_column_are_an_error(tmp_path):
    frames, names = sources()
    frames["events"].loc[0, "at"] = "2025-02-01 10:00:00"
    with pytest.raises(DataError) as err:
        apply_mapping(frames, names, mapping_file(tmp_path, MAPPING), "sql")
    assert "line 6 (events.columns.ts)" in str(err.value)
    assert "mixes times with a zone (4 rows" in str(err.value)


def test_problems_are_reported_together(tmp_path):
    frames, names = sources()
    text = MAPPING.replace("ts: at", "ts: att").replace("stage: status", "stage: state")
    with pytest.raises(DataError, match="2 problems") as err:
        apply_mapping(frames, names, mapping_file(tmp_path, text), "sql")
    assert "'att'" in str(err.value) and "'state'" in str(err.value)


def test_a_typo_in_the_mapping_names_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line 6: events\.colums: unknown key"):
        mapping_file(
            tmp_path, MAPPING.replace("  columns: {lead_id: who", "  colums: {lead_id: who")
        )


def test_a_bad_mapping_stops_validate_before_anything_is_written(tmp_path):
    from pipeline import validate

    raw = tmp_path / "raw"
    raw.mkdir()
    frames, _ = sources()
    for table, frame in frames.items():
        frame.to_csv(raw / f"{table}.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(MAPPING.replace("ts: at", "ts: att"))
    params = Params.model_validate(
        {
            "paths": {
                "raw": str(raw),
                "interim": str(tmp_path / "interim"),
                "mapping": str(tmp_path / "mapping.yaml"),
                "personas": str(ROOT / "personas.yaml"),
            }
        }
    )
    with pytest.raises(DataError, match="did you mean 'at'"):
        validate.main(params)
    assert not (tmp_path / "interim").exists()


# ---- event families ---------------------------------------------------------------------


def test_unmapped_types_with_volume_get_families_rare_ones_pool():
    counts = pd.Series({"invited": 50, "exported": 3, "page_view": 900, "created": 50, "x": 1})
    assert resolve_families(counts, 10) == ("created", "invited", OTHER_FAMILY)
    assert resolve_families(counts[["invited", "page_view"]], 10) == ("invited",)


def test_family_slugs_are_column_safe_and_unique():
    slugs = family_slugs(["Send Fine", "send-fine", OTHER_FAMILY])
    assert slugs == {"Send Fine": "send_fine", "send-fine": "send_fine_2", OTHER_FAMILY: "other"}


def family_events() -> pd.DataFrame:
    t = pd.Timestamp("2025-03-01", tz=UTC)
    return pd.DataFrame(
        {
            "lead_id": ["a", "a", "a", "b", "b", "b"],
            "ts": [t - pd.Timedelta(days=d) for d in (1, 1, 40, 2, 3, 0)],
            "event_type": ["Send Fine", "Send Fine", "Send Fine", "rare1", "rare2", "page_view"],
        }
    )


def test_family_features_count_windows_recency_and_pool_other():
    params = FeatureParams(event_families=("Send Fine", OTHER_FAMILY), windows_days=(7, 30))
    out = family_features(
        family_events(), pd.Series(["a", "b"]), pd.Timestamp("2025-03-01", tz=UTC), params
    )
    # Two events of one type in the same second count once.
    assert out["family_send_fine_7d"].tolist() == [1.0, 0.0]
    assert out["family_send_fine_total"].tolist() == [2.0, 0.0]
    assert out["family_send_fine_days_since_last"][0] == pytest.approx(1.0)
    assert np.isnan(out["family_send_fine_days_since_last"][1])
    assert out["family_other_7d"].tolist() == [0.0, 2.0]  # two source types, canonical left out


def test_events_after_t_never_change_family_features():
    params = FeatureParams(event_families=("Send Fine", OTHER_FAMILY))
    as_of = pd.Timestamp("2025-03-01", tz=UTC)
    base = family_events()
    later = base.assign(ts=as_of + pd.Timedelta(seconds=1))
    ids = pd.Series(["a", "b"])
    before = family_features(base, ids, as_of, params)
    after = family_features(pd.concat([base, later]), ids, as_of, params)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_family_reasons_read_in_the_sources_words():
    from models.explain import describe

    params = FeatureParams(event_families=("Insert Fine Notification",), windows_days=(7,))
    phrases = family_phrases(params)
    text = describe("family_insert_fine_notification_7d", 2.0, phrases)
    assert text == "'Insert Fine Notification' 2 times in the last 7 days"


def test_the_service_computes_families_as_the_batch_does():
    from datetime import datetime

    from scoring.features_fast import FastFeatures

    personas = load_personas(ROOT / "personas.yaml")
    params = FeatureParams(event_families=("Send Fine", OTHER_FAMILY))
    fast = FastFeatures(params, personas)
    ev = family_events()
    lead = ev[ev["lead_id"] == "a"]
    as_of = datetime(2025, 3, 1, tzinfo=pd.Timestamp(0, tz=UTC).tzinfo)
    one = fast.families(
        [(t.to_pydatetime(), e, None) for t, e in zip(lead["ts"], lead["event_type"], strict=True)],
        as_of,
    )
    batch = family_features(ev, pd.Series(["a"]), pd.Timestamp(as_of), params)
    assert one == {k: float(v[0]) for k, v in batch.items()} or all(
        (np.isnan(one[k]) and np.isnan(v[0])) or one[k] == v[0] for k, v in batch.items()
    )


# ---- snapshots ------------------------------------------------------------------------------


def test_snapshot_cadence_weeks_and_quarters():
    end = pd.Timestamp("2025-02-20", tz=UTC)
    weeks = snapshot_dates(pd.Timestamp("2025-01-01").date(), None, end, "week")
    assert weeks[0] == pd.Timestamp("2024-12-30", tz=UTC) and weeks[-1] == pd.Timestamp(
        "2025-02-17", tz=UTC
    )
    quarters = snapshot_dates(pd.Timestamp("2024-05-10").date(), None, end, "quarter")
    assert quarters == [
        pd.Timestamp(d, tz=UTC) for d in ("2024-04-01", "2024-07-01", "2024-10-01", "2025-01-01")
    ]


# ---- the default vocabulary changes nothing -------------------------------------------------


def table_hash(table: pd.DataFrame) -> str:
    return hashlib.sha256(
        pd.util.hash_pandas_object(table, index=False).values.tobytes()
    ).hexdigest()


def test_simulator_mapping_gives_the_same_training_table_as_no_mapping(tmp_path):
    """The shipped simulator mapping (configs/simulator_mapping.yaml) spells out the contract's
    vocabulary: validating the simulated exports through it must change no feature, no label."""
    from pipeline import simulate, validate
    from pipeline.features import read_interim

    base = {
        "paths": {
            "raw": str(tmp_path / "raw"),
            "truth": str(tmp_path / "truth"),
            "personas": str(ROOT / "personas.yaml"),
        },
        "simulate": {"n_leads": 800, "months": 8},
        "features": {"first_snapshot": "2025-03-01"},
    }
    simulate.main(Params.model_validate(base))
    tables, interim = {}, {}
    for name, mapping in (
        ("plain", None),
        ("mapped", str(ROOT / "configs/simulator_mapping.yaml")),
    ):
        paths = {**base["paths"], "interim": str(tmp_path / name), "mapping": mapping}
        params = Params.model_validate({**base, "paths": paths})
        validate.main(params)
        frames = [read_interim(tmp_path / name, t) for t in ("leads", "events", "stages")]
        interim[name] = frames
        personas = load_personas(tmp_path / name / "personas.yaml")
        tables[name] = training_table(*frames, personas, params.features).table
    for plain, mapped in zip(interim["plain"], interim["mapped"], strict=True):
        pd.testing.assert_frame_equal(plain, mapped)  # the company too: the rep reads it
    assert len(tables["plain"]) > 1000 and tables["plain"]["label"].sum() > 10
    pd.testing.assert_frame_equal(tables["plain"], tables["mapped"])
    assert table_hash(tables["plain"]) == table_hash(tables["mapped"])


def test_build_features_without_families_has_no_family_columns():
    from features.build import feature_spec

    assert not any(c.startswith("family_") for c in feature_spec(FeatureParams()).columns)
    with_families = feature_spec(FeatureParams(event_families=("x",)))
    assert "family_x_total" in with_families.numeric


# ---- leadscore init -------------------------------------------------------------------------


def test_init_writes_a_loadable_mapping_template_listing_the_exports_names(tmp_path):
    from pipeline.init_project import init_project
    from tests.foreign_log import build_log

    build_log(tmp_path / "exports")
    written = init_project(tmp_path / "project", tmp_path / "exports")
    assert {p.name for p in written} >= {"params.yaml", "dvc.yaml", "mapping.yaml", "sla.yaml"}
    template = (tmp_path / "project" / "mapping.yaml").read_text()
    assert "# activity.csv.gz" in template and "'Page view'" in template
    assert "'Marketing Qualified'" in template  # the stage names to map, as comments
    mf = load_mapping(tmp_path / "project" / "mapping.yaml")
    assert mf.mapping.events.file == "activity" and mf.mapping.stages.file == "lifecycle"
    assert mf.mapping.events.columns["event_type"] == "activity"
    params = Params.model_validate(
        yaml.safe_load((tmp_path / "project" / "params.yaml").read_text())
    )
    assert str(params.paths.raw) == "../exports"
    with pytest.raises(ConfigError, match="already exist"):
        init_project(tmp_path / "project", tmp_path / "exports")
