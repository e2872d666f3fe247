"""Lengths and characters, the same for files, the API and both databases (issue 31, finding 2):
what validation keeps the store can store on SQLite and PostgreSQL alike; a value that does not
fit is quarantined by validation with the reason, and refused by the store with an error naming
the table, column, row and lead (not PostgreSQL's `value too long for type character
varying(200)`, nor SQLite silently keeping it)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from pydantic import ValidationError

from features.triage import validate_table
from foundation.errors import DataError
from foundation.text_limits import CATEGORY_MAX, LEAD_ID_MAX
from serve.schemas import LeadProfile
from store import RunRecord, Store, schema
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

DAY = date(2026, 10, 21)
NOW = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)
LONG_ID = "PZ-" + "x" * 297


def test_validation_quarantines_too_long_text_and_nul_naming_the_column() -> None:
    raw = pd.DataFrame(
        {
            "lead_id": [LONG_ID, "L2", "L3\x00", "PZ-Müller-😀", "L\nbreak", "L6"],
            "created_at": "2026-01-01",
            "channel": ["email", "c" * 150, "email", "email", "email", "c" * CATEGORY_MAX],
        }
    )
    result = validate_table(raw, "leads")
    assert result.reasons == {
        "lead_id_too_long": 1,
        "channel_too_long": 1,
        "lead_id_forbidden_character": 1,
    }
    assert list(result.kept["lead_id"]) == ["PZ-Müller-😀", "L\nbreak", "L6"]  # exact characters
    reasons = dict(zip(result.quarantined["lead_id"], result.quarantined["reason"], strict=True))
    assert "longer than 200 characters" in reasons[LONG_ID]
    assert "channel" in reasons["L2"] and "longer than 100 characters" in reasons["L2"]
    assert "NUL" in reasons["L3\x00"]


def test_validation_and_api_and_store_state_the_same_lengths() -> None:
    assert schema.scores.c.lead_id.type.length == LEAD_ID_MAX
    assert schema.outbox.c.lead_id.type.length == LEAD_ID_MAX
    assert schema.scores.c.channel.type.length == CATEGORY_MAX
    # The key (`<date>:<lead_id>`) of the longest id fits the outbox's key column.
    assert len(f"{DAY.isoformat()}:" + "x" * LEAD_ID_MAX) <= schema.outbox.c.key.type.length
    ok = {"created_at": "2026-01-01T00:00:00Z"}
    LeadProfile(lead_id="x" * LEAD_ID_MAX, channel="c" * CATEGORY_MAX, **ok)
    with pytest.raises(ValidationError):
        LeadProfile(lead_id="x" * (LEAD_ID_MAX + 1), **ok)
    with pytest.raises(ValidationError):
        LeadProfile(channel="c" * (CATEGORY_MAX + 1), **ok)


def run_with(leads: list[str], channels: list[str]) -> tuple[RunRecord, pd.DataFrame]:
    run = RunRecord(DAY, NOW, NOW, "m", "1", 0.3, len(leads), 0, 0, 0, 0, {})
    scores = pd.DataFrame(
        {"lead_id": leads, "channel": channels, "probability": 0.5, "score": 50, "decision": "no"}
    )
    return run, scores


def test_store_refuses_a_value_that_does_not_fit_naming_table_column_and_lead(
    store_url: str,
) -> None:
    with Store.open(store_url) as store:
        run, scores = run_with(["L1", LONG_ID], ["email", "email"])
        with pytest.raises(DataError) as refused:
            store.save_run(run, scores, None, None)
        message = str(refused.value)
        assert "scores row 1" in message and "scores.lead_id" in message
        assert LONG_ID[:40] in message and "at most 200" in message
        assert store.runs().empty  # nothing written, on SQLite too

        run, scores = run_with(["L1", "L2"], ["email", "c" * 150])
        with pytest.raises(DataError, match=r"scores row 1 \(lead 'L2'\): scores.channel"):
            store.save_run(run, scores, None, None)
        run, scores = run_with(["L1", "L\x002"], ["email", "email"])
        with pytest.raises(DataError, match="NUL"):
            store.save_run(run, scores, None, None)
        assert store.runs().empty

        odd = ["PZ-Müller-😀", "L\nbreak", "x" * LEAD_ID_MAX]
        run, scores = run_with(odd, ["email", "email", "c" * CATEGORY_MAX])
        store.save_run(run, scores, None, None)
        assert sorted(store.scores(DAY)["lead_id"]) == sorted(odd)
        assert store.lead("PZ-Müller-😀") is not None
        assert store.lead("L\x00nul") is None  # not a PostgreSQL error: no such lead
