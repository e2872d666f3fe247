"""The event-log mapping applied chunk by chunk (pipeline/mapped_exports.py), identity by an
id-map file (features/identity.py), and same-time events ordered by a sequence column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.event_families import family_slugs
from features.mapping import apply_mapping
from features.mapping_file import load_mapping
from features.persona import load_personas
from foundation.errors import DataError
from foundation.params import FeatureParams, Params

ROOT = Path(__file__).resolve().parents[1]
SIMULATOR_MAPPING = ROOT / "configs" / "simulator_mapping.yaml"
SMALLEST_CHUNK = 1000  # params engine.chunk_rows' floor


def simulated_raw(tmp_path: Path) -> dict:
    """A small simulated export, events as gzip CSV (the chunked reader pandas provides)."""
    from pipeline import simulate

    base = {
        "paths": {
            "raw": str(tmp_path / "raw"),
            "truth": str(tmp_path / "truth"),
            "personas": str(ROOT / "personas.yaml"),
        },
        "simulate": {"n_leads": 300, "months": 6},
        "features": {"first_snapshot": "2025-03-01"},
    }
    simulate.main(Params.model_validate(base))
    raw = tmp_path / "raw"
    for table in ("events", "stages"):
        path = next(raw.glob(f"{table}.*"))
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        path.unlink()
        frame.to_csv(raw / f"{table}.csv.gz", index=False)
    return base


def params_for(base: dict, interim: Path, chunk_rows: int, mapping: Path) -> Params:
    paths = {**base["paths"], "interim": str(interim), "mapping": str(mapping)}
    return Params.model_validate({**base, "paths": paths, "engine": {"chunk_rows": chunk_rows}})


def test_mapping_in_chunks_writes_the_tables_mapping_whole_writes(tmp_path):
    from pipeline.mapped_exports import map_exports

    base = simulated_raw(tmp_path)
    n_events = len(pd.read_csv(tmp_path / "raw/events.csv.gz", usecols=[0]))
    assert n_events > 5 * SMALLEST_CHUNK  # several chunks
    out = {}
    for name, rows in (("chunked", SMALLEST_CHUNK), ("whole", 10 * n_events)):
        out[name] = map_exports(
            tmp_path / "raw", params_for(base, tmp_path / name, rows, SIMULATOR_MAPPING)
        )
    for table in ("leads", "events", "stages"):
        chunked = pd.read_parquet(out["chunked"] / f"{table}.parquet")
        whole = pd.read_parquet(out["whole"] / f"{table}.parquet")
        pd.testing.assert_frame_equal(chunked, whole)
    assert len(pd.read_parquet(out["chunked"] / "events.parquet")) == n_events


def test_a_problem_in_the_last_chunk_leaves_nothing_written(tmp_path):
    from pipeline.mapped_exports import map_exports

    base = simulated_raw(tmp_path)
    events = pd.read_csv(tmp_path / "raw/events.csv.gz", dtype=str)
    events.loc[len(events) - 1, "ts"] = "2025-03-01 10:00:00"  # naive among zoned times
    events.to_csv(tmp_path / "raw/events.csv.gz", index=False)
    interim = tmp_path / "data" / "interim"
    with pytest.raises(DataError, match=r"column 'ts' mixes times with a zone") as err:
        map_exports(tmp_path / "raw", params_for(base, interim, SMALLEST_CHUNK, SIMULATOR_MAPPING))
    assert f"row{'s'}" in str(err.value) and "events.csv.gz" in str(err.value)
    assert not (tmp_path / "data").exists()


def test_validate_through_a_mapping_keeps_nothing_of_a_run_that_fails_a_late_check(tmp_path):
    """Validate triages the mapped chunks as they come: in chunks it keeps what it keeps whole,
    and a problem seen only in the last chunk leaves the interim tables of the run before."""
    from pipeline import validate

    base = simulated_raw(tmp_path)
    kept = {}
    for name, rows in (("whole", 10**7), ("chunked", SMALLEST_CHUNK)):
        interim = tmp_path / name
        validate.main(params_for(base, interim, rows, SIMULATOR_MAPPING))
        kept[name] = {t: pd.read_parquet(interim / f"{t}.parquet") for t in ("leads", "events")}
    for table, frame in kept["whole"].items():
        pd.testing.assert_frame_equal(frame, kept["chunked"][table])
    events = pd.read_csv(tmp_path / "raw/events.csv.gz", dtype=str)
    events.loc[len(events) - 1, "ts"] = "2025-03-01 10:00:00"  # naive among zoned times
    events.to_csv(tmp_path / "raw/events.csv.gz", index=False)
    interim = tmp_path / "chunked"
    before = {p.name: p.stat().st_mtime_ns for p in interim.rglob("*.parquet")}
    with pytest.raises(DataError, match=r"column 'ts' mixes times with a zone"):
        validate.main(params_for(base, interim, SMALLEST_CHUNK, SIMULATOR_MAPPING))
    assert {p.name: p.stat().st_mtime_ns for p in interim.rglob("*.parquet")} == before
    assert not (interim / validate.STAGING).exists()


# ---- identity by an id-map file ---------------------------------------------------------------

ID_MAP_MAPPING = """\
leads:
  file: leads
  columns: {lead_id: id, created_at: signup, industry: industry}
  identity_map: {file: people, lead_id: contact, person: person}
events:
  file: events
  columns: {lead_id: who, ts: at, event_type: what}
stages:
  file: stages
  columns: {lead_id: who, stage: status, ts: when}
  names: {Accepted: sql}
"""


def id_map_log() -> dict[str, pd.DataFrame]:
    return {
        "leads": pd.DataFrame(
            {
                "id": ["A1", "A2", "B1", "C1"],
                "signup": [f"2025-01-0{d}T00:00:00Z" for d in (5, 2, 3, 4)],
                "industry": [None, "retail", "saas", "bank"],
            }
        ),
        # A1 and A2 are one person (P-a); B1 is listed as its own person; C1 is not listed.
        "identity_map": pd.DataFrame(
            {"contact": ["A1", "A2", "B1"], "person": ["P-a", "P-a", "P-b"]}
        ),
        "events": pd.DataFrame(
            {
                "who": ["A1", "A2", "A1", "B1", "C1"],
                "at": ["2025-02-01T10:00:00Z"] * 5,
                "what": ["visit", "visit", "call", "visit", "visit"],
            }
        ),
        "stages": pd.DataFrame(
            {
                "who": ["A1", "C1"],
                "status": ["Accepted", "Open"],
                "when": ["2025-03-01T00:00:00Z"] * 2,
            }
        ),
    }


def test_an_id_map_file_merges_the_rows_of_one_person_and_their_history(tmp_path):
    (tmp_path / "mapping.yaml").write_text(ID_MAP_MAPPING)
    frames = id_map_log()
    mapped = apply_mapping(
        frames, {t: f"{t}.csv" for t in frames}, load_mapping(tmp_path / "mapping.yaml"), "sql"
    )
    # A2 was created first: the person keeps its id and date, and A1's history follows it.
    assert mapped.leads["lead_id"].tolist() == ["A2", "B1", "C1"]
    assert mapped.leads.set_index("lead_id").loc["A2", "industry"] == "retail"
    assert (mapped.events["lead_id"] == "A2").sum() == 3
    assert mapped.stages.loc[mapped.stages["stage"] == "sql", "lead_id"].tolist() == ["A2"]
    assert mapped.report.counts["lead_rows_merged"] == 1


def test_validate_reads_the_id_map_export_named_by_the_mapping(tmp_path):
    from pipeline.mapped_exports import map_exports

    raw = tmp_path / "raw"
    raw.mkdir()
    for table, frame in id_map_log().items():
        name = "people" if table == "identity_map" else table
        frame.to_csv(raw / f"{name}.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(ID_MAP_MAPPING)
    params = Params.model_validate(
        {"paths": {"interim": str(tmp_path / "interim"), "mapping": str(tmp_path / "mapping.yaml")}}
    )
    out = map_exports(raw, params)
    assert pd.read_parquet(out / "leads.parquet")["lead_id"].tolist() == ["A2", "B1", "C1"]
    assert set(pd.read_parquet(out / "events.parquet")["lead_id"]) == {"A2", "B1", "C1"}


def test_an_id_map_giving_one_lead_two_persons_is_an_error_naming_its_lines(tmp_path):
    (tmp_path / "mapping.yaml").write_text(ID_MAP_MAPPING)
    frames = id_map_log()
    frames["identity_map"] = pd.DataFrame(
        {"contact": ["A1", "A2", "A1"], "person": ["P-a", "P-a", "P-z"]}
    )
    names = {t: f"{t}.csv" for t in frames}
    with pytest.raises(DataError) as err:
        apply_mapping(frames, names, load_mapping(tmp_path / "mapping.yaml"), "sql")
    message = str(err.value)
    assert "mapping.yaml line 4 (leads.identity_map)" in message
    assert "identity_map.csv gives lead id 'A1' two persons (lines 2 and 4)" in message


def test_an_id_map_column_the_file_lacks_is_named_with_a_close_name(tmp_path):
    (tmp_path / "mapping.yaml").write_text(
        ID_MAP_MAPPING.replace("person: person", "person: persn")
    )
    frames = id_map_log()
    with pytest.raises(
        DataError, match=r"column 'persn' is not in identity_map.csv; did you mean 'person'"
    ):
        apply_mapping(
            frames, {t: f"{t}.csv" for t in frames}, load_mapping(tmp_path / "mapping.yaml"), "sql"
        )


# ---- same-time events ordered by a sequence column ----------------------------------------------

SEQUENCE_MAPPING = """\
leads:
  file: leads
  columns: {lead_id: id, created_at: created}
events:
  file: events
  columns: {lead_id: case, ts: date, event_type: activity}
  sequence: seq
stages:
  file: stages
  columns: {lead_id: case, stage: activity, ts: date}
  names: {Payment: customer}
  unmapped: ignore
"""


def dated_log() -> dict[str, pd.DataFrame]:
    """Dates only, as a process log records them: one fine paid twice on one day."""
    day = "2025-02-03T23:00:00Z"
    return {
        "leads": pd.DataFrame(
            {"id": ["F1", "F2"], "created": ["2025-02-01T23:00:00Z", "2025-02-01T23:00:00Z"]}
        ),
        "events": pd.DataFrame(
            {
                "case": ["F1", "F1", "F1", "F2"],
                "date": [day, day, day, day],
                "activity": ["Add penalty", "Payment", "Payment", "Add penalty"],
                "seq": ["0", "1", "2", "0"],
            }
        ),
        "stages": pd.DataFrame({"case": ["F1"], "activity": ["Payment"], "date": [day]}),
    }


def mapped_dated(tmp_path: Path, text: str = SEQUENCE_MAPPING):
    (tmp_path / "mapping.yaml").write_text(text)
    frames = dated_log()
    names = {t: f"{t}.csv" for t in frames}
    return apply_mapping(frames, names, load_mapping(tmp_path / "mapping.yaml"), "customer")


def test_a_sequence_column_orders_same_time_events_and_keeps_same_day_repeats(tmp_path):
    events = mapped_dated(tmp_path).events
    when = pd.to_datetime(events["ts"], utc=True, format="mixed")
    first = pd.Timestamp("2025-02-03T23:00:00Z")
    assert (when - first).dt.total_seconds().tolist() == [0, 1, 2, 0]  # later, never earlier
    leads = pd.DataFrame(
        {"lead_id": ["F1", "F2"], "created_at": pd.Timestamp("2025-02-01T23:00:00Z")}
    ).assign(channel="organic_search")
    typed = events.assign(ts=when)
    params = FeatureParams(event_families=("Payment", "Add penalty"))
    personas = load_personas(ROOT / "personas.yaml")
    table = build_features(
        leads, typed, None, pd.Timestamp("2025-03-01", tz="UTC"), personas, params
    )
    slug = family_slugs(("Payment", "Add penalty"))["Payment"]
    assert table.set_index("lead_id").loc["F1", f"family_{slug}_total"] == 2
    without = mapped_dated(tmp_path, SEQUENCE_MAPPING.replace("  sequence: seq\n", "")).events
    same = without.assign(ts=pd.to_datetime(without["ts"], utc=True, format="mixed"))
    table = build_features(
        leads, same, None, pd.Timestamp("2025-03-01", tz="UTC"), personas, params
    )
    assert table.set_index("lead_id").loc["F1", f"family_{slug}_total"] == 1


def test_a_sequence_that_is_not_a_position_is_an_error_naming_the_row(tmp_path):
    (tmp_path / "mapping.yaml").write_text(SEQUENCE_MAPPING)
    frames = dated_log()
    frames["events"].loc[2, "seq"] = "2.5"
    names = {t: f"{t}.csv" for t in frames}
    with pytest.raises(DataError) as err:
        apply_mapping(frames, names, load_mapping(tmp_path / "mapping.yaml"), "customer")
    message = str(err.value)
    assert "mapping.yaml line 7 (events.sequence): events.csv column 'seq'" in message
    assert "1 rows are not a position from 0 to 3,599" in message and "row 3: '2.5'" in message


def test_init_guesses_a_sequence_column_and_leaves_it_out_when_there_is_none(tmp_path):
    from pipeline.init_project import init_project

    for name, extra in (("with", {"seq_in_case": ["0", "1"]}), ("without", {})):
        exports = tmp_path / name / "exports"
        exports.mkdir(parents=True)
        dated = dated_log()
        dated["leads"].rename(columns={"id": "lead_id", "created": "created_at"}).to_csv(
            exports / "leads.csv", index=False
        )
        events = pd.DataFrame({"lead_id": ["F1", "F1"], "ts": ["2025-02-03"] * 2, **extra})
        events.assign(event_type=["Add penalty", "Payment"]).to_csv(
            exports / "events.csv", index=False
        )
        init_project(tmp_path / name / "project", exports)
        mapping = load_mapping(tmp_path / name / "project" / "mapping.yaml").mapping
        assert mapping.events.sequence == ("seq_in_case" if extra else None)
