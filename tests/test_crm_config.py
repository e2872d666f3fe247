"""crm.yaml as an admin writes it: the documented example loads, mistakes are errors naming the
key, the service refuses to start without the secrets it names, and `leadscore crm check` says
what it found, or exits 2 with one line when HubSpot cannot be reached or refuses the token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crm.config import FUNNEL_STAGES, STAGES, ScoreProperties, parse_crm_config
from foundation.errors import ConfigError
from pipeline.cli import app
from tests.crm_fixtures import CRM_YAML, TOKEN, HubSpotApi, crm_settings
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]
NAMES = set(ScoreProperties().model_dump().values())


def documented_example() -> dict:
    text = (ROOT / "docs" / "crm.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    return yaml.safe_load(block.group(1))


def test_the_documented_example_loads() -> None:
    config = parse_crm_config(documented_example(), "docs/crm.md")
    assert config.hubspot is not None and config.hubspot.stages["CONNECTED"] == "sql"
    assert config.salesforce is not None and config.salesforce.object == "Lead"


def test_the_stages_are_the_funnels_plus_the_touch_and_the_exit() -> None:
    assert set(STAGES) == {*FUNNEL_STAGES, "contacted", "disqualified"}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"stauts_property": "x"}, "hubspot.stauts_property: unknown key (typo?)"),
        ({"stages": {"CONNECTED": "won"}}, "hubspot.stages.CONNECTED: Input should be"),
        ({"token_env": "pat-na1-1234-abcd"}, "hubspot.token_env: Value error, 'pat-na1-1234-abcd'"),
        ({"batch_size": 250}, "hubspot.batch_size: Input should be less than or equal to 100"),
        ({"base_url": "api.hubapi.com"}, "hubspot.base_url: Value error"),
    ],
)
def test_a_mistake_is_an_error_naming_the_key(change: dict, says: str) -> None:
    raw = documented_example()
    raw["hubspot"] = {**raw["hubspot"], **change}
    with pytest.raises(ConfigError) as caught:
        parse_crm_config(raw, "crm.yaml")
    assert says in str(caught.value)


def test_the_service_does_not_start_without_the_secret_crm_yaml_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serve.app import create_app

    monkeypatch.delenv("TEST_HUBSPOT_SECRET", raising=False)
    settings = crm_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError, match=r"TEST_HUBSPOT_SECRET is not set \(crm.yaml hubspot"):
        create_app(settings, load_model=False)


def write_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "crm.yaml"
    path.write_text(CRM_YAML.replace("http://127.0.0.1:9", base_url))
    return path


def run_check(path: Path, token: str | None = TOKEN) -> tuple[int, str]:
    env = {"TEST_HUBSPOT_SECRET": "s"} | ({"TEST_HUBSPOT_TOKEN": token} if token else {})
    result = CliRunner().invoke(app, ["crm", "check", "--config", str(path)], env=env)
    return result.exit_code, result.output


def test_crm_check_prints_what_it_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_HUBSPOT_TOKEN", raising=False)
    with HubSpotApi(NAMES - {"leadscore_tier"}) as api:
        code, out = run_check(write_config(tmp_path, api.base_url))
    assert code == 0, out
    assert f"hubspot: reached {api.base_url}, token accepted, 5 contact properties" in out
    assert "hubspot: score properties to create first: leadscore_tier" in out
    assert "hubspot: hs_lead_status: 4 statuses mapped to stages" in out
    assert "salesforce: outbound messages from organization 00Dx0000000BV7z" in out


def test_crm_check_exits_2_when_the_token_is_refused_or_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HUBSPOT_TOKEN", raising=False)
    with HubSpotApi(NAMES) as api:
        path = write_config(tmp_path, api.base_url)
        code, out = run_check(path, token="pat-wrong")
        assert code == 2 and "refused the token in TEST_HUBSPOT_TOKEN (HTTP 401)" in out
        code, out = run_check(path, token=None)
        assert code == 2 and "TEST_HUBSPOT_TOKEN is not set (crm.yaml hubspot.token_env)" in out


def test_crm_check_exits_2_when_hubspot_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HUBSPOT_TOKEN", raising=False)
    dead = f"http://127.0.0.1:{free_port()}"
    code, out = run_check(write_config(tmp_path, dead))
    assert code == 2 and f"hubspot: cannot reach {dead}" in out


def test_crm_check_names_a_bad_key_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("hubspot:\n  stages:\n    CONNECTED: won\n")
    code, out = run_check(path)
    assert code == 2 and "hubspot.stages.CONNECTED" in out
