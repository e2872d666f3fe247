"""The histories of the leads a worker re-scores, kept between its steps, so a step reads only
the new events of a lead it saw lately instead of the lead's whole history again.

Re-reading every event of every lead of a step was the largest part of a step at 2,000 events/s
and more (a lead's history is read again for each of its events' steps). A kept history is used
only when it is provably the store's: rows of `ingested_events` are never deleted and never
leave a lead (an identify gives a visitor's rows to a lead once), so a kept copy that holds as
many ids as the store counts rows for the lead holds the same rows. The count is one GROUP BY
over the (lead_id, ts) index per step. Any difference (events another service process
re-scored, a merge on identify the step did not take) reads the lead's whole history again. A
re-score therefore sees exactly the events the store holds, as the daily run does
(tests/test_events_rescore.py pins both).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from datetime import datetime

from store.events import EventStore, History


def _ts(event: tuple[datetime, str, str | None]) -> datetime:
    return event[0]


class HistoryCache:
    """Up to `max_leads` histories, the least recently re-scored dropped first."""

    def __init__(self, max_leads: int) -> None:
        self.max_leads = max_leads
        self._kept: OrderedDict[str, History] = OrderedDict()
        self.reads = 0  # histories read whole (for the benchmark and the tests)
        self.kept_hits = 0  # histories brought up to date from their new rows only

    def histories(self, events: EventStore, taken: dict[str, list[str]]) -> dict[str, History]:
        """The whole history of every lead of `taken` (lead -> its new message ids)."""
        leads = list(taken)
        out: dict[str, History] = {}
        if self.max_leads > 0:
            kept = [lead for lead in leads if lead in self._kept]
            if kept:
                counts = events.row_counts(kept)
                new_ids = [i for lead in kept for i in taken[lead]]
                for lead, ts, kind, event_type, topic, message_id in events.rows_of(new_ids):
                    history = self._kept.get(lead)
                    if history is not None and message_id not in history.seen:
                        _add(history, ts, kind, event_type, topic, message_id)
                for lead in kept:
                    history = self._kept.pop(lead)
                    if len(history.seen) == counts.get(lead, 0):
                        out[lead] = history
                        self.kept_hits += 1
        missing = [lead for lead in leads if lead not in out]
        out.update(events.histories_of(missing))
        self.reads += len(missing)
        if self.max_leads > 0:
            for lead in leads:  # most recently used last
                self._kept[lead] = out[lead]
            while len(self._kept) > self.max_leads:
                self._kept.popitem(last=False)
        return out


def _add(
    history: History,
    ts: datetime,
    kind: str,
    event_type: str,
    topic: str | None,
    message_id: str,
) -> None:
    """One new row into a kept history, track events in time order (late ones inserted)."""
    history.seen.add(message_id)
    if kind != "track":
        return
    at = bisect_right(history.events, ts, key=_ts)
    history.events.insert(at, (ts, event_type, topic))
    history.message_ids.insert(at, message_id)
