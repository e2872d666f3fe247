"""Outputs that are complete or say they are not: completion markers for folders of parts.

A folder of Parquet parts (the Dask engine's tables) is written part by part by many workers; a
run that dies half way left 7 of 17 parts, and the next stage read them as the whole table
(140,000 of 337,580 events, exit 0). So a writer marks the folder `_STARTED` (naming itself)
before the first part and `_COMPLETE` after the last, and every reader refuses a folder without
`_COMPLETE`, naming the stage to re-run. Parquet readers (pyarrow, Dask) skip files whose names
start with `_`, so the markers never read as data.

Single files are published whole instead: written under a temporary name unique to the writing
process, then renamed over the target (`publish_text`, and foundation/io's writers).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from foundation.errors import DataError

COMPLETE = "_COMPLETE"
STARTED = "_STARTED"


def mark_started(folder: Path, stage: str) -> None:
    """Before the first part: the folder belongs to `stage` and is not complete yet."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMPLETE).unlink(missing_ok=True)
    publish_text(folder / STARTED, json.dumps({"stage": stage}) + "\n")


def mark_complete(folder: Path, stage: str) -> None:
    """After the last part: readers may now trust the folder."""
    folder = Path(folder)
    publish_text(folder / COMPLETE, json.dumps({"stage": stage}) + "\n")
    (folder / STARTED).unlink(missing_ok=True)


def is_complete(folder: Path) -> bool:
    return (Path(folder) / COMPLETE).is_file()


def require_complete(path: Path) -> None:
    """A DataError naming the stage to re-run when `path` is a folder without `_COMPLETE`
    (a file, or a missing path, passes: those are checked where they are read)."""
    path = Path(path)
    if not path.is_dir() or is_complete(path):
        return
    stage = _stage_of(path)
    if stage is None:
        raise DataError(
            f"{path}: no {COMPLETE} marker, so it may be a partial output (written by a run that "
            "stopped, or by a leadscore before markers): re-run the stage that writes it"
        )
    raise DataError(
        f"{path}: incomplete: `{stage}` did not finish writing it (no {COMPLETE} marker; "
        f"{len(list(path.glob('*.parquet')))} part file(s) present): re-run `leadscore {stage}`"
    )


def _stage_of(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / STARTED).read_text())["stage"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def temporary_name(path: Path) -> Path:
    """A sibling name no other process or run uses: `.<name>.<pid>.<random>.tmp`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def publish_text(path: Path, text: str) -> Path:
    """Write `text` at `path` whole or not at all: a reader never sees half of it, and two
    writers at once each rename a file of their own."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
