"""Lead ids with any characters, and values too long for the store, through the real
`leadscore daily` on SQLite and PostgreSQL (issue 31, findings 1 and 2): ids with non-ASCII
characters, emoji and line breaks are scored, stored, handed over and delivered with a key the
receiver recovers exactly, and the next day's hand-offs follow; a 300-character lead id and a
150-character channel are quarantined by validation with the reason, not refused by PostgreSQL
for the whole day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from store import Store
from tests.conftest import Project
from tests.daily_run import daily, ok
from tests.store_fixtures import pg_database, store_url
from tests.test_daily_e2e import params_with
from tests.webhook_receiver import WebhookReceiver, whsec_for

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DAY1, DAY2 = date(2026, 10, 20), date(2026, 10, 21)
SECRET = whsec_for("odd-ids")
LONG_ID = "PZ-" + "x" * 297
SUFFIXES = ("-Müller-😀", "\nzweite Zeile", "", " a/b%20?")


def odd_exports(project: Project, folder: Path) -> dict[str, str]:
    """The project's raw exports with most lead ids made odd (the same in all three tables),
    plus one lead with a 300-character id and one with a 150-character channel."""
    raw = project.root / "data" / "raw"
    leads = pd.read_parquet(raw / "leads.parquet")
    events = pd.read_parquet(raw / "events.parquet")
    stages = pd.read_parquet(raw / "stages.parquet")
    ids = leads["lead_id"].astype(str)
    renamed = {i: f"{i}{SUFFIXES[n % len(SUFFIXES)]}" for n, i in enumerate(ids)}
    for table in (leads, events, stages):
        table["lead_id"] = table["lead_id"].astype(str).map(renamed)
    extra = leads.iloc[[0, 1]].copy()
    extra["lead_id"] = [LONG_ID, "PZ-long-channel"]
    extra["channel"] = ["email", "c" * 150]
    leads = pd.concat([leads, extra], ignore_index=True)
    folder.mkdir()
    leads.to_parquet(folder / "leads.parquet")
    events.to_parquet(folder / "events.parquet")
    stages.to_parquet(folder / "stages.parquet")
    (folder / "personas.yaml").write_bytes((raw / "personas.yaml").read_bytes())
    return renamed


def test_odd_ids_are_handed_over_and_delivered_long_values_quarantined(
    trained_project: Project, store_url: str, tmp_path: Path
) -> None:
    odd_exports(trained_project, tmp_path / "raw")
    params = params_with(trained_project, tmp_path, raw=str(tmp_path / "raw"))
    with WebhookReceiver(secret=SECRET) as hook:
        env = {
            "LEADSCORE_DB_URL": store_url,
            "LEADSCORE_WEBHOOK_URL": hook.url,
            "LEADSCORE_WEBHOOK_SECRET": SECRET,
        }
        ok(daily(trained_project, params, env, "--as-of", DAY1.isoformat()))
        ok(daily(trained_project, params, env, "--as-of", DAY2.isoformat()))
        processed = set(hook.processed)
        bodies = {key: body["lead_id"] for key, body in hook.processed.items()}

    with Store.open(store_url) as store:
        assert store.outbox_counts()["pending"] == 0
        assert store.outbox_counts()["failed-permanent"] == 0
        handed = {d: set(store.handoff(d)["lead_id"]) for d in (DAY1, DAY2)}
    assert handed[DAY1] and handed[DAY2], "both days should hand leads over"
    expected = {f"{d.isoformat()}:{lead}" for d, leads in handed.items() for lead in leads}
    assert processed == expected  # every hand-off, both days, each exact key recovered
    assert all(key.endswith(":" + lead) for key, lead in bodies.items())
    odd = {lead for leads in handed.values() for lead in leads if not lead.isascii()}
    assert any("\n" in lead for leads in handed.values() for lead in leads)
    assert any("😀" in lead for lead in odd)

    out = tmp_path / "artifacts" / "daily" / DAY2.isoformat()
    csv = pd.read_csv(out / "handoff.csv", dtype={"lead_id": str}, keep_default_na=False)
    assert set(csv["lead_id"]) == handed[DAY2]  # the CSV keeps the exact ids too
    summary = json.loads((out / "validation" / "validation_summary.json").read_text())
    reasons = summary["leads"]["reasons"]
    assert reasons.get("lead_id_too_long") == 1 and reasons.get("channel_too_long") == 1
