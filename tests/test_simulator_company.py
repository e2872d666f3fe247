"""The simulated leads carry a company (for the rep's hand-off and lead page), derived from the
corporate e-mail domain, and the default training table does not move: the same simulated
exports validated with and without the column give the same training table, to the hash."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.persona import load_personas
from features.snapshots import training_table
from foundation.params import Params
from tests.test_event_log_mapping import table_hash

ROOT = Path(__file__).resolve().parents[1]


def test_simulated_company_is_read_off_the_domain_and_leaves_the_training_table_as_it_was(
    tmp_path: Path,
) -> None:
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
    raw = tmp_path / "raw"
    leads_file = next(raw.glob("leads.*"))
    leads = pd.read_parquet(leads_file) if leads_file.suffix == ".parquet" else None
    assert leads is not None
    corporate = leads["company"].notna()
    assert 0.2 < corporate.mean() < 0.95  # free mail, students and competitors have none
    sample = leads[corporate].iloc[0]
    stem = sample["email_domain"].split(".")[0]
    assert sample["company"].lower().replace(" ", "").startswith(stem)

    without = tmp_path / "raw-without"
    without.mkdir()
    for path in raw.iterdir():
        if path.is_file():
            (without / path.name).write_bytes(path.read_bytes())
    leads.drop(columns=["company"]).to_parquet(without / leads_file.name)

    tables = {}
    for name, folder in (("with", raw), ("without", without)):
        paths = {**base["paths"], "raw": str(folder), "interim": str(tmp_path / name)}
        params = Params.model_validate({**base, "paths": paths})
        validate.main(params)
        frames = [read_interim(tmp_path / name, t) for t in ("leads", "events", "stages")]
        personas = load_personas(tmp_path / name / "personas.yaml")
        tables[name] = training_table(*frames, personas, params.features).table
    assert "company" in read_interim(tmp_path / "with", "leads").columns
    assert len(tables["with"]) > 1000
    assert table_hash(tables["with"]) == table_hash(tables["without"])
