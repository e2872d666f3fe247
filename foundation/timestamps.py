"""Time helpers every floor uses: the data contract's rule that a naive time means UTC."""

from __future__ import annotations

import pandas as pd


def as_utc_timestamp(value: object) -> pd.Timestamp:
    """A snapshot time as a UTC Timestamp; a naive value means UTC (the data contract's rule)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
