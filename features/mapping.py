"""Applying an event-log mapping: a team's exports, in their own vocabulary, onto the data contract.

The mapping file (features/mapping_file.py) says which source columns, names and stages are
which; `LogMapper` turns the source tables into the contract's leads / events / stages, which
`leadscore validate` then triages as usual, so every later stage sees canonical tables. The leads
are mapped whole (an identity merge needs every row of a person at once); events and stages are
mapped one chunk at a time, so memory follows the chunk size, not the log's
(pipeline/mapped_exports.py streams them). `apply_mapping` is the same on whole tables.

Decisions a user relies on (docs/your-own-data.md says the same):
- Event rules are tried in file order; the first rule that matches a row wins. An event no rule
  matches keeps its source name: it is not ignored, it becomes a feature family of its own
  (features/event_families.py). A rule's `as` may also be a new name (a family the user names).
- A source stage name that is not mapped is quarantined by validation (the reason names it), or
  left out and counted when `stages.unmapped: ignore`.
- Identity: lead rows sharing the identity key (a column, trimmed and case-folded, or the person
  an id-map file gives) are one person; the earliest created row's lead_id wins, its created_at
  is the earliest, each attribute is the first non-empty one in creation order, and the events
  and stages of the others follow the person.
- Sequence (`events.sequence`): a column giving each event's position among its lead's events.
  Logs that record dates only give one lead's steps the same time; each event is moved later by
  its position in seconds, so the steps keep their order and two same-day payments are two
  events (leadscore counts one event per lead, type and second). Moved later, never earlier: no
  event can enter a snapshot taken before it happened.
- Everything is checked before anything is kept (features/mapping_checks.py): problems are
  reported together, each naming the file, the column and the mapping line. A rule that matches
  nothing is a warning with the counts it was tried on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.identity import follow_person, identity_key, merge_identities
from features.mapping_checks import (
    BeforeCreatedTally,
    MappingReport,
    TargetTally,
    ZoneTally,
    check_columns,
    listed,
    parse_times,
)
from features.mapping_file import (
    CANONICAL_COLUMNS,
    DISQUALIFIED,
    TIME_COLUMNS,
    ContentTopicMap,
    EventRule,
    MappingFile,
    source_column,
)
from features.vocabularies import STAGES

STAGE_COLUMNS = ["lead_id", "stage", "ts"]


def canonical_frame(mf: MappingFile, table: str, source: pd.DataFrame) -> pd.DataFrame:
    """The contract's columns under their canonical names; absent optional ones are left out
    (validation adds them empty and says so)."""
    out = {}
    for canonical in CANONICAL_COLUMNS[table]:
        column = source_column(mf, table, canonical)
        if column in source.columns:
            out[canonical] = source[column]
    frame = pd.DataFrame(out, index=source.index)
    if table == "leads" and "channel" not in frame.columns:  # a log may have none
        frame["channel"] = pd.Series(pd.NA, index=source.index, dtype="string")
    return frame


@dataclass
class RuleTally:
    """Events each rule matched and was tried on, over every chunk: a rule that matched nothing
    in the whole log is a warning with the counts."""

    hits: list[int]
    tried: list[int]
    names: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    events: int = 0
    mapped: int = 0


def map_event_types(
    events: pd.DataFrame, source: pd.DataFrame, mf: MappingFile, tally: RuleTally
) -> pd.Series:
    """The event type of each row: the first matching rule's `as`, else the source name.

    Works on the codes of the distinct names: when no rule reads a property, every rule is a
    function of the name alone and is decided once per distinct name (a table from old code to
    new), so a log of millions of rows costs one factorize and one take. A pattern on a property
    (a URL, a form name) reads row text, so with one of those the rules run over the rows."""
    codes, uniques = pd.factorize(events["event_type"].astype("string"), use_na_sentinel=True)
    codes = codes.astype(np.int32, copy=False)
    labels = [str(u) for u in uniques]
    code_of = {label: i for i, label in enumerate(labels)}
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    rules = mf.mapping.events.types
    if any(rule.property is not None for rule in rules):
        out, mapped = rules_by_row(codes, labels, code_of, source, rules, tally)
    else:
        out, mapped = rules_by_name(codes, labels, code_of, counts, rules, tally)
    tally.names = tally.names.add(pd.Series(counts, index=labels), fill_value=0)
    tally.events += len(events)
    tally.mapped += mapped
    return labelled(out, list(code_of), events.index)


def named(rule: EventRule, labels: list[str], code_of: dict[str, int]) -> np.ndarray:
    """Which distinct names (by code) a rule's exact `name` accepts (all when it names none)."""
    if rule.name is None:
        return np.ones(len(labels), dtype=bool)
    match = np.zeros(len(labels), dtype=bool)
    code = code_of.get(rule.name, -1)
    if 0 <= code < len(labels):  # a name only an earlier rule's `as` gave is no source name
        match[code] = True
    return match


def name_pattern(rule: EventRule, labels: list[str]) -> np.ndarray:
    """Which distinct names a rule's pattern on the name accepts (all without one)."""
    if rule.pattern is None or rule.property is not None:
        return np.ones(len(labels), dtype=bool)
    found = pd.Series(labels, dtype="string").str.contains(rule.pattern, regex=True)
    return found.fillna(False).to_numpy(bool)


def rules_by_name(
    codes: np.ndarray,
    labels: list[str],
    code_of: dict[str, int],
    counts: np.ndarray,
    rules: tuple[EventRule, ...],
    tally: RuleTally,
) -> tuple[np.ndarray, int]:
    """Rules on names only, decided per distinct name; a row without a name matches none but
    counts as tried by a rule that names no name (as the row-wise path counts it)."""
    missing = int(np.count_nonzero(codes < 0))
    new_code = np.arange(len(labels), dtype=np.int32)
    claimed = np.zeros(len(labels), dtype=bool)
    for i, rule in enumerate(rules):
        candidates = ~claimed & named(rule, labels, code_of)
        hit = candidates & name_pattern(rule, labels)
        tally.tried[i] += int(counts[candidates].sum()) + missing * (rule.name is None)
        tally.hits[i] += int(counts[hit].sum())
        new_code[hit] = code_of.setdefault(rule.as_, len(code_of))
        claimed |= hit
    out = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1).astype(np.int32)
    return out, int(counts[claimed].sum())


def rules_by_row(
    codes: np.ndarray,
    labels: list[str],
    code_of: dict[str, int],
    source: pd.DataFrame,
    rules: tuple[EventRule, ...],
    tally: RuleTally,
) -> tuple[np.ndarray, int]:
    """Rules run over the rows, first match wins; a name or name pattern is still decided once
    per distinct name, and only a property pattern reads the rows it is tried on."""
    out = codes.copy()
    assigned = np.zeros(len(codes), dtype=bool)
    for i, rule in enumerate(rules):
        candidates = ~assigned
        if rule.name is not None:
            candidates &= codes == code_of.get(rule.name, -2)
        hit = candidates.copy()
        if rule.pattern is not None and rule.property is None:
            hit &= np.append(name_pattern(rule, labels), False)[codes]
        elif rule.pattern is not None:
            found = source[rule.property][hit].astype("string").str.contains(rule.pattern)
            hit[hit] = found.fillna(False).to_numpy(bool)
        tally.hits[i] += int(hit.sum())
        tally.tried[i] += int(candidates.sum())
        out[hit] = code_of.setdefault(rule.as_, len(code_of))
        assigned |= hit
    return out, int(assigned.sum())


def labelled(codes: np.ndarray, labels: list[str], index: pd.Index) -> pd.Series:
    """Text of each code (-1: missing), built in Arrow from the labels: no Python string per row,
    which on tens of millions of events costs more than every rule together."""
    missing = codes < 0
    indices = pa.array(np.where(missing, 0, codes), type=pa.int32(), mask=missing)
    text = pc.take(pa.array(labels, type=pa.large_string()), indices)
    return pd.Series(pd.arrays.ArrowStringArray(text), index=index)


def judge_rules(mf: MappingFile, tally: RuleTally, report: MappingReport) -> None:
    matched: dict[str, int] = {}
    names = [str(k) for k in tally.names.sort_values(ascending=False, kind="stable").index]
    for i, rule in enumerate(mf.mapping.events.types):
        label = rule.name if rule.pattern is None else f"/{rule.pattern}/"
        matched[f"{label} -> {rule.as_}"] = tally.hits[i]
        if tally.hits[i]:
            continue
        if rule.pattern is None:
            why = f"no event left by the rules above is named so (names: {listed(names)})"
        else:
            named = f" named {rule.name!r}" if rule.name else ""
            on = f"their {rule.property}" if rule.property else "their names"
            why = f"tried on {on} of {tally.tried[i]:,} events{named}"
        report.warnings.append(
            f"{mf.where('events', 'types', i)}: rule {label!r} matches no event ({why})"
        )
    report.counts["event_rules"] = matched
    report.counts["events_mapped"] = tally.mapped
    report.counts["events_in_source_words"] = tally.events - tally.mapped


def map_content_topic(source: pd.DataFrame, topic: ContentTopicMap) -> pd.Series:
    values = source[topic.property].astype("string")
    if not topic.rules:
        return values
    out = pd.Series(pd.NA, index=source.index, dtype="string")
    for rule in topic.rules:
        hit = out.isna() & values.str.contains(rule.pattern, regex=True).fillna(False)
        out[hit] = rule.as_
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
        return pd.DataFrame(columns=STAGE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


@dataclass
class StageTally:
    """Stage names seen and unmapped rows, over every chunk of the stage log."""

    seen: set[str] = field(default_factory=set)
    unmapped: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))


def map_stage_names(stages: pd.DataFrame, mf: MappingFile, tally: StageTally) -> pd.DataFrame:
    """Source stage names -> funnel stages; unmapped ones kept (validation quarantines them) or
    left out and counted (`stages.unmapped: ignore`)."""
    section = mf.mapping.stages
    if not section.names and not section.lost:
        return stages
    names = {**section.names, **dict.fromkeys(section.lost, DISQUALIFIED)}
    source = stages["stage"].astype("string")
    mapped = source.map(names)
    unmapped = mapped.isna() & source.notna() & ~source.isin(STAGES)
    tally.unmapped = tally.unmapped.add(source[unmapped].value_counts(), fill_value=0)
    tally.seen.update(source.dropna().unique())
    out = stages.assign(stage=mapped.fillna(source))
    if section.unmapped == "ignore":
        out = out[~unmapped.to_numpy()]
    return out


def judge_stage_names(mf: MappingFile, tally: StageTally, report: MappingReport) -> None:
    if not mf.mapping.stages.names and not mf.mapping.stages.lost:
        return
    counts = tally.unmapped.sort_values(ascending=False, kind="stable")
    report.counts["stage_rows_unmapped"] = {str(k): int(v) for k, v in counts.items()}
    for name in mf.mapping.stages.names:
        if name not in tally.seen:
            report.warnings.append(
                f"{mf.where('stages', 'names', name)}: stage {name!r} never occurs "
                f"(stage names found: {listed(sorted(tally.seen))})"
            )


def apply_sequence(
    ts: pd.Series, sequence: pd.Series, first_row: int, where: str, limit: int
) -> tuple[pd.Series, str | None]:
    """Each event moved later by its position in seconds (module docstring). Returns the times
    and a problem (the first row whose position is not a whole number in [0, limit]), if any.
    Text times stay text in the style they came in; typed times stay typed."""
    position = pd.to_numeric(sequence, errors="coerce")
    given = sequence.notna() & sequence.astype("string").str.strip().ne("")
    bad = given & ~(position.between(0, limit) & (position % 1 == 0))
    problem = None
    if bad.any():
        at = int(np.flatnonzero(bad.to_numpy())[0])
        problem = (
            f"{where}: {int(bad.sum()):,} rows are not a position from 0 to {limit:,} "
            f"(events.sequence_max), e.g. row {first_row + at:,}: {sequence.iloc[at]!r}"
        )
    moved = (given & ~bad & position.gt(0)).to_numpy()
    if not moved.any():
        return ts, problem
    delta = pd.to_timedelta(position[moved].astype("int64"), unit="s").to_numpy()
    if ts.dtype.kind == "M":
        out = ts.copy()
        out[moved] = ts[moved] + delta
        return out, problem
    text = ts[moved].astype("string").str.strip()
    when = parse_times(text) + delta
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
    shifted = when.dt.strftime("%Y-%m-%d %H:%M:%S.%f").astype("string")
    shifted = shifted.where(~zoned, shifted + "+00:00").where(when.notna(), text)
    out = ts.astype("string").copy()
    out[moved] = shifted
    return out, problem


@dataclass(frozen=True)
class MappedLog:
    leads: pd.DataFrame
    events: pd.DataFrame
    stages: pd.DataFrame
    report: MappingReport


class LogMapper:
    """One log's mapping, applied to the leads whole and to events and stages chunk by chunk.

    Construct it with the exports' headers and the leads (and the id-map, if the mapping names
    one): column problems raise at once, before any event is read. Then map every events and
    stages chunk (`events`, `stages`, plus `date_stages` once), and call `finish`, which judges
    what the chunks showed and raises every problem together. A caller keeps nothing it wrote
    before `finish` returned."""

    def __init__(
        self,
        mf: MappingFile,
        names: dict[str, str],
        target_stage: str,
        headers: dict[str, list[str]],
        leads_source: pd.DataFrame,
        id_map_source: pd.DataFrame | None = None,
    ) -> None:
        self.mf, self.names, self.report = mf, names, MappingReport()
        for table, columns in headers.items():
            check_columns(mf, table, [str(c) for c in columns], names[table], self.report)
        self.report.raise_errors()  # nothing below can run on a column that is not there
        self.zones = {
            table: ZoneTally(
                source_column(mf, table, canonical),
                names[table],
                mf.where(table, "columns", canonical),
            )
            for table in headers
            if table in TIME_COLUMNS
            for canonical in TIME_COLUMNS[table]
        }
        for stage, column in mf.mapping.leads.stage_dates.items():
            tally = ZoneTally(column, names["leads"], mf.where("leads", "stage_dates", stage))
            tally.add(leads_source[column])
            self.zones[f"leads.{stage}"] = tally
        self.zones["leads"].add(leads_source[source_column(mf, "leads", "created_at")])
        leads = canonical_frame(mf, "leads", leads_source)
        self.from_dates = stages_from_dates(leads_source, leads["lead_id"], mf)
        key, problems = identity_key(leads_source, leads["lead_id"], mf, id_map_source, names)
        self.report.errors += problems
        self.id_map: dict[str, str] = {}
        if key is not None:
            leads, self.id_map = merge_identities(leads, key)
        self.report.counts["lead_rows"] = len(leads_source)
        self.report.counts["lead_rows_merged"] = len(leads_source) - len(leads)
        self.leads = leads
        n_rules = len(mf.mapping.events.types)
        self.rules = RuleTally([0] * n_rules, [0] * n_rules)
        self.stage_names = StageTally()
        self.target = TargetTally(target_stage)
        self.before_created = BeforeCreatedTally.of(leads)
        self.sequence_problem: str | None = None

    def events(self, source: pd.DataFrame, first_row: int = 1) -> pd.DataFrame:
        mf = self.mf
        if "events" in self.zones:
            self.zones["events"].add(source[source_column(mf, "events", "ts")])
        events = canonical_frame(mf, "events", source)
        events["event_type"] = map_event_types(events, source, mf, self.rules)
        if mf.mapping.events.content_topic is not None:
            events["content_topic"] = map_content_topic(source, mf.mapping.events.content_topic)
        if mf.mapping.events.sequence is not None:
            column = mf.mapping.events.sequence
            where = f"{mf.where('events', 'sequence')}: {self.names['events']} column {column!r}"
            events["ts"], problem = apply_sequence(
                events["ts"], source[column], first_row, where, mf.mapping.events.sequence_max
            )
            self.sequence_problem = self.sequence_problem or problem
        events = follow_person(events, self.id_map)
        self.before_created.add(events)
        return events

    def stages(self, source: pd.DataFrame) -> pd.DataFrame:
        if "stages" in self.zones:
            self.zones["stages"].add(source[source_column(self.mf, "stages", "ts")])
        frame = canonical_frame(self.mf, "stages", source)
        stages = follow_person(map_stage_names(frame, self.mf, self.stage_names), self.id_map)
        self.target.add(stages)
        return stages

    def date_stages(self) -> pd.DataFrame:
        """The stage rows of HubSpot-style date columns (empty when the mapping has none)."""
        stages = follow_person(self.from_dates, self.id_map)
        self.target.add(stages)
        return stages

    def finish(self) -> MappingReport:
        report = self.report
        for tally in self.zones.values():
            tally.judge(report)
        if self.sequence_problem:
            report.errors.append(self.sequence_problem)
        judge_rules(self.mf, self.rules, report)
        judge_stage_names(self.mf, self.stage_names, report)
        report.counts["stage_rows_from_dates"] = len(self.from_dates)
        source = self.names.get("stages", self.names["leads"])
        self.target.judge(self.leads["lead_id"].nunique(), self.mf, source, report)
        self.before_created.judge(self.mf, self.names, report)
        report.raise_errors()
        return report


def apply_mapping(
    sources: dict[str, pd.DataFrame],
    names: dict[str, str],
    mf: MappingFile,
    target_stage: str,
) -> MappedLog:
    """Whole source tables (`leads`, `events`, `stages` unless the mapping has none, and
    `identity_map` when it names one) -> the contract's tables, in one chunk each. `names` says
    what each source is called in messages (its path). Raises DataError listing every problem
    before returning anything."""
    headers = {t: list(f.columns) for t, f in sources.items()}
    mapper = LogMapper(
        mf, names, target_stage, headers, sources["leads"], sources.get("identity_map")
    )
    events = mapper.events(sources["events"])
    parts = [mapper.stages(sources["stages"])] if "stages" in sources else []
    parts.append(mapper.date_stages())
    stages = pd.concat([p for p in parts if len(p.columns)], ignore_index=True)
    report = mapper.finish()
    return MappedLog(mapper.leads, events, stages, report)
