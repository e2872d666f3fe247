"""Scores written back to HubSpot through the dated batch API, against a loopback stand-in that
checks every request's shape (path, Bearer token, at most 100 inputs, string values, known
properties): 250 records go as 100 + 100 + 50, a 429's Retry-After is waited, a 207's
per-record errors are reported, a refused token stops the run."""

from __future__ import annotations

from datetime import UTC, datetime

from crm.config import HubSpotConfig, ScoreProperties
from crm.writeback import ScoreUpdate, write_scores
from tests.crm_fixtures import TOKEN, HubSpotApi

NAMES = set(ScoreProperties().model_dump().values())
SCORED = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)


def updates(n: int) -> list[ScoreUpdate]:
    return [
        ScoreUpdate(
            str(1000 + i), 50 + i % 50, "A", ("pricing page x3", "demo request"), "7", SCORED
        )
        for i in range(n)
    ]


def config(api: HubSpotApi, **overrides: object) -> HubSpotConfig:
    return HubSpotConfig(base_url=api.base_url, **overrides)  # type: ignore[arg-type]


def test_250_records_go_as_100_100_50_with_string_properties() -> None:
    waits: list[float] = []
    with HubSpotApi(NAMES) as api:
        report = write_scores(updates(250), config(api), TOKEN, sleep=waits.append)
    assert api.problems == []
    assert [len(r["body"]["inputs"]) for r in api.requests] == [100, 100, 50]
    assert (report.updated, report.failed, report.requests, waits) == (250, {}, 3, [])
    first = api.requests[0]["body"]["inputs"][0]
    assert first == {
        "id": "1000",
        "properties": {
            "leadscore_score": "50",
            "leadscore_tier": "A",
            "leadscore_reasons": "pricing page x3; demo request",
            "leadscore_model_version": "7",
            "leadscore_scored_at": "2026-10-21T06:00:00Z",
        },
    }


def test_a_429_is_retried_after_its_retry_after() -> None:
    waits: list[float] = []
    with HubSpotApi(NAMES, throttle_first=2, retry_after="3") as api:
        report = write_scores(updates(120), config(api), TOKEN, sleep=waits.append)
    assert api.problems == []
    assert waits == [3.0, 3.0]  # HubSpot's Retry-After, not our own backoff
    assert report.requests == 4 and report.updated == 120 and report.failed == {}
    # The throttled request was sent again unchanged.
    assert api.requests[0]["body"] == api.requests[2]["body"]


def test_a_retry_after_past_the_cap_is_reported_not_slept() -> None:
    waits: list[float] = []
    with HubSpotApi(NAMES, throttle_first=1, retry_after="3600") as api:
        report = write_scores(
            updates(3), config(api, retry_after_cap_s=60), TOKEN, sleep=waits.append
        )
    assert waits == [] and report.updated == 0
    assert all("Retry-After 3600 s is past retry_after_cap_s" in m for m in report.failed.values())


def test_per_record_errors_of_a_207_are_reported_and_the_rest_count_as_updated() -> None:
    with HubSpotApi(NAMES, missing={"1001", "1150"}) as api:
        report = write_scores(updates(200), config(api), TOKEN)
    assert api.problems == []
    assert report.updated == 198
    assert set(report.failed) == {"1001", "1150"}
    assert "Could not get some CONTACT objects" in report.failed["1001"]


def test_a_refused_token_stops_the_run_after_one_request() -> None:
    with HubSpotApi(NAMES, status=401) as api:
        report = write_scores(updates(250), config(api), TOKEN)
    assert len(api.requests) == 1 and report.updated == 0
    assert len(report.failed) == 250 and report.stopped is not None
    assert "HubSpot refused the token" in report.stopped


def test_id_property_addresses_contacts_by_email() -> None:
    by_email = [ScoreUpdate("ana@example.com", 80, None, (), "7", SCORED)]
    with HubSpotApi(NAMES) as api:
        write_scores(by_email, config(api, id_property="email"), TOKEN)
    (one,) = api.requests[0]["body"]["inputs"]
    assert one["idProperty"] == "email" and one["id"] == "ana@example.com"
    assert one["properties"]["leadscore_tier"] == ""
