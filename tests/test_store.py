"""The store of record, on SQLite and on a real PostgreSQL (the `store_url` fixture runs every
test on both): round trips, safe re-runs, one-transaction saves, the outbox, migrations."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from delivery.outbox import Outbox
from foundation.errors import ConfigError, DataError
from store import OutboxItem, RunRecord, Store, outbox_key, resolve_url
from store.migrations_config import alembic_config
from store.schema import metadata
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

DAY1 = date(2026, 10, 20)
DAY2 = date(2026, 10, 21)
NOW = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def make_run(day: date, n_open: int = 3, **recap: object) -> RunRecord:
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6)
    return RunRecord(
        run_date=day,
        started_at=start,
        finished_at=start + timedelta(seconds=42),
        model_name="lead-propensity",
        model_version="3",
        threshold=0.35,
        n_open=n_open,
        n_mql=1,
        n_handoff=1,
        n_returning=1,
        n_overdue=0,
        recap={"mql_mtd": 12, **recap},
    )


def make_scores(ids: list[str], mql: str = "L2") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ids,
            "channel": "paid_search",
            "persona": "it_manager",
            "probability": [0.9 if i == mql else 0.1 for i in ids],
            "score": [90 if i == mql else 10 for i in ids],
            "tier": ["A" if i == mql else "C" for i in ids],
            "decision": ["mql" if i == mql else "nurture" for i in ids],
            "rule": "score>=threshold",
            "grade": "A1",
            "expected_value_eur": [4200.0 if i == mql else float("nan") for i in ids],
            "reasons": [["visited pricing 3 times", "downloaded a whitepaper"] for _ in ids],
            "activity": [{"visits": 4, "downloads": [{"topic": "security"}]} for _ in ids],
        }
    )


def make_handoff(day: date, ids: list[str]) -> pd.DataFrame:
    handed = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=6)
    return pd.DataFrame(
        {
            "lead_id": ids,
            "handed_at": handed,
            "followup_deadline": handed + pd.Timedelta(hours=24),
            "payload": [{"lead_id": i, "score": 90, "reasons": ["pricing"]} for i in ids],
        }
    )


def make_flags(ids: list[str], kind: str = "returning") -> pd.DataFrame:
    return pd.DataFrame({"lead_id": ids, "kind": kind, "payload": [{"pages": 3} for _ in ids]})


def outbox_for(day: date, ids: list[str]) -> list[OutboxItem]:
    return [OutboxItem.new(day, i, {"lead_id": i}, NOW) for i in ids]


def save_day(store: Store, day: date, ids: list[str], mql: str = "L2") -> None:
    store.save_run(
        make_run(day, n_open=len(ids)),
        make_scores(ids, mql),
        make_handoff(day, [mql]),
        make_flags(["L1"]),
        outbox_for(day, [mql]),
    )


def row_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("runs", "scores", "handoffs", "lead_flags", "outbox")
            }
    finally:
        engine.dispose()


def snapshot(store: Store, day: date) -> dict[str, object]:
    return {
        "run": store.run(day),
        "scores": store.scores(day),
        "handoff": store.handoff(day),
        "flags": store.flags(day, "returning"),
        "outbox": store.outbox(),
    }


def assert_same_snapshot(a: dict[str, object], b: dict[str, object]) -> None:
    assert a["run"] == b["run"]
    for name in ("scores", "handoff", "flags", "outbox"):
        pd.testing.assert_frame_equal(a[name], b[name])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- round trips
def test_a_saved_run_reads_back_with_decoded_json_and_utc_times(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2", "L3"])
        run = store.last_run()
        assert run == make_run(DAY1)
        assert RunRecord(**{**vars(run), "run_date": pd.Timestamp(DAY1)}).run_date == DAY1
        assert run is not None and run.started_at.tzinfo is not None

        scores = store.scores(DAY1)
        assert list(scores["lead_id"]) == ["L1", "L2", "L3"]
        assert scores.loc[1, "reasons"] == ["visited pricing 3 times", "downloaded a whitepaper"]
        assert scores.loc[1, "activity"] == {"visits": 4, "downloads": [{"topic": "security"}]}
        assert scores.loc[1, "score"] == 90 and scores.loc[1, "decision"] == "mql"
        assert pd.isna(scores.loc[0, "expected_value_eur"])  # NaN stored as NULL
        assert set(scores["run_date"]) == {DAY1}
        slim = store.scores(DAY1, columns=["lead_id", "score", "reasons"])
        assert list(slim.columns) == ["lead_id", "score", "reasons"]
        pd.testing.assert_frame_equal(slim, scores[["lead_id", "score", "reasons"]])

        handoff = store.handoff(DAY1)
        assert handoff.loc[0, "payload"] == {"lead_id": "L2", "score": 90, "reasons": ["pricing"]}
        assert handoff.loc[0, "followup_deadline"] == pd.Timestamp("2026-10-21T06:00", tz="UTC")
        assert str(handoff["handed_at"].dtype).startswith("datetime64")
        assert list(store.flags(DAY1, "returning")["lead_id"]) == ["L1"]
        assert store.flags(DAY1, "overdue").empty
        assert list(store.runs()["run_date"]) == [DAY1]


def test_json_columns_take_python_values_or_json_text(store_url: str) -> None:
    with Store.open(store_url) as store:
        scores = make_scores(["L1", "L2"]).assign(reasons=["visited pricing", ["a", "b"]])
        scores = scores.drop(columns="activity").assign(activity_json=['{"visits":2}', None])
        store.save_run(make_run(DAY1), scores, None, None)
        back = store.scores(DAY1)
        assert list(back["reasons"]) == ["visited pricing", ["a", "b"]]  # a string stays one
        assert back.loc[0, "activity"] == {"visits": 2} and back.loc[1, "activity"] is None


def test_timestamps_are_stored_as_utc_whatever_zone_they_come_in(store_url: str) -> None:
    paris = timezone(timedelta(hours=2))
    with Store.open(store_url) as store:
        store.save_run(make_run(DAY1), make_scores(["L1"]), make_handoff(DAY1, []), None, [])
        item = OutboxItem.new(DAY1, "L1", {}, datetime(2026, 10, 20, 8, 0, tzinfo=paris))
        naive = OutboxItem.new(DAY1, "L2", {}, datetime(2026, 10, 20, 6, 0))  # taken as UTC
        store.save_run(make_run(DAY1), make_scores(["L1"]), None, None, [item, naive])
        got = {i.key: i.created_at for i in Outbox(store).pending()}
        expected = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
        assert got == {outbox_key(DAY1, "L1"): expected, outbox_key(DAY1, "L2"): expected}


def test_last_run_before_a_date_skips_that_date_and_later(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.last_run() is None
        save_day(store, DAY1, ["L1", "L2"])
        save_day(store, DAY2, ["L1", "L2"])
        assert store.last_run().run_date == DAY2  # type: ignore[union-attr]
        assert store.last_run(before=DAY2).run_date == DAY1  # type: ignore[union-attr]
        assert store.last_run(before=DAY1) is None


def test_lead_reads_give_latest_score_history_and_first_handoff(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2", "L3"], mql="L2")
        save_day(store, DAY2, ["L1", "L2", "L3"], mql="L3")
        later = DAY2 + timedelta(days=1)
        save_day(store, later, ["L1", "L2", "L3"], mql="L2")  # L2 handed over again

        lead = store.lead("L3")
        assert lead is not None
        assert lead["run_date"] == later and lead["decision"] == "nurture"
        assert lead["activity"]["visits"] == 4
        assert lead["handoff"]["run_date"] == DAY2
        assert store.lead("nobody") is None

        history = store.lead_history("L3")
        assert list(history["run_date"]) == [DAY1, DAY2, later]
        assert list(history["score"]) == [10, 90, 10]
        assert list(store.lead_history("L3", limit=2)["run_date"]) == [DAY2, later]

        handed = store.handed_over()
        assert list(handed["lead_id"]) == ["L2", "L3"]
        assert list(handed["run_date"]) == [DAY1, DAY2]  # the FIRST hand-off of L2
        assert handed.loc[0, "followup_deadline"] == pd.Timestamp("2026-10-21T06:00", tz="UTC")


# ----------------------------------------------------------------------------- safe re-runs
def test_rerunning_a_date_replaces_its_rows_without_duplicates(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2", "L3"])
        save_day(store, DAY2, ["L1", "L2"])
        before = row_counts(store_url)
        save_day(store, DAY2, ["L1", "L2"])
        assert row_counts(store_url) == before

        # A re-run that scores fewer leads leaves exactly its own rows for that date.
        save_day(store, DAY2, ["L2"])
        assert list(store.scores(DAY2)["lead_id"]) == ["L2"]
        assert list(store.scores(DAY1)["lead_id"]) == ["L1", "L2", "L3"]
        assert row_counts(store_url)["runs"] == 2


def test_a_rerun_never_requeues_an_acknowledged_delivery(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2"])
        key = outbox_key(DAY1, "L2")
        Outbox(store).mark_attempt(key, ok=True, error=None, now=NOW)
        save_day(store, DAY1, ["L1", "L2"])
        item = store.outbox_item(key)
        assert item is not None
        assert (item.status, item.attempts, item.acknowledged_at) == ("delivered", 1, NOW)
        assert Outbox(store).pending() == []
        assert row_counts(store_url)["outbox"] == 1


def test_a_save_that_fails_in_its_last_table_leaves_the_store_as_it_was(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2", "L3"])
        before = snapshot(store, DAY1)
        counts = row_counts(store_url)
        # Everything valid except the last write of the transaction: an outbox row without a
        # lead_id (NOT NULL). The deletes and inserts of the four run tables already happened.
        broken = OutboxItem(
            key="2026-10-20:??", run_date=DAY1, lead_id=None, payload={}, created_at=NOW
        )  # type: ignore[arg-type]
        with pytest.raises(DataError, match="nothing written"):
            store.save_run(
                make_run(DAY1, n_open=1),
                make_scores(["L9"], mql="L9"),
                make_handoff(DAY1, ["L9"]),
                make_flags(["L9"], kind="overdue"),
                [*outbox_for(DAY1, ["L9"]), broken],
            )
        assert row_counts(store_url) == counts
        assert_same_snapshot(snapshot(store, DAY1), before)


def test_a_value_the_database_refuses_writes_nothing(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2"])
        before = snapshot(store, DAY1)
        scores = make_scores(["L1", "L2", "L3"]).assign(score=[10, 150, 20])  # 0..100 only
        with pytest.raises(DataError, match="run 2026-10-20 was not saved"):
            store.save_run(make_run(DAY1), scores, None, None, [])
        assert_same_snapshot(snapshot(store, DAY1), before)


def test_bad_rows_are_refused_naming_the_column_and_row(store_url: str) -> None:
    with Store.open(store_url) as store:
        scores = make_scores(["L1", "L2"]).assign(colour="red")
        with pytest.raises(DataError, match="colour"):
            store.save_run(make_run(DAY1), scores, None, None, [])
        with pytest.raises(DataError, match=r"lacks required column.*decision"):
            store.save_run(make_run(DAY1), make_scores(["L1"]).drop(columns="decision"), None, None)
        with pytest.raises(DataError, match="row 1: duplicate lead_id"):
            store.save_run(make_run(DAY1), make_scores(["L1", "L1"]), None, None)
        with pytest.raises(DataError, match="row 1: score is empty"):
            store.save_run(
                make_run(DAY1),
                make_scores(["L1", "L2"])
                .astype({"score": float})
                .assign(score=[1.0, float("nan")]),
                None,
                None,
            )
        with pytest.raises(DataError, match="kind 'bounced'"):
            store.save_run(make_run(DAY1), make_scores(["L1"]), None, make_flags(["L1"], "bounced"))
        with pytest.raises(DataError, match="row 1: reasons_json is not JSON text"):
            texts = make_scores(["L1", "L2"]).drop(columns="reasons")
            texts["reasons_json"] = ['["ok"]', "visited pricing"]
            store.save_run(make_run(DAY1), texts, None, None)
        with pytest.raises(DataError, match="run_date 2026-10-21 differs"):
            store.save_run(make_run(DAY1), make_scores(["L1"]).assign(run_date=DAY2), None, None)
        assert row_counts(store_url) == dict.fromkeys(row_counts(store_url), 0)


# ----------------------------------------------------------------------------- the outbox
def test_pending_outbox_holds_items_until_due_and_records_attempts(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.save_run(
            make_run(DAY1), make_scores(["L1"]), None, None, outbox_for(DAY1, ["A", "B"])
        )
        a, b = outbox_key(DAY1, "A"), outbox_key(DAY1, "B")
        later = NOW + timedelta(minutes=5)
        Outbox(store).mark_attempt(a, ok=False, error="HTTP 503", now=NOW, next_attempt_at=later)
        assert [i.key for i in Outbox(store).pending(NOW)] == [b]
        # Never-tried items first, then those that failed before: one failing item never
        # holds up the others (issue 31).
        assert [i.key for i in Outbox(store).pending(later)] == [b, a]
        Outbox(store).mark_attempt(
            b, ok=False, error="HTTP 400: bad field", now=NOW, permanent=True
        )
        item = store.outbox_item(b)
        assert item is not None and (item.status, item.last_error) == (
            "failed-permanent",
            "HTTP 400: bad field",
        )
        Outbox(store).mark_acknowledged(a, later)
        assert store.outbox_counts() == {"pending": 0, "delivered": 1, "failed-permanent": 1}
        # A late failure report never reopens an acknowledged item.
        Outbox(store).mark_attempt(a, ok=False, error="timeout", now=later, next_attempt_at=later)
        assert store.outbox_item(a).status == "delivered"  # type: ignore[union-attr]
        assert Outbox(store).requeue_failed(later) == 1
        assert [i.key for i in Outbox(store).pending(later)] == [b]
        with pytest.raises(KeyError):
            Outbox(store).mark_acknowledged("no-such-key", NOW)


# ----------------------------------------------------------------------------- migrations
def test_alembic_upgrade_head_from_empty_matches_the_code_schema(store_url: str) -> None:
    command.upgrade(alembic_config(store_url), "head")
    engine = sa.create_engine(resolve_url(store_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == HEAD
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_a_database_made_at_the_first_revision_opens_with_current_code(store_url: str) -> None:
    command.upgrade(alembic_config(store_url), "0001_initial")
    engine = sa.create_engine(resolve_url(store_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO runs VALUES ('2026-10-20', '2026-10-20 06:00:00', "
                    "'2026-10-20 06:01:00', 'lead-propensity', '1', 0.3, 5, 1, 1, 0, 0, '{}')"
                )
            )
    finally:
        engine.dispose()
    with Store.open(store_url) as store:
        run = store.last_run()
        assert run is not None and run.run_date == DAY1 and run.model_version == "1"
        save_day(store, DAY2, ["L1", "L2"])
    engine = sa.create_engine(resolve_url(store_url))
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD
            assert "ix_scores_lead_id" in {
                i["name"] for i in sa.inspect(conn).get_indexes("scores")
            }
    finally:
        engine.dispose()
    # And back: every revision downgrades cleanly, then upgrades again.
    command.downgrade(alembic_config(store_url), "base")
    command.upgrade(alembic_config(store_url), "head")


def test_a_store_migrated_by_a_newer_leadscore_is_refused_clearly(store_url: str) -> None:
    Store.open(store_url).close()
    engine = sa.create_engine(resolve_url(store_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()
    with pytest.raises(ConfigError, match="newer leadscore"):
        Store.open(store_url)


def test_two_processes_opening_a_new_store_at_once_both_succeed(store_url: str) -> None:
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store.open(store_url).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_opening_and_reading_never_wait_for_a_running_write(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with Store.open(url) as store:
        save_day(store, DAY1, ["L1", "L2"])
    writer = sqlite3.connect(tmp_path / "leadscore.db")
    writer.execute("BEGIN IMMEDIATE")  # the daily job, mid-save
    writer.execute("DELETE FROM scores")
    try:
        read: list[int] = []
        reader = threading.Thread(target=lambda: read.append(len(Store.open(url).scores(DAY1))))
        reader.start()
        reader.join(10)  # the busy timeout is 30 s: a reader that waited would still be here
        assert read == [2]  # the last committed state
    finally:
        writer.rollback()
        writer.close()


# ----------------------------------------------------------------------------- URLs
def test_urls_default_to_a_sqlite_file_and_map_plain_postgresql_to_psycopg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEADSCORE_DB_URL", raising=False)
    assert resolve_url() == "sqlite:///leadscore.db"
    monkeypatch.setenv("LEADSCORE_DB_URL", "postgresql://u:p@db:5432/leads")
    assert resolve_url() == "postgresql+psycopg://u:p@db:5432/leads"
    assert resolve_url("postgres://db/leads") == "postgresql+psycopg://db/leads"
    assert resolve_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    with pytest.raises(ConfigError, match="not a database URL"):
        resolve_url("leadscore.db")


def test_an_unreachable_database_is_a_clear_config_error() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError, match=r"cannot open the store at .*127\.0\.0\.1"):
        Store.open(f"postgresql://postgres:secret@127.0.0.1:{port}/x")


def test_pruning_drops_old_scores_but_keeps_the_handoff_ledger(store_url: str) -> None:
    with Store.open(store_url) as store:
        save_day(store, DAY1, ["L1", "L2"])
        save_day(store, DAY2, ["L1", "L2", "L3"], mql="L3")
        assert store.prune_scores(before=DAY2) == 2
        assert store.scores(DAY1).empty and len(store.scores(DAY2)) == 3
        assert list(store.handed_over()["lead_id"]) == ["L2", "L3"]
        assert [r for r in store.runs()["run_date"]] == [DAY1, DAY2]


def test_db_commands_migrate_show_and_prune(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    url = f"sqlite:///{tmp_path / 'team.db'}"
    runner = CliRunner()
    done = runner.invoke(app, ["db", "upgrade", "--db-url", url])
    assert done.exit_code == 0 and f"at revision {HEAD} (head)" in done.output
    with Store.open(url) as store:
        save_day(store, DAY1, ["L1", "L2"])
        save_day(store, DAY2, ["L1", "L2"])
    done = runner.invoke(app, ["db", "status", "--db-url", url])
    assert done.exit_code == 0, done.output
    assert "runs: 2, 2026-10-20 .. 2026-10-21" in done.output and "2 pending" in done.output
    done = runner.invoke(app, ["db", "prune", "--keep-days", "1", "--db-url", url])
    assert done.exit_code == 0 and "deleted 0 score row(s)" in done.output
    done = runner.invoke(app, ["db", "prune", "--keep-days", "0", "--db-url", url])
    assert done.exit_code == 2  # at least one day
    script = runner.invoke(app, ["db", "upgrade", "--sql", "--db-url", "postgresql://h/db"])
    assert script.exit_code == 0 and "CREATE TABLE scores" in script.output
    assert "TIMESTAMP WITH TIME ZONE" in script.output  # PostgreSQL's dialect, nothing applied
    bad = runner.invoke(app, ["db", "status", "--db-url", "leadscore.db"])
    assert bad.exit_code == 2 and "not a database URL" in bad.output
