"""An event-log mapping: a team's exports, in their own vocabulary, onto the data contract.

A data person writes one YAML file (named by params `paths.mapping`) that says which source
columns are the lead id, times and lead attributes; which source event names (exactly, or by a
regular expression on the name or on a property such as a URL) are which canonical behaviour;
where a content topic comes from; which source stage names (or HubSpot-style per-stage date
columns) are which funnel stage; and which key merges duplicate rows of one person. `apply_mapping`
turns the source tables into the contract's leads / events / stages, which `leadscore validate`
then triages as usual, so every later stage sees canonical tables.

Decisions a user relies on (docs/your-own-data.md says the same):
- Event rules are tried in file order; the first rule that matches a row wins. An event no rule
  matches keeps its source name: it is not ignored, it becomes a feature family of its own
  (features/event_families.py). A rule's `as` may also be a new name (a family the user names).
- A source stage name that is not mapped is quarantined by validation (the reason names it), or
  left out and counted when `stages.unmapped: ignore`.
- Identity: lead rows sharing the identity key (trimmed, case-folded) are one person; the earliest
  created row's lead_id wins, its created_at is the earliest, each attribute is the first
  non-empty one in creation order, and the events and stages of the others follow the person.
- Everything is checked before anything is written: a mapped column the file lacks (with "did you
  mean"), time zones mixed within a column, a target stage no row reaches, a label that would
  have one class, most events dated before their lead was created. Each is one message naming the
  file, the column and the mapping line; they are reported together. A rule that matches nothing
  is a warning with the counts it was tried on.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.schemas import STAGES
from foundation.errors import ConfigError, DataError

# Canonical columns of each table (the data contract, features/schemas.py) a mapping may rename.
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": (
        "lead_id",
        "created_at",
        "channel",
        "company_size",
        "industry",
        "job_role",
        "country",
        "email_domain",
    ),
    "events": ("lead_id", "ts", "event_type", "content_topic"),
    "stages": ("lead_id", "stage", "ts", "deal_value_eur"),
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("lead_id", "created_at"),
    "events": ("lead_id", "ts", "event_type"),
    "stages": ("lead_id", "stage", "ts"),
}
TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("created_at",),
    "events": ("ts",),
    "stages": ("ts",),
}
# The order `find_source` tries suffixes in: typed Parquet first, then CSV, plain or gzip.
SOURCE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".csv.gz")
FUNNEL_STAGES: tuple[str, ...] = tuple(s for s in STAGES if s != "disqualified")
DISQUALIFIED = "disqualified"
# A time that carries its zone: ...Z or ...+01:00 / -0500 at the end.
_ZONE = r"(?:Z|[+-]\d\d:?\d\d)$"
DID_YOU_MEAN_CUTOFF = 0.6
SHOWN_NAMES = 8  # source names listed in a message before "..."


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _compiled(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
    return pattern


class EventRule(_Section):
    """Source events -> one event type. `name`: the source event name, exactly; `pattern`: a
    regular expression searched in `property` (a column such as a URL or form name), or in the
    name when no property is given. Given both, a row must pass both."""

    name: str | None = None
    property: str | None = None
    pattern: str | None = None
    as_: str = Field(alias="as", min_length=1)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _compiled(value)

    @model_validator(mode="after")
    def _says_what_to_match(self) -> EventRule:
        if self.name is None and self.pattern is None:
            raise ValueError("give `name` (exact source event name) or `pattern` (a regex)")
        if self.property is not None and self.pattern is None:
            raise ValueError(f"`property: {self.property}` needs a `pattern` to search in it")
        return self


class TopicRule(_Section):
    pattern: str
    as_: str = Field(alias="as", min_length=1)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str | None:
        return _compiled(value)


class ContentTopicMap(_Section):
    """The content topic from a property: the first rule whose pattern the value contains, or
    the value itself when no rules are given."""

    property: str
    rules: tuple[TopicRule, ...] = ()


class LeadsMap(_Section):
    file: str = "leads"
    columns: dict[str, str] = Field(default_factory=dict)  # canonical -> source column
    identity: str | None = None  # a column whose equal values are one person (e.g. email)
    # HubSpot style: funnel stage -> the column holding the date the lead reached it.
    stage_dates: dict[str, str] = Field(default_factory=dict)

    @field_validator("stage_dates")
    @classmethod
    def _funnel_stages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise ValueError(f"{unknown} are not funnel stages (use: {', '.join(STAGES)})")
        return value


class EventsMap(_Section):
    file: str = "events"
    columns: dict[str, str] = Field(default_factory=dict)
    types: tuple[EventRule, ...] = ()
    content_topic: ContentTopicMap | None = None


class StagesMap(_Section):
    file: str | None = "stages"  # null: no stage log (stage dates on the leads only)
    columns: dict[str, str] = Field(default_factory=dict)
    names: dict[str, str] = Field(default_factory=dict)  # source stage name -> funnel stage
    lost: tuple[str, ...] = ()  # source stage names that end a lead (-> disqualified)
    unmapped: Literal["quarantine", "ignore"] = "quarantine"

    @field_validator("names")
    @classmethod
    def _funnel_stages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({v for v in value.values() if v not in STAGES})
        if unknown:
            raise ValueError(f"{unknown} are not funnel stages (use: {', '.join(STAGES)})")
        return value


class EventLogMapping(_Section):
    """The whole mapping file. Every default is the contract's own name, so an empty mapping is
    the simulator's vocabulary."""

    leads: LeadsMap = LeadsMap()
    events: EventsMap = EventsMap()
    stages: StagesMap = StagesMap()
    # Above this share of events dated before their lead's created_at, created_at is probably
    # the wrong column: an error. Below it, a warning (tracking cookies predate the form fill).
    max_events_before_created_share: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _known_columns(self) -> EventLogMapping:
        for table in ("leads", "events", "stages"):
            unknown = sorted(set(getattr(self, table).columns) - set(CANONICAL_COLUMNS[table]))
            if unknown:
                raise ValueError(
                    f"{table}.columns: {unknown} are not contract columns "
                    f"(use: {', '.join(CANONICAL_COLUMNS[table])})"
                )
        return self


# ---- the file, with its line numbers --------------------------------------------------------


@dataclass(frozen=True)
class MappingFile:
    """A loaded mapping and where each key sits in its file, so messages can name the line."""

    mapping: EventLogMapping
    path: str = "(default mapping)"
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def where(self, *key: str | int) -> str:
        """`mapping.yaml line 12 (events.columns.ts)`; the nearest enclosing key's line when the
        key itself is a default."""
        dotted = ".".join(str(k) for k in key)
        for n in range(len(key), 0, -1):
            line = self.lines.get(tuple(key[:n]))
            if line is not None:
                return f"{self.path} line {line} ({dotted})"
        return f"{self.path} ({dotted}, default)"


def _key_lines(node: yaml.Node, prefix: tuple[str | int, ...] = ()) -> dict[tuple, int]:
    lines: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, key.value)
            lines[path] = key.start_mark.line + 1
            lines.update(_key_lines(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = (*prefix, i)
            lines[path] = item.start_mark.line + 1
            lines.update(_key_lines(item, path))
    return lines


def load_mapping(path: Path | None) -> MappingFile:
    """Read and check a mapping file; a typo is an error naming its key and line. None: the
    default (contract) vocabulary."""
    if path is None:
        return MappingFile(EventLogMapping())
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: mapping file not found (params paths.mapping)")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
        lines = _key_lines(yaml.compose(text)) if raw else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected keys leads:, events:, stages:")
    try:
        mapping = EventLogMapping.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{path}: invalid mapping"]
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
            msg = "unknown key (typo?)" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"  line {line}: {key}: {msg}" if line else f"  {key}: {msg}")
        raise ConfigError("\n".join(problems)) from None
    return MappingFile(mapping, str(path), lines)


def find_source(directory: Path, name: str) -> Path:
    """The export called `name` in `directory`: the exact file name, else name + .parquet,
    .csv or .csv.gz (first found)."""
    exact = Path(directory) / name
    if exact.is_file():
        return exact
    for suffix in SOURCE_SUFFIXES:
        candidate = Path(directory) / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    tried = ", ".join(f"{name}{s}" for s in SOURCE_SUFFIXES)
    raise DataError(f"{directory}: no export {name!r} (tried {tried})")


def read_source(path: Path) -> pd.DataFrame:
    """A whole export as read: CSV (plain or gzip) as text, so validation names bad values as
    written; Parquet with its types."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # pandas and pyarrow raise many types; the user needs the file
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


# ---- checks before any work -----------------------------------------------------------------


@dataclass
class MappingReport:
    """What applying the mapping found: problems (errors), warnings and counts, in words."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def raise_errors(self) -> None:
        if self.errors:
            raise DataError(
                f"the mapping does not fit the exports ({len(self.errors)} problem"
                f"{'s' * (len(self.errors) > 1)}):\n  " + "\n  ".join(self.errors)
            )


def _did_you_mean(name: str, available: list[str]) -> str:
    close = difflib.get_close_matches(name, available, n=1, cutoff=DID_YOU_MEAN_CUTOFF)
    if not close:  # case or spacing only: "Created At" for "created_at"
        folded = {re.sub(r"[^a-z0-9]", "", a.lower()): a for a in available}
        hit = folded.get(re.sub(r"[^a-z0-9]", "", name.lower()))
        close = [hit] if hit else []
    return f"; did you mean {close[0]!r}?" if close else ""


def _listed(names: list[str]) -> str:
    shown = ", ".join(map(repr, names[:SHOWN_NAMES]))
    return shown + (", ..." if len(names) > SHOWN_NAMES else "")


def source_column(mf: MappingFile, table: str, canonical: str) -> str:
    """The source column the mapping names for a canonical column (the canonical name itself
    when the mapping says nothing)."""
    return getattr(mf.mapping, table).columns.get(canonical, canonical)


def _named_columns(mf: MappingFile, table: str) -> list[tuple[str, tuple[str | int, ...], bool]]:
    """(source column, mapping key, required) for every column the mapping relies on."""
    section = getattr(mf.mapping, table)
    out = []
    for canonical in CANONICAL_COLUMNS[table]:
        required = canonical in REQUIRED_COLUMNS[table]
        if canonical in section.columns or required:
            out.append(
                (source_column(mf, table, canonical), (table, "columns", canonical), required)
            )
    if table == "leads":
        if section.identity is not None:
            out.append((section.identity, ("leads", "identity"), True))
        for stage, column in section.stage_dates.items():
            out.append((column, ("leads", "stage_dates", stage), True))
    if table == "events":
        for i, rule in enumerate(section.types):
            if rule.property is not None:
                out.append((rule.property, ("events", "types", i, "property"), True))
        if section.content_topic is not None:
            out.append((section.content_topic.property, ("events", "content_topic"), True))
    return out


def check_columns(
    mf: MappingFile, table: str, columns: list[str], source: str, report: MappingReport
) -> None:
    """Every column the mapping names exists in the export. An optional canonical column the
    mapping does not name may be absent (validation leaves it empty)."""
    for column, key, required in _named_columns(mf, table):
        explicit = key in mf.lines or (len(key) > 2 and key[:3] in mf.lines)
        if column in columns or not (required or explicit):
            continue
        report.errors.append(
            f"{mf.where(*key)}: column {column!r} is not in {source}"
            f"{_did_you_mean(column, columns)} (columns: {_listed(columns)})"
        )


def check_time_zones(
    frame: pd.DataFrame, column: str, source: str, where: str, report: MappingReport
) -> None:
    """Times with a zone and times without one in the same column cannot be ordered: the naive
    ones might be local or UTC. One zone offset or several (summer time) is fine."""
    values = frame[column]
    if values.dtype.kind == "M" or not len(values):
        return
    text = values.dropna().astype(str).str.strip()
    text = text[text.ne("")]  # empty is missing, not naive
    zoned = text.str.contains(_ZONE, regex=True)
    n_zoned = int(zoned.sum())
    if 0 < n_zoned < len(text):
        naive_example = text[~zoned].iloc[0]
        zoned_example = text[zoned].iloc[0]
        report.errors.append(
            f"{where}: {source} column {column!r} mixes times with a zone ({n_zoned:,} rows, "
            f"e.g. {zoned_example!r}) and without one ({len(text) - n_zoned:,} rows, e.g. "
            f"{naive_example!r}); export every time in UTC or with its offset"
        )


# ---- applying it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MappedLog:
    leads: pd.DataFrame
    events: pd.DataFrame
    stages: pd.DataFrame
    report: MappingReport


def _canonical_frame(mf: MappingFile, table: str, source: pd.DataFrame) -> pd.DataFrame:
    """The contract's columns under their canonical names; absent optional ones are left out
    (validation adds them empty and says so)."""
    out = {}
    for canonical in CANONICAL_COLUMNS[table]:
        column = source_column(mf, table, canonical)
        if column in source.columns:
            out[canonical] = source[column]
    frame = pd.DataFrame(out, index=source.index)
    if table == "leads" and "channel" not in frame.columns:
        frame["channel"] = pd.Series(
            pd.NA, index=source.index, dtype="string"
        )  # a log may have none
    return frame


def _times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed")


def merge_identities(leads: pd.DataFrame, key: pd.Series) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per person: rows sharing a non-empty key merge into the earliest created one
    (see the module docstring). Returns the leads (in file order of each person's first row)
    and the map old lead_id -> the person's lead_id."""
    folded = key.astype("string").str.strip().str.casefold()
    has_key = (folded.notna() & folded.ne("")).to_numpy()
    order = pd.DataFrame(
        {"key": folded, "created": _times(leads["created_at"]), "row": np.arange(len(leads))}
    )
    keyed = order[has_key].sort_values(["key", "created", "row"], na_position="last")
    if keyed.empty or not keyed["key"].duplicated().any():
        return leads, {}
    person = keyed.groupby("key", sort=False)["row"].transform("first").to_numpy()
    ids = leads["lead_id"].to_numpy()
    own = ids[keyed["row"].to_numpy()]
    id_map = {str(o): str(p) for o, p in zip(own, ids[person], strict=True) if o != p}
    # Sorted by creation (unparseable last), so `first` (first non-empty per column) takes the
    # earliest created_at and each attribute from the earliest row that has it.
    merged = leads.iloc[keyed["row"].to_numpy()].assign(_person=person)
    merged = merged.groupby("_person", sort=False).first()
    merged["lead_id"] = ids[merged.index.to_numpy()]
    rows = np.concatenate([merged.index.to_numpy(), np.flatnonzero(~has_key)])
    out = pd.concat([merged[leads.columns], leads[~has_key]], ignore_index=True)
    return out.iloc[np.argsort(rows, kind="stable")].reset_index(drop=True), id_map


def _follow_person(frame: pd.DataFrame, id_map: dict[str, str]) -> pd.DataFrame:
    if not id_map or frame.empty:
        return frame
    ids = frame["lead_id"].astype("string")
    mapped = ids.map(id_map)
    return frame.assign(lead_id=mapped.fillna(ids).astype(frame["lead_id"].dtype))


def map_event_types(
    events: pd.DataFrame, source: pd.DataFrame, mf: MappingFile, report: MappingReport
) -> pd.Series:
    """The event type of each row: the first matching rule's `as`, else the source name."""
    name = events["event_type"].astype("string")
    out = name.copy()
    assigned = np.zeros(len(events), dtype=bool)
    matched: dict[str, int] = {}
    for i, rule in enumerate(mf.mapping.events.types):
        candidates = ~assigned
        if rule.name is not None:
            candidates &= (name == rule.name).fillna(False).to_numpy()
        hit = candidates.copy()
        if rule.pattern is not None:
            searched = source[rule.property] if rule.property is not None else name
            found = searched.astype("string").str.contains(rule.pattern, regex=True)
            hit &= found.fillna(False).to_numpy()
        n_hit = int(hit.sum())
        label = rule.name if rule.pattern is None else f"/{rule.pattern}/"
        matched[f"{label} -> {rule.as_}"] = n_hit
        if n_hit == 0:
            tried = int(candidates.sum())
            if rule.pattern is None:
                found = _listed([str(k) for k in name.value_counts().index])
                why = f"no event left by the rules above is named so (names: {found})"
            else:
                named = f" named {rule.name!r}" if rule.name else ""
                on = f"their {rule.property}" if rule.property else "their names"
                why = f"tried on {on} of {tried:,} events{named}"
            report.warnings.append(
                f"{mf.where('events', 'types', i)}: rule {label!r} matches no event ({why})"
            )
        out[hit] = rule.as_
        assigned |= hit
    report.counts["event_rules"] = matched
    report.counts["events_mapped"] = int(assigned.sum())
    report.counts["events_in_source_words"] = int(len(events) - assigned.sum())
    return out


def map_content_topic(source: pd.DataFrame, topic: ContentTopicMap) -> pd.Series:
    values = source[topic.property].astype("string")
    if not topic.rules:
        return values
    out = pd.Series(pd.NA, index=source.index, dtype="string")
    for rule in topic.rules:
        hit = out.isna() & values.str.contains(rule.pattern, regex=True).fillna(False)
        out[hit] = rule.as_
    return out


def map_stage_names(stages: pd.DataFrame, mf: MappingFile, report: MappingReport) -> pd.DataFrame:
    """Source stage names -> funnel stages; unmapped ones kept (validation quarantines them) or
    left out and counted (`stages.unmapped: ignore`)."""
    section = mf.mapping.stages
    if not section.names and not section.lost:
        return stages
    names = {**section.names, **dict.fromkeys(section.lost, DISQUALIFIED)}
    source = stages["stage"].astype("string")
    mapped = source.map(names)
    unmapped = mapped.isna() & source.notna() & ~source.isin(STAGES)
    counts = source[unmapped].value_counts()
    report.counts["stage_rows_unmapped"] = {str(k): int(v) for k, v in counts.items()}
    for name in section.names:
        if not (source == name).any():
            report.warnings.append(
                f"{mf.where('stages', 'names', name)}: stage {name!r} never occurs "
                f"(stage names found: {_listed([str(k) for k in source.value_counts().index])})"
            )
    out = stages.assign(stage=mapped.fillna(source))
    if section.unmapped == "ignore":
        out = out[~unmapped.to_numpy()]
    return out


def stages_from_dates(
    leads_source: pd.DataFrame, lead_ids: pd.Series, mf: MappingFile
) -> pd.DataFrame:
    """HubSpot style: one stage row per lead and filled stage-date column."""
    parts = []
    for stage, column in mf.mapping.leads.stage_dates.items():
        when = leads_source[column]
        filled = when.notna() & when.astype("string").str.strip().ne("")
        parts.append(
            pd.DataFrame(
                {"lead_id": lead_ids[filled.to_numpy()], "stage": stage, "ts": when[filled]}
            )
        )
    if not parts:
        return pd.DataFrame(columns=["lead_id", "stage", "ts"])
    return pd.concat(parts, ignore_index=True)


def check_target(
    stages: pd.DataFrame,
    n_leads: int,
    target_stage: str,
    mf: MappingFile,
    report: MappingReport,
    source: str = "stages",
) -> None:
    """The target stage (or a later one) must occur, and not for every lead: a label needs two
    classes."""
    reached = FUNNEL_STAGES[FUNNEL_STAGES.index(target_stage) :]
    hit = stages["stage"].astype("string").isin(reached).fillna(False).to_numpy()
    where = (
        f"{mf.where('stages', 'names')}, {source} column {source_column(mf, 'stages', 'stage')!r}"
    )
    found = [str(k) for k in stages["stage"].astype("string").value_counts().index]
    leads_reaching = stages.loc[hit, "lead_id"].nunique()
    report.counts["leads_reaching_target"] = int(leads_reaching)
    if not hit.any():
        report.errors.append(
            f"{where}: no stage row maps to the target stage {target_stage!r} or a later one "
            f"(params features.target_stage); stage names after mapping: {_listed(found)}"
        )
    elif n_leads and leads_reaching >= n_leads:
        report.errors.append(
            f"{where}: every lead ({n_leads:,}) reaches the target stage {target_stage!r}: "
            "the label would have one class; map a later stage as the target"
        )


def check_events_before_created(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    mf: MappingFile,
    report: MappingReport,
    names: dict[str, str] | None = None,
) -> None:
    created = pd.Series(_times(leads["created_at"]).to_numpy(), index=leads["lead_id"].astype(str))
    created = created[~created.index.duplicated()]
    when = _times(events["ts"])
    theirs = created.reindex(events["lead_id"].astype(str).to_numpy()).to_numpy()
    before = int(np.count_nonzero(when.to_numpy() < theirs))
    report.counts["events_before_lead_created"] = before
    if not before:
        return
    share = before / len(events)
    names = names or {"events": "events", "leads": "leads"}
    ts_column = source_column(mf, "events", "ts")
    created_column = source_column(mf, "leads", "created_at")
    text = (
        f"{mf.where('events', 'columns', 'ts')}: {before:,} events ({share:.1%}) of "
        f"{names['events']} are dated ({ts_column!r}) before their lead's created_at "
        f"({names['leads']} column {created_column!r}, "
        f"{mf.where('leads', 'columns', 'created_at')})"
    )
    if share > mf.mapping.max_events_before_created_share:
        report.errors.append(
            f"{text}: more than max_events_before_created_share "
            f"({mf.mapping.max_events_before_created_share:.0%}); is created_at the right column?"
        )
    else:
        report.warnings.append(f"{text}: kept (tracking often predates the form fill)")


def apply_mapping(
    sources: dict[str, pd.DataFrame],
    names: dict[str, str],
    mf: MappingFile,
    target_stage: str,
) -> MappedLog:
    """Source tables (`leads`, `events`, and `stages` unless the mapping has none) -> the
    contract's tables. `names` says what each source is called in messages (its path). Raises
    DataError listing every problem before returning anything."""
    report = MappingReport()
    for table, frame in sources.items():
        check_columns(mf, table, [str(c) for c in frame.columns], names[table], report)
    report.raise_errors()  # nothing below can run on a column that is not there
    for table, frame in sources.items():
        for canonical in TIME_COLUMNS[table]:
            column = source_column(mf, table, canonical)
            check_time_zones(
                frame, column, names[table], mf.where(table, "columns", canonical), report
            )
    for stage, column in mf.mapping.leads.stage_dates.items():
        where = mf.where("leads", "stage_dates", stage)
        check_time_zones(sources["leads"], column, names["leads"], where, report)

    leads_source = sources["leads"]
    leads = _canonical_frame(mf, "leads", leads_source)
    events = _canonical_frame(mf, "events", sources["events"])
    events["event_type"] = map_event_types(events, sources["events"], mf, report)
    if mf.mapping.events.content_topic is not None:
        events["content_topic"] = map_content_topic(
            sources["events"], mf.mapping.events.content_topic
        )
    stage_parts = []
    if "stages" in sources:
        stage_parts.append(
            map_stage_names(_canonical_frame(mf, "stages", sources["stages"]), mf, report)
        )
    from_dates = stages_from_dates(leads_source, leads["lead_id"], mf)
    report.counts["stage_rows_from_dates"] = len(from_dates)
    stage_parts.append(from_dates)
    stages = pd.concat([p for p in stage_parts if len(p.columns)], ignore_index=True)

    id_map: dict[str, str] = {}
    if mf.mapping.leads.identity is not None:
        leads, id_map = merge_identities(leads, leads_source[mf.mapping.leads.identity])
    report.counts["lead_rows"] = len(leads_source)
    report.counts["lead_rows_merged"] = len(leads_source) - len(leads)
    events, stages = _follow_person(events, id_map), _follow_person(stages, id_map)

    source = names.get("stages", names["leads"])
    check_target(stages, leads["lead_id"].nunique(), target_stage, mf, report, source)
    check_events_before_created(leads, events, mf, report, names)
    report.raise_errors()
    return MappedLog(leads, events, stages, report)
