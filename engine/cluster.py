"""Starting or reaching a Dask cluster, and turning what fails on it into one clear error.

`engine.scheduler` empty: a LocalCluster on this machine (one single-threaded worker process per
core unless `engine.workers` says otherwise; pandas holds the GIL for much of its work, so
processes beat threads). An address: that cluster, checked before any work is sent (reachable,
has workers, workers can import leadscore).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from foundation.errors import ConfigError, LeadscoreError
from foundation.params import EngineParams

CONNECT_TIMEOUT = "10s"
WORKER_WAIT_SECONDS = 30
LOG_LINES = 5
LOG_LEVELS = ("WARNING", "ERROR", "CRITICAL")


def local_workers(engine: EngineParams) -> int:
    """One worker per core: the machine's size unless params say otherwise."""
    return engine.workers or max(os.cpu_count() or 1, 1)


def _check_workers(client: Any, address: str) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except TimeoutError:
        raise ConfigError(
            f"the Dask scheduler at {address} has no workers after {WORKER_WAIT_SECONDS} s "
            "(start some: `dask worker " + address + "`)"
        ) from None
    try:
        client.run(_import_leadscore)
    except Exception as exc:  # the worker's ImportError, pickled back
        raise ConfigError(
            f"a Dask worker at {address} cannot import leadscore ({type(exc).__name__}: {exc}); "
            "install it on every worker: pip install 'leadscore[dask]' (same version as here)"
        ) from None


def _import_leadscore() -> str:
    import engine.validate  # noqa: F401  (imports foundation and features too)

    return "ok"


@contextmanager
def dask_client(engine: EngineParams) -> Iterator[Any]:
    """A distributed Client for the command's duration: the cluster at `engine.scheduler`, or a
    LocalCluster started (and stopped) here."""
    from distributed import Client, LocalCluster

    if engine.scheduler:
        try:
            client = Client(engine.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {engine.scheduler} ({exc}); start one with "
                "`dask scheduler`, or leave engine.scheduler empty for a local cluster"
            ) from None
        try:
            _check_workers(client, engine.scheduler)
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=local_workers(engine),
        threads_per_worker=1,
        processes=True,
        memory_limit=engine.memory_limit,
        # The scheduler always serves HTTP (health, metrics): a free port, never a clash on 8787.
        dashboard_address="127.0.0.1:0",
        # A failed task's traceback comes back in the command's error (see `gather`).
        silence_logs=logging.CRITICAL,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def worker_log_tail(client: Any) -> str:
    """The workers' last warnings and errors (e.g. a memory kill), for the command's error."""
    try:
        logs = client.get_worker_logs(n=50)
    except Exception:  # a dead cluster has no logs to give; the error itself still says why
        return ""
    lines = [
        f"  {worker}: {message.strip().splitlines()[0]}"
        for worker, entries in logs.items()
        for level, message in entries
        if level in LOG_LEVELS and message.strip()
    ]
    return ("\nworker log:\n" + "\n".join(lines[-LOG_LINES:])) if lines else ""


def gather(client: Any, futures: Sequence[Any], what: str) -> list[Any]:
    """Results of `futures` in order. A LeadscoreError raised on a worker (bad data, named) comes
    back as itself; anything else (a killed worker, a bug) as one error naming the step, the
    cause and the workers' last log lines."""
    try:
        return client.gather(list(futures))
    except LeadscoreError:
        raise
    except Exception as exc:
        raise cluster_failure(client, what, exc) from exc
    finally:
        for future in futures:
            future.release()


def compute_now(client: Any, collection: Any, what: str) -> Any:
    """`client.compute(collection, sync=True)` with gather's errors: a killed worker during
    the small counting passes (row counts, the data's end) read "FutureCancelledError ...
    already forgotten" with no step and no worker log; now it reads like every other step."""
    try:
        return client.compute(collection, sync=True)
    except LeadscoreError:
        raise
    except Exception as exc:
        raise cluster_failure(client, what, exc) from exc


def cluster_failure(client: Any, what: str, exc: BaseException) -> LeadscoreError:
    """The one error for a step that failed on the cluster: step, cause, workers' log tail."""
    return LeadscoreError(
        f"{what} failed on the Dask cluster: {type(exc).__name__}: {exc}" + worker_log_tail(client)
    )
