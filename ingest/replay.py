"""A stored event log as the Segment messages a site tracker would have sent, in time order,
with the moment each is due at a chosen speed (`leadscore events replay`, the benchmark).

A data-contract events table (lead_id, ts, event_type, content_topic; CSV or Parquet) becomes
`track` messages whose messageId is a digest of the event itself, so replaying the same log
twice stores nothing new; a leads table, when given, becomes one `identify` per lead first (its
columns as traits). A `.jsonl` file is taken as Segment messages already.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from foundation.errors import DataError
from foundation.io import read_table
from ingest.segment import PROFILE_COLUMNS


@dataclass(frozen=True)
class Pace:
    """How fast: `speed` seconds of the log per second of replay (0: no waiting), or a fixed
    `rate` of messages per second (wins over speed)."""

    speed: float = 0.0
    rate: float | None = None


def message_id(*parts: Any) -> str:
    """The same event always gets the same id: a replay is de-duplicated by the service."""
    text = "\x1f".join("" if p is None or p != p else str(p) for p in parts)
    return "replay-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _iso(value: Any) -> str:
    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def identify_messages(leads: pd.DataFrame) -> list[dict[str, Any]]:
    """One `identify` per lead, stamped at its creation, its contract columns as traits."""
    created = pd.to_datetime(leads["created_at"], utc=True)
    if "company_size" in leads:  # a CSV is read as text: the API takes an integer
        leads = leads.assign(company_size=_sizes(leads["company_size"]))
    out = []
    for row, ts in zip(leads.to_dict("records"), created, strict=True):
        traits = {c: _plain(row.get(c)) for c in PROFILE_COLUMNS if _plain(row.get(c)) is not None}
        traits["created_at"] = _iso(ts)
        out.append(
            {
                "type": "identify",
                "messageId": message_id("identify", row["lead_id"], ts.isoformat()),
                "userId": str(row["lead_id"]),
                "timestamp": _iso(ts),
                "traits": traits,
            }
        )
    return out


def _sizes(values: pd.Series) -> pd.Series:
    """company_size as numbers; a value that is not one is an error naming its row."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"leads row {row + 1:,}: company_size {values.iloc[row]!r} is not a number")
    return numbers.astype(object).where(numbers.notna(), None)


def track_messages(events: pd.DataFrame) -> list[dict[str, Any]]:
    """One `track` per event (its type as the event name, its topic as a property)."""
    ts = pd.to_datetime(events["ts"], utc=True)
    topics = events["content_topic"] if "content_topic" in events else [None] * len(events)
    out = []
    seen: dict[tuple, int] = {}  # a log may hold the same event twice: both are sent
    for lead, when, kind, topic in zip(
        events["lead_id"].astype(str), ts, events["event_type"].astype(str), topics, strict=True
    ):
        properties = {} if _plain(topic) is None else {"content_topic": str(topic)}
        key = (lead, when.isoformat(), kind, _plain(topic))
        seen[key] = seen.get(key, -1) + 1
        out.append(
            {
                "type": "track",
                "messageId": message_id(*key, seen[key] or None),
                "userId": lead,
                "event": kind,
                "timestamp": _iso(when),
                "properties": properties,
            }
        )
    return out


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: NaN/NA as None, numpy scalars as Python, a whole float (an export's
    company_size read as float) as an int: the API takes integers only where it means them."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def load_messages(events_file: Path, leads_file: Path | None = None) -> list[dict[str, Any]]:
    """Every message of the log, in time order (identify before a track at the same instant)."""
    if events_file.suffix == ".jsonl":
        messages = [orjson.loads(line) for line in events_file.read_bytes().splitlines() if line]
    else:
        messages = track_messages(read_table(events_file))
    if leads_file is not None:
        messages = identify_messages(read_table(leads_file)) + messages
    order = {"identify": 0}
    return sorted(messages, key=lambda m: (_when(m), order.get(m.get("type"), 1)))


def _when(message: dict[str, Any]) -> pd.Timestamp:
    """A message's timestamp (naive: UTC; none: first)."""
    ts = pd.Timestamp(message.get("timestamp") or "1970-01-01T00:00:00")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def schedule(messages: list[dict[str, Any]], pace: Pace) -> Iterator[tuple[float, dict[str, Any]]]:
    """(seconds after the start the message is due, message), in order."""
    if not messages:
        return
    if pace.rate:
        for i, m in enumerate(messages):
            yield i / pace.rate, m
        return
    first = _when(messages[0])
    for m in messages:
        offset = (_when(m) - first).total_seconds()
        yield (offset / pace.speed if pace.speed > 0 else 0.0), m
