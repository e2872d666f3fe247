"""The event mapping (features/mapping_file.py, features/mapping.py) applied to ONE event as it
arrives: the same rules, in the same order, with the same meaning, so an event posted to
`POST /v1/events` gets the event type and content topic the daily run would give the same event
read from an export.

`map_event_types` works on a whole column at once (and reports unmatched rules); here a rule is a
plain loop: an arriving event is one row, and the answer must take microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from features.mapping_file import MappingFile


@dataclass(frozen=True)
class _Rule:
    name: str | None
    property: str | None
    pattern: re.Pattern[str] | None
    as_: str


@dataclass(frozen=True)
class EventNamer:
    """Event name + properties -> (event type, content topic), as the mapping file says."""

    mapping: MappingFile
    _rules: tuple[_Rule, ...] = field(init=False)
    _topic_rules: tuple[tuple[re.Pattern[str], str], ...] = field(init=False)

    def __post_init__(self) -> None:
        events = self.mapping.mapping.events
        rules = tuple(
            _Rule(r.name, r.property, re.compile(r.pattern) if r.pattern else None, r.as_)
            for r in events.types
        )
        object.__setattr__(self, "_rules", rules)
        topic = events.content_topic
        topic_rules = tuple((re.compile(t.pattern), t.as_) for t in topic.rules) if topic else ()
        object.__setattr__(self, "_topic_rules", topic_rules)

    def event_type(self, name: str, properties: Mapping[str, Any]) -> str:
        """The first matching rule's `as`, else the name itself (an unmapped type becomes an
        event family of its own, as in the daily run)."""
        for rule in self._rules:
            if rule.name is not None and rule.name != name:
                continue
            if rule.pattern is not None:
                searched = properties.get(rule.property) if rule.property is not None else name
                if searched is None or rule.pattern.search(str(searched)) is None:
                    continue
            return rule.as_
        return name

    def content_topic(self, properties: Mapping[str, Any]) -> str | None:
        """The topic from the mapping's `content_topic` property (its first matching rule, or
        the value itself without rules); without one, the contract's `content_topic` property."""
        topic = self.mapping.mapping.events.content_topic
        if topic is None:
            column = self.mapping.mapping.events.columns.get("content_topic", "content_topic")
            value = properties.get(column)
            return None if value is None else str(value)
        value = properties.get(topic.property)
        if value is None:
            return None
        if not self._topic_rules:
            return str(value)
        return next((as_ for pattern, as_ in self._topic_rules if pattern.search(str(value))), None)

    def trait_name(self, canonical: str) -> str:
        """The trait of an `identify` that holds a lead column (`company_size`, ...): the
        mapping's source column for it, else the contract's own name."""
        return self.mapping.mapping.leads.columns.get(canonical, canonical)
