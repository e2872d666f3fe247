"""The event-log mapping file: its schema, its loading, and where each key sits in it.

A data person writes one YAML file (named by params `paths.mapping`) that says which source
columns are the lead id, times and lead attributes; which source event names (exactly, or by a
regular expression on the name or on a property such as a URL) are which canonical behaviour;
where a content topic comes from; which source stage names (or HubSpot-style per-stage date
columns) are which funnel stage; which key (a column such as the e-mail, or an id-map file) merges
duplicate rows of one person; and which column orders events that share a time. This module only
reads and checks the file; features/mapping.py applies it, features/mapping_checks.py checks the
exports against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.vocabularies import STAGES
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
        "company",  # shown to sales (lead page, hand-off), never a feature
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


class IdentityMap(_Section):
    """An id-map export: which person each source lead id belongs to (a CRM's merge history, a
    customer-data platform's resolved ids). Lead rows mapped to one person merge as rows sharing
    an identity key do; a lead id the map does not list is a person of its own."""

    file: str
    lead_id: str = "lead_id"  # the column holding the leads export's ids
    person: str = "person_id"  # the column holding the person they belong to


class LeadsMap(_Section):
    file: str = "leads"
    columns: dict[str, str] = Field(default_factory=dict)  # canonical -> source column
    identity: str | None = None  # a column whose equal values are one person (e.g. email)
    identity_map: IdentityMap | None = None
    # HubSpot style: funnel stage -> the column holding the date the lead reached it.
    stage_dates: dict[str, str] = Field(default_factory=dict)

    @field_validator("stage_dates")
    @classmethod
    def _funnel_stages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise ValueError(f"{unknown} are not funnel stages (use: {', '.join(STAGES)})")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> LeadsMap:
        if self.identity is not None and self.identity_map is not None:
            raise ValueError("give `identity` (a column) or `identity_map` (a file), not both")
        return self


class EventsMap(_Section):
    file: str = "events"
    columns: dict[str, str] = Field(default_factory=dict)
    types: tuple[EventRule, ...] = ()
    content_topic: ContentTopicMap | None = None
    # A column giving each event's position among its lead's events (0, 1, 2, ...), for logs
    # that record dates only: see features/mapping.py `apply_sequence`.
    sequence: str | None = None
    sequence_max: int = Field(3_599, ge=0)  # a larger position is an error (not a position)


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


def source_column(mf: MappingFile, table: str, canonical: str) -> str:
    """The source column the mapping names for a canonical column (the canonical name itself
    when the mapping says nothing)."""
    return getattr(mf.mapping, table).columns.get(canonical, canonical)
