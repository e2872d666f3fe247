"""Limits on the lists one lead carries in a request (events, stages), checked on the decoded
JSON before any model validation.

Validation reads every item of a list before it compares the list's length with its bound: one
lead with 250,000 stages (13 MB) held the event loop 3-10 s in validation, and four at once
stalled /healthz. Counting the items of the decoded JSON costs nothing, so the configured
limits (settings `max_events_per_lead`, `max_stages_per_lead`) are checked first and the
request refused with 422 naming the field. A batch with a lead over a limit is refused whole
(the message names the lead's position).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from serve.errors import InputError, error_item


@dataclass(frozen=True)
class ListLimits:
    events: int
    stages: int

    @classmethod
    def of(cls, settings: Any) -> ListLimits:
        return cls(events=settings.max_events_per_lead, stages=settings.max_stages_per_lead)


def check_lead_lists(raw: Any, limits: ListLimits, prefix: Sequence[str | int] = ("body",)) -> None:
    """422 when the lead `raw` (decoded JSON) carries more events or stages than allowed."""
    if not isinstance(raw, dict):
        return
    errors = []
    for name, limit in (("events", limits.events), ("stages", limits.stages)):
        value = raw.get(name)
        if isinstance(value, list) and len(value) > limit:
            errors.append(
                error_item(
                    (*prefix, name),
                    f"at most {limit} {name} per lead, not {len(value)} (send the most recent "
                    "ones)",
                    f"too_many_{name}",
                )
            )
    if errors:
        raise InputError(errors)


def check_batch_lists(data: Any, limits: ListLimits) -> None:
    """check_lead_lists for every lead of a row-form batch."""
    leads = data.get("leads") if isinstance(data, dict) else None
    if not isinstance(leads, list):
        return
    for index, lead in enumerate(leads):
        check_lead_lists(lead, limits, ("body", "leads", index))
