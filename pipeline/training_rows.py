"""The rows train, evaluate and register read: the training table without the leads
`train.exclude_leads` lists (models/exclusions.py says why).

One reader for the three stages, so the model, its baselines and the champion it is compared
with are judged on the same rows; evaluate and register also check that the list is the one
train used (a list exported again between the stages would silently change the test rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from foundation.csv_safe import FORMULA_STARTS, PREFIX
from foundation.errors import ConfigError, DataError
from foundation.io import read_table, read_yaml
from foundation.params import Params
from models.exclusions import LEAD_ID, Exclusion, exclude_leads
from models.tracking import file_sha256
from pipeline.layout import training_table_path

KEY = "train.exclude_leads"
DVC_FILE = Path("dvc.yaml")  # the project's, in the folder the stages run in


def excluded_lead_ids(path: Path) -> list[str]:
    """The lead ids of an exclusion file; a missing file, a missing `lead_id` column or an empty
    id is an error naming the key, the file and the row."""
    if not Path(path).exists():
        raise ConfigError(
            f"{KEY}: {path}: file not found (export it with `leadscore db closes --reason "
            f"duplicate --out {path}`, or set {KEY} to null)"
        )
    frame = read_table(path)
    if LEAD_ID not in frame.columns:
        raise DataError(
            f"{path} ({KEY}): no `{LEAD_ID}` column (found: {', '.join(map(str, frame.columns))})"
        )
    ids = frame[LEAD_ID]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        # A CSV's line as an editor shows it (the header is line 1); a Parquet file's row.
        where = f"line {row + 2}" if Path(path).suffix == ".csv" else f"row {row + 1}"
        raise DataError(f"{path} ({KEY}) {where}: {LEAD_ID} is empty")
    out: list[str] = []
    for value in ids.astype(str):
        out.append(value)
        # CSVs the project writes quote a formula-like id (`'=x`, foundation/csv_safe.py);
        # the lead's own id is the one without the quote.
        if value.startswith(PREFIX) and value[1:].startswith(FORMULA_STARTS):
            out.append(value[1:])
    return out


def exclusion_info(params: Params, exclusion: Exclusion | None) -> dict[str, Any]:
    """What a run records of the exclusion (nothing when none is set: the default run's
    params stay as they were)."""
    path = params.train.exclude_leads
    if exclusion is None or path is None:
        return {}
    return {
        "exclude_leads_sha256": file_sha256(path),
        "excluded_listed": exclusion.listed,
        "excluded_leads": exclusion.leads,
        "excluded_rows": exclusion.rows,
    }


def training_rows(
    params: Params, trained: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, Exclusion | None]:
    """The training table less the excluded leads, and what was dropped (None: no list set).

    `trained`: the train stage's `data` record (run.json); when given, the list must be the
    one train used, else a ConfigError saying to re-run train.
    """
    table = read_table(training_table_path(params))
    path = params.train.exclude_leads
    exclusion = None
    if path is not None:
        table, exclusion = exclude_leads(table, excluded_lead_ids(path))
    if trained is not None:
        used = trained.get("exclude_leads_sha256")
        now = exclusion_info(params, exclusion).get("exclude_leads_sha256")
        if used != now:
            raise ConfigError(
                f"{KEY} ({path}) is not the list the model was trained without "
                f"(train: {'none' if used is None else used[:12]}, now: "
                f"{'none' if now is None else now[:12]}): run `leadscore train` again "
                "(`dvc repro` does when the file is a dependency of the train stage)"
            )
    return table, exclusion


def exclusion_lines(
    params: Params, exclusion: Exclusion | None, dvc_file: Path = DVC_FILE
) -> list[str]:
    """What train prints about the exclusion: the counts, and a note when dvc.yaml's train
    stage does not depend on the list (a new export would then not retrain)."""
    path = params.train.exclude_leads
    if exclusion is None or path is None:
        return []
    lines = [f"{KEY} {path}: {exclusion.describe()}"]
    if Path(dvc_file).exists() and not train_depends_on(read_yaml(dvc_file), path):
        lines.append(
            f"note: {path} is not a dependency of the train stage in {dvc_file}: `dvc repro` "
            "will not retrain on a new export of it (add it under stages.train.deps)"
        )
    return lines


def train_depends_on(dvc: Any, path: Path) -> bool:
    """Whether a dvc.yaml's `train` stage lists `path` among its deps."""
    stage = ((dvc or {}).get("stages") or {}).get("train") or {}
    deps = [Path(str(d)) for d in stage.get("deps") or [] if isinstance(d, str)]
    return any(d == Path(path) or d.resolve() == Path(path).resolve() for d in deps)
