"""Where the dashboard reads from, at request time: the store, the pipeline's artifacts, the
validated history, sla.yaml / personas.yaml and the MLflow registry. Each reader returns plain
data or None with a sentence saying what is missing; the pages never crash on a missing input,
they say which command would produce it.

Reads go through the dashboard's TTL cache (LEADSCORE_DASHBOARD_CACHE_S) so a page reloaded in
the morning rush does not reread the history or the registry each time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.cache import TTLCache
from foundation.errors import LeadscoreError
from foundation.params import Params, load_params
from serve.settings import Settings


@dataclass(frozen=True)
class Missing:
    """An input that is not there (yet), and what produces it."""

    what: str

    def __str__(self) -> str:
        return self.what


class Sources:
    """The dashboard's inputs, located from the service settings and params.yaml."""

    def __init__(self, settings: Settings, cache: TTLCache) -> None:
        self.settings = settings
        self.cache = cache
        self._runs_cache: dict[tuple[Any, ...], pd.DataFrame] = {}
        self._files: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}

    def by_file(
        self, name: tuple[Any, ...], paths: list[Path], read: Any, version: tuple[Any, ...] = ()
    ) -> Any:
        """`read()` again only when one of `paths` changed (size or modification time): files
        are always fresh, whatever the TTL, and an unchanged 100k-lead history is read once.
        `version` adds what else the value depends on (e.g. the store's runs); one entry per
        name, replaced when anything changed."""
        stamp: list[Any] = [version]
        for path in paths:
            try:
                st = path.stat()
                stamp.append((str(path), st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append((str(path), None, None))
        key = (*name, *(str(p) for p in paths))
        hit = self._files.get(key)
        if hit is not None and hit[0] == tuple(stamp):
            return hit[1]
        value = read()
        self._files[key] = (tuple(stamp), value)
        return value

    # ---- files ---------------------------------------------------------------------------
    def params(self) -> Params:
        path = Path(self.settings.params_path)
        return self.by_file(("params",), [path], lambda: load_params(path, missing_ok=True))

    @property
    def artifacts(self) -> Path:
        return Path(self.params().paths.artifacts)

    def json(self, relative: str) -> dict[str, Any] | Missing:
        path = self.artifacts / relative
        return self.by_file(("json",), [path], lambda: _read_json(path))

    def csv(self, relative: str) -> pd.DataFrame | Missing:
        path = self.artifacts / relative
        return self.by_file(("csv",), [path], lambda: _read_csv(path))

    def agreement(self) -> Any:
        from sla.agreement import load_agreement

        path = Path(self.settings.sla_path)
        return self.by_file(("agreement",), [path], lambda: load_agreement(path))

    def personas(self) -> Any:
        from features.persona import load_personas

        interim = Path(self.params().paths.interim) / "personas.yaml"
        path = interim if interim.exists() else Path(self.settings.personas_path)
        return self.by_file(("personas",), [path], lambda: load_personas(path))

    def history(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series] | Missing:
        """Validated leads and stages plus each lead's persona (the SLA report's own labels);
        the stages CRMs sent (the store's crm_stages, up to the exports' end) count with the
        exports', as in the SLA report (sla/crm_stages.py)."""
        crm = self.crm_stages()
        return self.by_file(
            ("history",),
            self.history_files(),
            lambda: self._history(crm),
            version=self.crm_stages_version(crm),
        )

    def crm_stages(self) -> pd.DataFrame | None:
        """The store's CRM stages (TTL-cached); None when the store cannot be read: the pages
        that read the history then show the exports' alone rather than nothing."""

        def read() -> pd.DataFrame | None:
            from store.crm_inbox import crm_stage_frame

            try:
                return crm_stage_frame(self.store())
            except Exception:  # an outage: the store's own pages say so
                return None

        return self.cache.get("crm_stages", read)

    @staticmethod
    def crm_stages_version(crm: pd.DataFrame | None) -> tuple[Any, ...]:
        """What a value derived from the history depends on besides its files: the CRM stages
        (a stage arriving, or moving earlier, gives another digest)."""
        if crm is None or not len(crm):
            return (0,)
        digest = pd.util.hash_pandas_object(crm[["lead_id", "stage", "ts"]], index=False)
        return (len(crm), int(digest.sum()))

    def history_files(self) -> list[Path]:
        interim = Path(self.params().paths.interim)
        return sorted(interim.glob("leads*")) + sorted(interim.glob("stages*"))

    def _history(
        self, crm: pd.DataFrame | None
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series] | Missing:
        from features.persona import company_size, firmographics, persona_fit
        from foundation.io import find_table, read_table
        from sla.crm_stages import history_with_crm_stages

        interim = Path(self.params().paths.interim)
        try:
            leads = read_table(find_table(interim, "leads"))
            stages = read_table(find_table(interim, "stages"))
        except LeadscoreError:
            return Missing(f"no validated history in {interim} (run `leadscore validate`)")
        if crm is not None:
            stages = history_with_crm_stages(leads, stages, crm).stages
        fit = persona_fit(
            firmographics(leads),
            company_size(leads),
            self.personas(),
            self.params().features.persona_min_fit,
        )
        persona = pd.Series(fit["persona"].to_numpy(), index=leads["lead_id"].to_numpy())
        return leads, stages, persona

    # ---- the store -----------------------------------------------------------------------
    def store(self) -> Any:
        """The store of record, opened once per process (Store.open migrates to head)."""

        def open_store() -> Any:
            from foundation.errors import LeadscoreError
            from serve.store_outage import StoreUnavailable
            from store import Store

            try:
                return Store.open(None)
            except LeadscoreError as exc:  # its text names the host: for the log only
                raise StoreUnavailable(detail=f"the store cannot be opened: {exc}") from exc

        # Not through the TTL cache: one engine (and connection pool) for the process.
        if not hasattr(self, "_store"):
            self._store = open_store()
        return self._store

    def latest_run(self) -> Any:
        return self.cache.get("latest_run", lambda: self.store().last_run())

    def run_frames(self, run_date: Any) -> dict[str, pd.DataFrame]:
        def read() -> dict[str, pd.DataFrame]:
            s = self.store()
            return {
                "handoff": s.handoff(run_date),
                "returning": s.flags(run_date, "returning"),
                "overdue": s.flags(run_date, "overdue"),
            }

        return self.cache.get(("run", str(run_date)), read)

    def summary(self, run_date: Any = None) -> dict[str, Any] | Missing:
        """The day's summary (daily/summary.py): the figures every page shows in its strip and
        `GET /v1/summary` returns; the latest run's when `run_date` is None."""
        from daily.summary import NoRun, day_summary

        def read() -> dict[str, Any] | Missing:
            try:
                return day_summary(self.store(), run_date)
            except NoRun as exc:
                return Missing(str(exc))
            except LeadscoreError as exc:
                return Missing(f"the store cannot be read: {exc}")

        return self.cache.get(("summary", str(run_date)), read)

    def frozen_targets(self, month: str) -> Any:
        """The targets frozen in the store for `month` (store/month_targets.py), or None."""
        from store.month_targets import frozen_targets

        return self.cache.get(("frozen", month), lambda: frozen_targets(self.store(), month))

    def daily_json(self, run_date: Any, relative: str) -> dict[str, Any] | Missing:
        """A file the daily run of `run_date` wrote (artifacts/daily/<date>/<relative>)."""
        path = self.artifacts / "daily" / str(run_date) / relative
        return self.by_file(("daily_json",), [path], lambda: _read_json(path))

    def runs(self) -> pd.DataFrame:
        return self.cache.get("runs", lambda: self.store().runs())

    def scores(self, run_date: Any) -> pd.DataFrame:
        return self.cache.get(("scores", str(run_date)), lambda: self.store().scores(run_date))

    def score_columns(self, run_date: Any, finished_at: Any, columns: tuple[str, ...]) -> Any:
        """Only `columns` of a run's scores: the Closed-loop page needs three of fourteen, and
        decoding every row's reasons and activity JSON takes seconds at 100k leads.

        A read-only query against the store's published schema (store.schema); a stored run
        only changes when its date is re-run, which changes `finished_at`, so the result is
        kept for the process's life under that key (bounded: one entry per run looked at)."""
        key = (str(run_date), str(finished_at), columns)
        if key not in self._runs_cache:
            import sqlalchemy as sa

            from store import schema

            self.store()  # opened (and migrated) once, before a second engine reads
            if not hasattr(self, "_reader"):
                from store import resolve_url

                self._reader = sa.create_engine(resolve_url(None))
            table = schema.scores
            query = sa.select(*(table.c[c] for c in columns)).where(table.c.run_date == run_date)
            with self._reader.connect() as conn:
                rows = conn.execute(query).all()
            self._runs_cache[key] = pd.DataFrame(rows, columns=list(columns))
        return self._runs_cache[key]

    # ---- the registry --------------------------------------------------------------------
    def registry(self) -> dict[str, Any] | Missing:
        return self.cache.get("registry", self._registry)

    def versions(self) -> list[dict[str, Any]] | Missing:
        """Every registered version (newest first) with its promotion decision."""
        name = self.params().registry.model_name
        return self.cache.get("versions", lambda: _all_versions(name))

    def _registry(self) -> dict[str, Any] | Missing:
        from models.registry import ModelLoadError, resolve_version
        from models.tracking import tracking_uri

        name = self.params().registry.model_name
        out: dict[str, Any] = {"name": name}
        uri = tracking_uri()
        # Reading must not create: MLflow would build a new (empty) SQLite store on first use.
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
            return Missing(f"no MLflow tracking store at {uri} yet (run `dvc repro`)")
        try:
            from mlflow import MlflowClient

            client = MlflowClient()
            for alias in ("champion", "challenger"):
                try:
                    version = resolve_version(name, alias, None)
                except ModelLoadError:
                    out[alias] = None
                    continue
                run = client.get_run(version.run_id) if version.run_id else None
                out[alias] = {
                    "version": str(version.version),
                    "created": pd.Timestamp(int(version.creation_timestamp), unit="ms", tz="UTC"),
                    "run_id": version.run_id,
                    "experiment_id": run.info.experiment_id if run else None,
                    "metrics": dict(run.data.metrics) if run else {},
                    "start_time": (
                        pd.Timestamp(int(run.info.start_time), unit="ms", tz="UTC") if run else None
                    ),
                }
        except Exception as exc:  # the registry is optional for the rest of the page
            return Missing(f"MLflow registry not readable: {str(exc).splitlines()[0][:200]}")
        if out.get("champion") is None and out.get("challenger") is None:
            return Missing(f"no registered model '{name}' yet (run `dvc repro`)")
        return out


def _all_versions(name: str) -> list[dict[str, Any]] | Missing:
    """Every registered version of `name`, newest first, with its aliases, its training run's
    test metrics and the promotion decision the register stage tagged it with."""
    from models.tracking import tracking_uri

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return Missing(f"no MLflow tracking store at {uri} yet (run `dvc repro`)")
    try:
        from mlflow import MlflowClient

        client = MlflowClient()
        out = []
        for v in client.search_model_versions(f"name='{name}'"):
            run = client.get_run(v.run_id) if v.run_id else None
            full = client.get_model_version(name, v.version)  # aliases and tags in full
            out.append(
                {
                    "version": str(v.version),
                    "aliases": ", ".join(sorted(getattr(full, "aliases", []) or [])),
                    "created": pd.Timestamp(int(v.creation_timestamp), unit="ms", tz="UTC"),
                    "run_id": v.run_id,
                    "experiment_id": run.info.experiment_id if run else None,
                    "metrics": dict(run.data.metrics) if run else {},
                    "decision": (full.tags or {}).get("promotion.decision", ""),
                    "reason": (full.tags or {}).get("promotion.reason", ""),
                }
            )
    except Exception as exc:  # the registry is optional for the rest of the page
        return Missing(f"MLflow registry not readable: {str(exc).splitlines()[0][:200]}")
    return sorted(out, key=lambda v: int(v["version"]), reverse=True)


def _read_json(path: Path) -> dict[str, Any] | Missing:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return Missing(f"{path} not found (run `dvc repro`)")
    except (OSError, ValueError) as exc:
        return Missing(f"{path}: cannot read ({exc})")


def _read_csv(path: Path) -> pd.DataFrame | Missing:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        return Missing(f"{path} not found (run `dvc repro`)")
    except (OSError, ValueError) as exc:
        return Missing(f"{path}: cannot read ({exc})")
