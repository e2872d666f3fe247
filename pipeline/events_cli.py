"""`leadscore events replay FILE`: post a stored event log to `POST /v1/events` in time order at
a chosen speed, as a site tracker would have sent it (ingest/replay.py builds the messages).

A 429 (the service is busy re-scoring) is waited out as its Retry-After says and the same batch
is sent again: nothing is skipped. Replaying a log twice changes nothing (messageIds are digests
of the events).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli_support import new_app, user_errors

events_app = new_app("Events as they happen: replay a stored log to POST /v1/events.")

KEY_ENV = "LEADSCORE_INGEST_KEY"


@events_app.command("replay")
@user_errors
def replay(
    file: Annotated[Path, typer.Argument(help="Events (CSV/Parquet, data contract) or .jsonl.")],
    url: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:8000",
    leads: Annotated[
        Path | None, typer.Option(help="Leads table: one identify per lead first.")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Seconds of the log per second (0: as fast as accepted).")
    ] = 0.0,
    rate: Annotated[
        float | None, typer.Option(help="Messages per second instead of --speed.")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Messages per request (due together).")] = 50,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N messages.")] = None,
) -> None:
    """Post FILE to URL/v1/events in time order (the key: $LEADSCORE_INGEST_KEY)."""
    from foundation.errors import ConfigError
    from ingest.replay import Pace, load_messages, schedule

    key = os.environ.get(KEY_ENV, "")
    if not key:
        raise ConfigError(f"set {KEY_ENV} to a key of the ingest role (LEADSCORE_API_KEYS)")
    if not file.exists():
        raise ConfigError(f"{file}: no such file")
    messages = load_messages(file, leads)[:limit]
    report = post_all(url, key, list(schedule(messages, Pace(speed, rate))), batch)
    typer.echo(
        f"replayed {len(messages):,} messages in {report['seconds']:.1f} s: stored "
        f"{report['stored']:,}, duplicates {report['duplicates']:,}, 429 answers "
        f"{report['busy']:,}"
    )


def post_all(url: str, key: str, due: list, batch: int) -> dict[str, float]:
    """POST the scheduled messages `batch` at a time, each batch when its first is due."""
    import httpx2 as httpx

    totals = {"stored": 0, "duplicates": 0, "busy": 0, "seconds": 0.0}
    start = time.monotonic()
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
        for first in range(0, len(due), batch):
            chunk = due[first : first + batch]
            wait = start + chunk[0][0] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            body = {"batch": [m for _, m in chunk]}
            while True:
                answer = client.post("/v1/events", json=body)
                if answer.status_code != 429:
                    break
                totals["busy"] += 1
                time.sleep(float(answer.headers.get("Retry-After", "1")))
            if answer.status_code != 200:
                from foundation.errors import DataError

                raise DataError(
                    f"{url}/v1/events answered {answer.status_code} to messages "
                    f"{first}-{first + len(chunk) - 1}: {answer.text[:500]}"
                )
            done = answer.json()
            totals["stored"] += done["stored"]
            totals["duplicates"] += done["duplicates"]
    totals["seconds"] = time.monotonic() - start
    return totals
