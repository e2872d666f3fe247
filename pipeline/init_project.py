"""`leadscore init DIR [--data FOLDER]`: a project folder of a team's own, without a fork.

Writes params.yaml (paths to the exports and the mapping, the snapshot cadence, horizon and first
snapshot), dvc.yaml (validate -> features -> train -> evaluate -> register, the stages reading
the team's exports instead of the simulator's), sla.yaml and personas.yaml (the shipped examples,
to edit), and mapping.yaml: a template whose columns are guessed from the exports' headers and
whose comments list every export's columns and the most frequent values of its text columns (the
event and stage names to map). Nothing is overwritten: an existing file is an error naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from features.mapping_file import CANONICAL_COLUMNS, SOURCE_SUFFIXES
from foundation.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the shipped sla.yaml and personas.yaml
SAMPLE_ROWS = 200_000  # rows read per export to list its most frequent values
TOP_VALUES = 12  # values listed per text column
MAX_DISTINCT = 200  # a text column with more distinct values is an id or free text: not listed
# Source column names guessed for a canonical column, in order (case and spacing ignored).
GUESSES: dict[str, tuple[str, ...]] = {
    "lead_id": ("lead_id", "contact_id", "case_id", "id", "customer_id", "user_id"),
    "created_at": ("created_at", "create_date", "createdate", "created", "signup_date"),
    "ts": ("ts", "timestamp", "time", "occurred_at", "event_time", "date"),
    "event_type": ("event_type", "event", "activity", "type", "action", "name"),
    "stage": ("stage", "lifecyclestage", "lifecycle_stage", "status", "activity"),
    "channel": ("channel", "source", "lead_source", "original_source"),
    "sequence": ("seq_in_case", "sequence", "seq", "event_index"),
}
TABLE_GUESSES: dict[str, tuple[str, ...]] = {
    "leads": ("leads", "contacts", "cases", "accounts", "customers", "users"),
    "events": ("events", "activities", "activity", "log", "engagements"),
    "stages": ("stages", "lifecycle", "deal_stages", "status_history"),
}

PARAMS_TEMPLATE = """\
# leadscore project parameters (every key: leadscore's foundation/params.py; a typo is an error).
paths:
  raw: {raw}                 # the exports (CSV, CSV.gz or Parquet)
  mapping: mapping.yaml      # their vocabulary onto leadscore's (docs/your-own-data.md)

features:
  snapshot_every: month      # month | quarter | week | day
  first_snapshot: "{first}"  # the first snapshot date T (the log's start + a few periods)
  horizon_days: 60           # label: target stage reached within this many days after T
  target_stage: sql          # sql | customer (map the source stage you predict onto it)
  max_lead_age_days: null    # leave leads older than this at T out of its snapshot
  family_min_events: 100     # unmapped event types with fewer events pool into "(other)"
  persona_min_fit: 0.5       # below this persona fit a lead has persona "none"
  funnel_state: true
  calendar: []               # e.g. [month_of_year]: the season of T as a feature, when the
                             # rate moves with the calendar (day_of_week for daily snapshots)

train:
  min_positives: 50
  calibration_strict: false  # true: isotonic calibration without ties (keeps the model's order)
  window_snapshots: []       # e.g. [4, 8, 0]: also try the latest N snapshots only (0: all);
                             # the window whose model ranks the validation snapshots best wins
  exclude_leads: null        # e.g. closes.csv, the sales desk's duplicates left out of training
                             # (`leadscore db closes --reason duplicate --out closes.csv`; list
                             # it in dvc.yaml's train deps too: docs/managers.md)
  points:                    # the marketing-automation points baseline, per canonical event
    per_event: {site_visit: 1, page_view: 1, pricing_view: 10, content_download: 5,
                newsletter_signup: 3, email_open: 1, email_click: 3, webinar_register: 5,
                webinar_attend: 10, form_submit: 10, demo_request: 25, unsubscribe: -10}
    per_feature: {reached_mql: 20, contacted: 10, disqualified: -30, recycled: 10}

evaluate:
  n_bins: 10

registry:
  model_name: lead-propensity
  experiment: leadscore
"""

DVC_TEMPLATE = """\
# `dvc repro` on this project's own exports (made by `leadscore init`).
stages:
  validate:
    cmd: leadscore validate
    deps:
      - {raw}
      - mapping.yaml
      - personas.yaml
    params:
      - paths
      - features.target_stage
      - features.family_min_events
    outs:
      - data/interim

  features:
    cmd: leadscore features
    deps:
      - data/interim
    params:
      - features
    outs:
      - data/features

  train:
    cmd: leadscore train
    deps:
      - data/features
      # - closes.csv       # with train.exclude_leads: closes.csv, so a new export retrains
    params:
      - train
      - registry.experiment
    outs:
      - artifacts/train/model.joblib
      - artifacts/train/logistic.joblib
      - artifacts/train/split.json
      - artifacts/train/run.json:
          cache: false

  evaluate:
    cmd: leadscore evaluate
    deps:
      - artifacts/train/model.joblib
      - artifacts/train/run.json
      - data/features
      - data/interim
      - sla.yaml
    params:
      - evaluate
    metrics:
      - artifacts/evaluate/metrics.json:
          cache: false
    outs:
      - artifacts/evaluate/feature_importance.csv
      - artifacts/evaluate/shap_summary.csv
      - artifacts/evaluate/test_predictions.parquet
      - artifacts/evaluate/plots:
          cache: false
      - artifacts/evaluate/images:
          cache: false

  register:
    cmd: leadscore register
    deps:
      - artifacts/train/run.json
      - artifacts/evaluate/metrics.json
      - data/interim
      - sla.yaml
    params:
      - registry
    outs:
      - artifacts/register/decision.json:
          cache: false

  sla_report:
    cmd: leadscore sla report
    deps:
      - data/interim
      - artifacts/train/model.joblib
      - artifacts/register/decision.json
      - sla.yaml
      - personas.yaml
    params:
      - features.horizon_days
      - features.persona_min_fit
    outs:
      - artifacts/sla:
          cache: false
"""

IGNORED = ("/data/interim", "/data/features", "/artifacts", "/mlflow.db", "/mlruns")
GITIGNORE = "\n".join([*IGNORED, "/mlartifacts", "/leadscore.db*", ""])


def _folded(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _guess(candidates: tuple[str, ...], columns: list[str]) -> str | None:
    folded = {_folded(c): c for c in columns}
    return next((folded[_folded(g)] for g in candidates if _folded(g) in folded), None)


def export_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(SOURCE_SUFFIXES))


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SOURCE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _sample(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).head(SAMPLE_ROWS)
    return pd.read_csv(path, dtype=str, nrows=SAMPLE_ROWS, keep_default_na=False, na_values=[""])


def describe_export(path: Path, sample: pd.DataFrame) -> list[str]:
    """Comment lines: the export's columns and its text columns' most frequent values."""
    lines = [f"# {path.name} (first {len(sample):,} rows): columns {', '.join(sample.columns)}"]
    for column in sample.columns:
        values = sample[column].dropna().astype(str)
        if values.empty or values.nunique() > MAX_DISTINCT or _looks_like_time(values):
            continue
        top = values.value_counts().head(TOP_VALUES)
        shown = ", ".join(f"{v!r} {n:,}" for v, n in top.items())
        lines.append(f"#   {column}: {shown}")
    return lines


def _looks_like_time(values: pd.Series) -> bool:
    parsed = pd.to_datetime(values.head(50), errors="coerce", utc=True, format="mixed")
    return bool(parsed.notna().mean() > 0.9)


def mapping_template(folder: Path | None) -> str:
    """mapping.yaml: the guessed files and columns, the exports described in comments."""
    files = export_files(folder) if folder is not None and folder.is_dir() else []
    samples = {p: _sample(p) for p in files}
    head = [
        "# The exports' vocabulary onto leadscore's (docs/your-own-data.md). Canonical name:",
        "# source name. Event rules: first match wins; unmatched event types keep their own",
        "# names and become feature families of their own.",
    ]
    for path, sample in samples.items():
        head += describe_export(path, sample)
    body: list[str] = []
    for table in ("leads", "events", "stages"):
        chosen = next(
            (p for p in files if any(g in _stem(p).lower() for g in TABLE_GUESSES[table])), None
        )
        columns = [str(c) for c in samples[chosen].columns] if chosen is not None else []
        body.append(f"{table}:")
        if chosen is None and table == "stages":  # no stage log: stage dates on the leads
            body.append("  file: null  # no stage log found: name one, or use leads.stage_dates")
        else:
            body.append(f"  file: {_stem(chosen) if chosen else table}")
        guesses = {c: _guess(GUESSES.get(c, (c,)), columns) for c in CANONICAL_COLUMNS[table]}
        # Nothing guessed: an empty mapping, not a key holding only comments (YAML null).
        body.append("  columns:" if any(guesses.values()) else "  columns: {}")
        for canonical, guess in guesses.items():
            prefix = "    " if guess else "    # "
            body.append(f"{prefix}{canonical}: {guess or '<source column>'}")
        if table == "events":
            body += [
                "  types: []  # rules, first match wins; e.g. (a URL matching /pricing):",
                '  # - {name: "Page view", property: url, pattern: "/pricing", as: pricing_view}',
            ]
            sequence = _guess(GUESSES["sequence"], columns)
            prefix = "  " if sequence else "  # "
            body.append(
                f"{prefix}sequence: {sequence or '<source column>'}  # each event's position "
                "among its lead's (a log of dates only)"
            )
        if table == "leads":
            body += [
                "  # identity: <source column>  # e.g. e-mail: rows sharing it are one person",
                "  # identity_map: {file: <export>, lead_id: <column>, person: <column>}",
            ]
        if table == "stages":
            body += [
                "  names: {}             # source stage name: funnel stage (mql, sql, customer...)",
                "  lost: []              # source stage names that end a lead (disqualified)",
                "  unmapped: ignore      # other stage names: ignore (counted) or quarantine",
            ]
    return "\n".join([*head, "", *body]) + "\n"


def first_snapshot_guess(folder: Path | None) -> str:
    """A first snapshot three months after the earliest lead, when the leads export shows it."""
    if folder is None or not folder.is_dir():
        return "2025-01-01"
    for path in export_files(folder):
        if any(g in _stem(path).lower() for g in TABLE_GUESSES["leads"]):
            sample = _sample(path)
            column = _guess(GUESSES["created_at"], [str(c) for c in sample.columns])
            if column is not None:
                when = pd.to_datetime(sample[column], errors="coerce", utc=True, format="mixed")
                if when.notna().any():
                    start = when.min() + pd.DateOffset(months=3)
                    return start.strftime("%Y-%m-01")
    return "2025-01-01"


def project_agreement(shipped: str) -> str:
    """The shipped sla.yaml made neutral for a log of unknown shape: no persona-fit floor and no
    e-mail or role exclusions (a log may have neither), a deal value given rather than measured
    (a log may carry no amounts). The team then writes in what both sides agreed."""
    replaced = (
        shipped.replace("min_fit_score: 0.5 ", "min_fit_score: 0.0 ")
        .replace("avg_deal_value_eur: measured  ", "avg_deal_value_eur: {other: 5000}")
        .replace("    email_kind: [free, missing]", "    # email_kind: [free, missing]")
        .replace("    job_role: [student, intern]", "    # job_role: [student, intern]")
        .replace("  exclude:                          #", "  exclude: {}                       #")
    )
    header = "# Written by `leadscore init`: edit to what marketing and sales agreed.\n"
    return header + replaced


def init_project(directory: Path, data: Path | None = None) -> list[Path]:
    """Write the project folder; returns the files written. `data` is referred to by a path
    relative to the project, so the folder can move with its data."""
    directory = Path(directory)
    raw = os.path.relpath(Path(data).resolve(), directory.resolve()) if data else "data/raw"
    files = {
        "params.yaml": PARAMS_TEMPLATE.replace("{raw}", raw).replace(
            "{first}", first_snapshot_guess(data)
        ),
        "dvc.yaml": DVC_TEMPLATE.replace("{raw}", raw),
        "mapping.yaml": mapping_template(Path(data) if data else None),
        "sla.yaml": project_agreement((PACKAGE_ROOT / "sla.yaml").read_text()),
        "personas.yaml": (PACKAGE_ROOT / "personas.yaml").read_text(),
        ".gitignore": GITIGNORE,
    }
    existing = [name for name in files if (directory / name).exists()]
    if existing:
        raise ConfigError(f"{directory}: {', '.join(existing)} already exist (nothing written)")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written
