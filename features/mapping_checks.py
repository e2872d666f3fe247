"""The checks that stop a mapping that does not fit its exports, one message per problem.

Each message names the file, the column and the mapping line. Column checks read headers only,
so they run before any row is read; the others (time zones mixed in a column, a target stage no
row reaches, a one-class label, events dated before their lead) are tallies: they see the
exports chunk by chunk as the mapping streams through them and judge at the end, so a file of
any size is checked in the memory of one chunk. `MappingReport.raise_errors` reports every
problem together.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.mapping_file import (
    CANONICAL_COLUMNS,
    FUNNEL_STAGES,
    REQUIRED_COLUMNS,
    MappingFile,
    source_column,
)
from foundation.errors import DataError

# A time that carries its zone: ...Z or ...+01:00 / -0500 at the end.
_ZONE = r"(?:Z|[+-]\d\d:?\d\d)$"
DID_YOU_MEAN_CUTOFF = 0.6
SHOWN_NAMES = 8  # source names listed in a message before "..."


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


def did_you_mean(name: str, available: list[str]) -> str:
    close = difflib.get_close_matches(name, available, n=1, cutoff=DID_YOU_MEAN_CUTOFF)
    if not close:  # case or spacing only: "Created At" for "created_at"
        folded = {re.sub(r"[^a-z0-9]", "", a.lower()): a for a in available}
        hit = folded.get(re.sub(r"[^a-z0-9]", "", name.lower()))
        close = [hit] if hit else []
    return f"; did you mean {close[0]!r}?" if close else ""


def listed(names: list[str]) -> str:
    shown = ", ".join(map(repr, names[:SHOWN_NAMES]))
    return shown + (", ..." if len(names) > SHOWN_NAMES else "")


def named_columns(mf: MappingFile, table: str) -> list[tuple[str, tuple[str | int, ...], bool]]:
    """(source column, mapping key, required) for every column the mapping relies on."""
    if table == "identity_map":
        id_map, key = mf.mapping.leads.identity_map, ("leads", "identity_map")
        if id_map is None:
            return []
        return [(id_map.lead_id, (*key, "lead_id"), True), (id_map.person, (*key, "person"), True)]
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
        if section.sequence is not None:
            out.append((section.sequence, ("events", "sequence"), True))
    return out


def check_columns(
    mf: MappingFile, table: str, columns: list[str], source: str, report: MappingReport
) -> None:
    """Every column the mapping names exists in the export (its header is enough). An optional
    canonical column the mapping does not name may be absent (validation leaves it empty)."""
    for column, key, required in named_columns(mf, table):
        explicit = key in mf.lines or (len(key) > 2 and key[:3] in mf.lines)
        if column in columns or not (required or explicit):
            continue
        report.errors.append(
            f"{mf.where(*key)}: column {column!r} is not in {source}"
            f"{did_you_mean(column, columns)} (columns: {listed(columns)})"
        )


@dataclass
class ZoneTally:
    """Times with a zone and times without one in the same column cannot be ordered: the naive
    ones might be local or UTC. One zone offset or several (summer time) is fine."""

    column: str
    source: str
    where: str
    zoned: int = 0
    naive: int = 0
    zoned_example: str | None = None
    naive_example: str | None = None

    def add(self, values: pd.Series) -> None:
        if values.dtype.kind == "M" or not len(values):
            return
        text = values.dropna().astype(str).str.strip()
        text = text[text.ne("")]  # empty is missing, not naive
        has_zone = text.str.contains(_ZONE, regex=True).to_numpy()
        self.zoned += int(has_zone.sum())
        self.naive += int((~has_zone).sum())
        if self.zoned_example is None and has_zone.any():
            self.zoned_example = text[has_zone].iloc[0]
        if self.naive_example is None and (~has_zone).any():
            self.naive_example = text[~has_zone].iloc[0]

    def judge(self, report: MappingReport) -> None:
        if self.zoned and self.naive:
            report.errors.append(
                f"{self.where}: {self.source} column {self.column!r} mixes times with a zone "
                f"({self.zoned:,} rows, e.g. {self.zoned_example!r}) and without one "
                f"({self.naive:,} rows, e.g. {self.naive_example!r}); export every time in UTC "
                "or with its offset"
            )


@dataclass
class TargetTally:
    """The target stage (or a later one) must occur, and not for every lead: a label needs two
    classes. Fed the mapped stage rows (ids already following the person)."""

    target_stage: str
    reached: set[str] = field(default_factory=set)
    names: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    rows: int = 0

    def add(self, stages: pd.DataFrame) -> None:
        later = FUNNEL_STAGES[FUNNEL_STAGES.index(self.target_stage) :]
        stage = stages["stage"].astype("string")
        hit = stage.isin(later).fillna(False).to_numpy()
        self.reached.update(stages.loc[hit, "lead_id"].astype(str))
        self.names = self.names.add(stage.value_counts(), fill_value=0)
        self.rows += int(hit.sum())

    def judge(self, n_leads: int, mf: MappingFile, source: str, report: MappingReport) -> None:
        where = (
            f"{mf.where('stages', 'names')}, {source} column "
            f"{source_column(mf, 'stages', 'stage')!r}"
        )
        found = [str(k) for k in self.names.sort_values(ascending=False, kind="stable").index]
        report.counts["leads_reaching_target"] = len(self.reached)
        if not self.rows:
            report.errors.append(
                f"{where}: no stage row maps to the target stage {self.target_stage!r} or a "
                f"later one (params features.target_stage); stage names after mapping: "
                f"{listed(found)}"
            )
        elif n_leads and len(self.reached) >= n_leads:
            report.errors.append(
                f"{where}: every lead ({n_leads:,}) reaches the target stage "
                f"{self.target_stage!r}: the label would have one class; map a later stage as "
                "the target"
            )


def parse_times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed")


@dataclass
class BeforeCreatedTally:
    """Events dated before their lead's created_at: a few are tracking that predates the form
    fill (a warning); most of them mean created_at is the wrong column (an error)."""

    ids: pd.Index  # lead_id (text), one per lead: the first row of an id
    created: np.ndarray  # created_at (datetime64[ns], UTC), aligned with ids
    before: int = 0
    events: int = 0

    @classmethod
    def of(cls, leads: pd.DataFrame) -> BeforeCreatedTally:
        created = parse_times(leads["created_at"]).astype("datetime64[ns, UTC]")
        ids = leads["lead_id"].astype("string")
        first = (~ids.duplicated()).to_numpy()
        index = pd.Index(ids[first])
        index.get_indexer(index[:1])  # build the hash table once, not per chunk
        return cls(index, created.to_numpy("datetime64[ns]")[first])

    def add(self, events: pd.DataFrame) -> None:
        when = parse_times(events["ts"]).astype("datetime64[ns, UTC]").to_numpy("datetime64[ns]")
        # Look up each distinct id once: a chunk holds far fewer leads than events, and the
        # look-up of a string per event was most of what the mapping cost on a large log.
        codes, uniques = pd.factorize(events["lead_id"].astype("string"), use_na_sentinel=True)
        found = np.append(self.ids.get_indexer(uniques), -1)  # code -1 (missing id) -> -1
        at = found[codes]
        theirs = np.where(at >= 0, self.created[np.maximum(at, 0)], np.datetime64("NaT"))
        self.before += int(np.count_nonzero(when < theirs))  # NaT compares False: never before
        self.events += len(events)

    def judge(self, mf: MappingFile, names: dict[str, str], report: MappingReport) -> None:
        report.counts["events_before_lead_created"] = self.before
        if not self.before:
            return
        share = self.before / self.events
        ts_column = source_column(mf, "events", "ts")
        created_column = source_column(mf, "leads", "created_at")
        text = (
            f"{mf.where('events', 'columns', 'ts')}: {self.before:,} events ({share:.1%}) of "
            f"{names['events']} are dated ({ts_column!r}) before their lead's created_at "
            f"({names['leads']} column {created_column!r}, "
            f"{mf.where('leads', 'columns', 'created_at')})"
        )
        limit = mf.mapping.max_events_before_created_share
        if share > limit:
            report.errors.append(
                f"{text}: more than max_events_before_created_share ({limit:.0%}); is "
                "created_at the right column?"
            )
        else:
            report.warnings.append(f"{text}: kept (tracking often predates the form fill)")
