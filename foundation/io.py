"""File I/O at the edges of the stages: tables (CSV or Parquet), JSON, YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from foundation.completion import publish_text, require_complete, temporary_name
from foundation.errors import DataError

if TYPE_CHECKING:  # pandas is imported where a table is read: `leadscore --help` stays quick
    import pandas as pd

TABLE_SUFFIXES = (".parquet", ".csv")


def find_table(directory: Path, name: str) -> Path:
    """Return `directory/name.parquet` or `.csv`, whichever exists (Parquet first)."""
    for suffix in TABLE_SUFFIXES:
        candidate = Path(directory) / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    raise DataError(f"{name}: no {name}.parquet or {name}.csv in {directory}")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (or a folder of Parquet parts); an unreadable file is a
    DataError naming it (and for a byte that is not UTF-8, its line and column).
    foundation/chunks.py reads the same rows chunk by chunk."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    require_complete(path)  # a folder of parts a stopped run left half written
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            # Read as text: type coercion is validation's job, so it can name bad rows.
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        # pandas' own position is of its read buffer, not of the file: find the byte ourselves.
        from foundation.chunks import first_bad_byte

        bad = first_bad_byte(path)
        raise DataError(f"{path}: {bad.describe() if bad else 'not UTF-8'}") from None
    except Exception as exc:  # pyarrow/pandas raise many types; the user needs the file name
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write a CSV or Parquet file whole or not at all (a temporary name, then a rename): a
    stage killed while writing leaves the previous file, never half a new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        if path.suffix == ".csv":
            from foundation.csv_safe import write_frame_csv

            write_frame_csv(df, tmp)
        else:
            df.to_parquet(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(obj: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return publish_text(path, json.dumps(obj, indent=2, default=str, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def read_yaml(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from exc
