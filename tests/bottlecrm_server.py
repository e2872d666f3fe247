"""A real BottleCRM (django-crm, MIT) for the round-trip test: installed, migrated, started on
loopback, set up through its own REST API. Nothing of it is mocked.

- Its own virtual environment on Python 3.12, outside the checkout
  ($LEADSCORE_BOTTLECRM_HOME, default ~/.cache/leadscore, then bottlecrm-<version>/), from the
  pinned version. Its top-level module is `crm`, like ours: it runs only in that venv, in its own
  process, and our code never imports it.
- Its own databases on the local PostgreSQL: `migrate` (about 2 minutes) runs once per machine
  into the template database `bottlecrm_template_<version>`; each test session gets a copy
  (`CREATE DATABASE ... TEMPLATE ...`, under a second) that it drops at the end.
- A settings module of our own (written next to the venv) on top of BottleCRM's: Celery runs
  in-process and eagerly (no Redis, no worker: its Redis path also fails on an undeclared
  `packaging` import), and **its webhook SSRF guard is relaxed for loopback only**: BottleCRM
  refuses to POST to private or loopback addresses and to any port but 443 (80 with DEBUG),
  which is right for a CRM on the internet and makes a test on one machine impossible. The
  relaxation lets an http URL on 127.0.0.1, ::1 or localhost through, on any port; every other
  URL meets BottleCRM's own checks unchanged. It is for this test only: docs/crm.md says so.

`python -m tests.bottlecrm_server prepare` installs and migrates (.ci/run calls it before the
tests); the test fixture does the same when something is missing, so a first local run pays the
install (about 1 minute) and the migration once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa

from tests.live_server import free_port, running_process, running_serve

VERSION = "1.35.0"
HOME_ENV = "LEADSCORE_BOTTLECRM_HOME"
PYTHON_ENV = "LEADSCORE_BOTTLECRM_PYTHON"  # a Python 3.12 to build the venv with
PG_ENV = "LEADSCORE_TEST_PG_URL"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SETTINGS_MODULE = "leadscore_test_settings"
TEMPLATE_DB = "bottlecrm_template_" + VERSION.replace(".", "_")
MIGRATED = f"leadscore: django-crm {VERSION} migrated"  # the template's comment, once complete
# Django signs BottleCRM's JWTs with it (at least 32 bytes): a test-only value.
SECRET_KEY = "leadscore-test-only-bottlecrm-secret-key-0123456789"
ADMIN_EMAIL = "admin@leadscore.test"

SETTINGS = '''\
"""BottleCRM settings for leadscore's round-trip test ONLY (written by tests/bottlecrm_server.py).

BottleCRM's own settings, plus: its database from the environment (one per test session),
Celery eager and in-process (no broker), and its webhook SSRF guard relaxed for LOOPBACK ONLY
(http to 127.0.0.1, ::1 or localhost, any port), so it can call the leadscore service the test
starts on this machine. Never use this module for a CRM that anyone else reaches.
"""

import ipaddress
import os

from crm.settings import *  # noqa: F401,F403

DATABASES["default"].update(  # noqa: F405
    NAME=os.environ["BOTTLECRM_DB"],
    HOST=os.environ["BOTTLECRM_DB_HOST"],
    PORT=os.environ["BOTTLECRM_DB_PORT"],
    USER=os.environ["BOTTLECRM_DB_USER"],
    PASSWORD=os.environ["BOTTLECRM_DB_PASSWORD"],
)
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_LOGS = os.environ["BOTTLECRM_LOG_DIR"]  # its file logs, out of the working folder
LOGGING["handlers"]["logfile"]["filename"] = _LOGS + "/server.log"  # noqa: F405
LOGGING["handlers"]["security_audit"]["filename"] = _LOGS + "/security_audit.log"  # noqa: F405


def _relax_ssrf_guard_for_loopback():
    """THE RELAXATION (test only): a URL on 127.0.0.1, ::1 or localhost passes
    webhooks/ssrf.py's checks, over http and on any port; every other URL meets BottleCRM's
    checks unchanged."""
    from urllib.parse import urlsplit

    from webhooks import ssrf

    parse, blocked = ssrf.parse, ssrf.is_blocked

    def parse_loopback(url):
        parts = urlsplit(url.strip())
        if parts.hostname not in ("127.0.0.1", "::1", "localhost") or parts.scheme != "http":
            return parse(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return "http", parts.hostname, parts.port or 80, target

    ssrf.parse = parse_loopback
    ssrf.is_blocked = lambda ip: False if ip.is_loopback else blocked(ip)
    # Still refused, by BottleCRM's own checks: private addresses, and http or odd ports elsewhere.
    assert ssrf.is_blocked(ipaddress.ip_address("10.0.0.1"))
    for url in ("http://203.0.113.7/hook", "https://203.0.113.7:8443/hook"):
        try:
            ssrf.parse(url)
        except ssrf.UnsafeDestination:
            continue
        raise AssertionError(f"the relaxed guard let {url} through")


_relax_ssrf_guard_for_loopback()
'''

BOOTSTRAP = """
import json, django
django.setup()
from django.contrib.auth import get_user_model
from common.serializer import OrgAwareRefreshToken
User = get_user_model()
user, _ = User.objects.get_or_create(email=%r)
print(json.dumps({"access": str(OrgAwareRefreshToken.for_user_and_org(user, None).access_token)}))
"""


class BottleCrmUnavailable(RuntimeError):
    """A piece BottleCRM needs is missing here (the reason says which)."""


def home() -> Path:
    base = Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "leadscore")
    return base / f"bottlecrm-{VERSION}"


def venv_python() -> Path:
    return home() / "venv" / "bin" / "python"


def python312() -> str:
    """$LEADSCORE_BOTTLECRM_PYTHON, else pyenv's 3.12, else python3.12 on PATH."""
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        return explicit
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = sorted(Path(pyenv_root, "versions").glob("3.12.*/bin/python"))
    if found:
        return str(found[-1])
    on_path = shutil.which("python3.12")
    if on_path:
        return on_path
    raise BottleCrmUnavailable(
        f"no Python 3.12 for BottleCRM (django-crm {VERSION} needs it): install one with "
        f"pyenv, or set {PYTHON_ENV}"
    )


@contextmanager
def _machine_lock() -> Iterator[None]:
    """One installer or migrator per machine at a time (two sessions would both migrate)."""
    home().mkdir(parents=True, exist_ok=True)
    with (home() / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_venv() -> None:
    """The venv with django-crm==VERSION (and our settings module next to it)."""
    done = home() / ".installed"
    if not done.exists():
        venv = home() / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python312(), "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv_python()), "-m", "pip", "install", "-qq", f"django-crm=={VERSION}"],
            check=True,
        )
        done.write_text(VERSION)
    (home() / f"{SETTINGS_MODULE}.py").write_text(SETTINGS)


def pg_url() -> sa.URL:
    """The PostgreSQL server the store tests use ($LEADSCORE_TEST_PG_URL): BottleCRM's too."""
    return sa.make_url(os.environ.get(PG_ENV) or DEFAULT_PG)


def django_env(database: str) -> dict[str, str]:
    logs = home() / "logs"
    logs.mkdir(exist_ok=True)
    server = pg_url()
    return {
        "BOTTLECRM_DB_HOST": server.host or "127.0.0.1",
        "BOTTLECRM_DB_PORT": str(server.port or 5432),
        "BOTTLECRM_DB_USER": server.username or "postgres",
        "BOTTLECRM_DB_PASSWORD": server.password or "",
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": str(home()),
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "BOTTLECRM_DB": database,
        "BOTTLECRM_LOG_DIR": str(logs),
        "SECRET_KEY": SECRET_KEY,
        "ENV_TYPE": "dev",
        "PYTHONUNBUFFERED": "1",
    }


def admin_engine() -> sa.Engine:
    """The PostgreSQL server's maintenance database, in autocommit (CREATE DATABASE)."""
    return sa.create_engine(pg_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _comment(conn: sa.Connection, database: str) -> str | None:
    return conn.execute(
        sa.text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :d"),
        {"d": database},
    ).scalar()


def ensure_template() -> None:
    """The migrated template database; a half-migrated one (no comment) is made again."""
    engine = admin_engine()
    with engine.connect() as conn:
        if _comment(conn, TEMPLATE_DB) == MIGRATED:
            return
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{TEMPLATE_DB}"'))
    django_admin = str(home() / "venv" / "bin" / "django-admin")
    log = home() / "logs" / "migrate.log"  # its migrations print hundreds of lines: kept here
    env = django_env(TEMPLATE_DB)
    with log.open("w") as out:
        done = subprocess.run(
            [django_admin, "migrate", "--noinput", "-v", "1"],
            env=env,
            cwd=home(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise AssertionError(f"BottleCRM migrate failed ({log})\n{log.read_text()[-3000:]}")
    with engine.connect() as conn:
        conn.execute(sa.text(f"COMMENT ON DATABASE \"{TEMPLATE_DB}\" IS '{MIGRATED}'"))
    engine.dispose()


def prepare() -> None:
    """Install and migrate if needed (idempotent). BottleCrmUnavailable when no Python 3.12 or
    no PostgreSQL server is here (the test skips locally; under CI that skip is a failure)."""
    try:
        with admin_engine().connect():
            pass
    except sa.exc.OperationalError as exc:
        raise BottleCrmUnavailable(
            f"BottleCRM needs PostgreSQL ({PG_ENV}, default {DEFAULT_PG}): "
            f"{str(exc).splitlines()[0]}"
        ) from None
    with _machine_lock():
        ensure_venv()
        ensure_template()


@contextmanager
def session_database() -> Iterator[str]:
    """A fresh copy of the template, dropped afterwards."""
    name = f"bottlecrm_test_{uuid.uuid4().hex[:12]}"
    engine = admin_engine()
    with _machine_lock(), engine.connect() as conn:  # the template must have no other session
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'))
    try:
        yield name
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@dataclass(frozen=True)
class BottleCrm:
    """A running BottleCRM: its URL, an org admin's JWT (session-only endpoints, such as
    webhooks, refuse tokens) and a personal access token (what leadscore uses)."""

    base_url: str
    jwt: str
    token: str
    org_id: str
    log: Path

    def api(self, *, token: str | None = None) -> httpx.Client:
        bearer = token or self.token
        return httpx.Client(
            base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {bearer}"}
        )


def _ok(answer: httpx.Response, what: str) -> dict:
    if answer.status_code >= 300:
        raise AssertionError(f"BottleCRM {what}: HTTP {answer.status_code}: {answer.text[:500]}")
    return answer.json()


def _set_up_org(base: str, database: str) -> tuple[str, str, str]:
    """An admin user (the one ORM step: BottleCRM signs users in by e-mail link or Google),
    then through the REST API: an org, an org-bound JWT, a personal access token."""
    out = subprocess.run(
        [str(venv_python()), "-c", BOOTSTRAP % ADMIN_EMAIL],
        env=django_env(database),
        cwd=home(),  # not the checkout: `-c` puts the working folder first, and ours has `crm`
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise AssertionError(f"BottleCRM: creating the admin user failed\n{out.stderr[-3000:]}")
    bare = json.loads(out.stdout.strip().splitlines()[-1])["access"]
    with httpx.Client(base_url=base, timeout=30) as http:
        auth = {"Authorization": f"Bearer {bare}"}
        org = _ok(http.post("/api/org/", json={"name": "leadscore test"}, headers=auth), "org")
        org_id = org["org"]["id"]
        switched = _ok(
            http.post("/api/auth/switch-org/", json={"org_id": org_id}, headers=auth), "switch"
        )
        jwt = switched["access_token"]
        pat = _ok(
            http.post(
                "/api/profile/tokens/",
                json={"name": "leadscore"},
                headers={"Authorization": f"Bearer {jwt}"},
            ),
            "personal access token",
        )
    return jwt, pat["token"], org_id


@contextmanager
def running_bottlecrm(log_dir: Path, start_timeout_s: float = 60) -> Iterator[BottleCrm]:
    """BottleCRM under gunicorn on a free loopback port, on a session database of its own."""
    prepare()
    with session_database() as database:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = log_dir / "bottlecrm.log"
        gunicorn = str(home() / "venv" / "bin" / "gunicorn")
        command = [gunicorn, "crm.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "8"]
        env = django_env(database)
        with running_process(command, f"{base}/healthz/", log_dir, env, log, start_timeout_s):
            jwt, token, org_id = _set_up_org(base, database)
            yield BottleCrm(base, jwt, token, org_id, log)


def register_webhook(crm: BottleCrm, url: str, events: list[str]) -> str:
    """A webhook endpoint through BottleCRM's API (an admin session, as in its settings page);
    returns the signing secret, which BottleCRM mints and shows only here."""
    with crm.api(token=crm.jwt) as http:
        made = _ok(http.post("/api/webhooks/", json={"url": url, "events": events}), "webhook")
    return str(made["secret"])


TOKEN_ENV = "TEST_BOTTLECRM_TOKEN"
SECRET_ENV = "TEST_BOTTLECRM_SECRET"
CRM_YAML = """\
bottlecrm:
  base_url: {base_url}
  token_env: TEST_BOTTLECRM_TOKEN
  webhook_secret_env: TEST_BOTTLECRM_SECRET
  stages:
    assigned: prospect
    "in process": contacted
    converted: customer
    closed: disqualified
"""


@dataclass(frozen=True)
class Leadscore:
    """A `leadscore serve` that BottleCRM's webhook reaches."""

    base_url: str
    store_url: str
    secret: str  # the webhook's signing secret, as BottleCRM minted it
    log: Path
    crm_yaml: Path


def store_url_in(folder: Path) -> str:
    """The store `running_leadscore` gives the service started in `folder`."""
    return f"sqlite:///{folder / 'leadscore.db'}"


@contextmanager
def running_leadscore(
    crm: BottleCrm, folder: Path, model: Path, env: dict[str, str], start_timeout_s: float = 120
) -> Iterator[Leadscore]:
    """`leadscore serve --model MODEL` on a free port, its store a SQLite file in `folder`,
    crm.yaml pointing at `crm`, and BottleCRM's webhook (lead.created, lead.updated) pointing
    at it; `env` adds to the environment (API keys ...)."""
    from tests.serve_fixtures import ROOT

    port = free_port()
    secret = register_webhook(
        crm, f"http://127.0.0.1:{port}/crm/bottlecrm", ["lead.created", "lead.updated"]
    )
    crm_yaml = folder / "crm.yaml"
    crm_yaml.write_text(CRM_YAML.format(base_url=crm.base_url))
    store_url = store_url_in(folder)
    full_env = {
        **os.environ,
        "LEADSCORE_DB_URL": store_url,
        "LEADSCORE_CRM_CONFIG": str(crm_yaml),
        "LEADSCORE_THRESHOLD_PATH": str(folder / "none.json"),
        TOKEN_ENV: crm.token,
        SECRET_ENV: secret,
        **env,
    }
    log = folder / "serve.log"
    args = ["--model", str(model)]
    with running_serve(args, port, ROOT, full_env, log, start_timeout_s) as base:
        yield Leadscore(base, store_url, secret, log, crm_yaml)


def main(argv: list[str]) -> int:
    if argv[1:] != ["prepare"]:
        print("usage: python -m tests.bottlecrm_server prepare", file=sys.stderr)
        return 2
    started = time.monotonic()
    prepare()
    print(
        f"BottleCRM {VERSION} ready in {home()} (template {TEMPLATE_DB}), "
        f"{time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
