"""The daily run's write-back step (pipeline/daily_crm.py): resolved at the run's start from
crm.yaml (nothing asked: nothing done; asked without a token: a clear error before anything is
written), and after the run is stored it writes through the checked HubSpot stand-in, or, with
HubSpot unreachable, says how to retry instead of failing the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import ConfigError
from pipeline.daily_crm import push_after_run, resolve_daily_push
from store import Store
from tests.crm_fixtures import CRM_YAML, TOKEN, HubSpotApi
from tests.live_server import free_port
from tests.test_crm_push import DAY, NAMES, stored

PUSHING = CRM_YAML.replace(
    "  status_property:", "  push_after_daily: true\n  max_attempts: 1\n  status_property:"
)


def config_at(tmp_path: Path, text: str, base_url: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "crm.yaml"
    path.write_text(text.replace("http://127.0.0.1:9", base_url))
    return path


def test_nothing_is_pushed_without_crm_yaml_or_without_push_after_daily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADSCORE_CRM_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_daily_push() is None  # no ./crm.yaml
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", TOKEN)
    assert resolve_daily_push(config_at(tmp_path, CRM_YAML)) is None  # not asked


def test_a_push_asked_without_its_token_stops_the_run_at_start_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HUBSPOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"TEST_HUBSPOT_TOKEN is not set .*hubspot\.token_env"):
        resolve_daily_push(config_at(tmp_path, PUSHING))
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", TOKEN)
    push = resolve_daily_push(config_at(tmp_path, PUSHING))
    assert push is not None and TOKEN not in repr(push)


def test_after_the_run_the_scores_land_on_the_hubspot_contacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", TOKEN)
    db_url = stored(tmp_path)
    with HubSpotApi(NAMES) as api, Store.open(db_url) as store:
        push = resolve_daily_push(config_at(tmp_path, PUSHING, api.base_url))
        assert push is not None
        lines = push_after_run(store, push, DAY)
    assert lines == ["crm push: hubspot: run 2026-10-21: wrote 2 of 2 contact(s) in 1 request(s)"]
    assert api.problems == []
    assert {one["id"] for one in api.requests[0]["body"]["inputs"]} == {"123", "124"}


def test_hubspot_unreachable_or_no_such_run_is_a_line_saying_how_to_retry_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", TOKEN)
    db_url = stored(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    push = resolve_daily_push(config_at(tmp_path, PUSHING, dead))
    assert push is not None
    with Store.open(db_url) as store:
        down = push_after_run(store, push, DAY)
        missing = push_after_run(store, push, DAY.replace(day=22))
    assert down[0].startswith("crm push: hubspot: run 2026-10-21: wrote 0 of 2")
    assert down[-1] == (
        "crm push: 2 contact(s) not written; `leadscore crm push --date 2026-10-21` retries"
    )
    assert len(missing) == 1 and "no daily run of 2026-10-22" in missing[0]
    assert "`leadscore crm push --date 2026-10-22` retries" in missing[0]
