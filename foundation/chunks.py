"""Tables read in chunks: Parquet record batches or row groups, CSV blocks cut at record ends.

Validation holds one chunk at a time instead of the whole export, so its memory follows the chunk
size, not the data size. A chunk has the same rows and dtypes as the same rows of `read_table`.
Every chunk knows its first data row (1-based, header not counted), so row numbers in messages
and in the quarantine are the whole file's, whichever chunk, process or machine read them.

A CSV byte that is not UTF-8 does not stop the read: its row comes back with U+FFFD in place of
the byte, and the chunk lists where the byte was (file line, column, field), so validation can
quarantine exactly that row and keep the others.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from foundation.errors import DataError

# Read as text: type coercion is validation's job, so it can name bad rows.
CSV_TEXT = {"dtype": str, "keep_default_na": False, "na_values": [""]}
CSV_DELIMITER = ","
# Delimiters other exports use, by name: the error names the one a header really splits on.
OTHER_DELIMITERS: dict[str, str] = {";": "semicolon", "\t": "tab", "|": "pipe"}
DEFAULT_CSV_BLOCK_BYTES = 64 * 2**20
# A line with something other than blanks on it: pandas skips blank lines, so they are no rows.
_RECORD_LINE = re.compile(rb"(?m)^[ \t\r]*[^ \t\r\n]")
_QUOTE = b'"'


@dataclass(frozen=True)
class BadByte:
    """A byte that is not UTF-8: where it sits in the file and which row and field hold it."""

    row: int  # 0-based position of the row in its chunk
    line: int  # 1-based line of the file (the header is line 1)
    column: int  # 1-based character position in that line
    field: str  # the column (header name) the byte is in
    byte: int

    def describe(self) -> str:
        return (
            f"line {self.line:,}, column {self.column} (field {self.field!r}): byte "
            f"0x{self.byte:02X} is not UTF-8"
        )


@dataclass(frozen=True)
class TableChunk:
    """Rows `first_row` .. first_row + len(frame) - 1 of a table (1-based data rows)."""

    frame: pd.DataFrame
    first_row: int
    bad_bytes: tuple[BadByte, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CsvBlock:
    """Bytes [start, end) of a CSV file holding whole records: `first_line` is the file line of
    the first, `first_row` its 1-based data row, `rows` how many records the block holds."""

    start: int
    end: int
    first_line: int
    first_row: int
    rows: int


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group, numbered as the whole table numbers its rows."""

    path: Path
    index: int
    first_row: int
    rows: int


def parquet_files(path: Path) -> list[Path]:
    """A Parquet table is one file or a folder of part files (what the Dask engine writes)."""
    path = Path(path)
    if path.is_dir():
        from foundation.completion import require_complete

        require_complete(path)  # never a stopped run's partial folder taken as the table
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise DataError(f"{path}: a folder without .parquet part files")
        return parts
    return [path]


def table_columns(path: Path) -> list[str]:
    """Header only, so a missing column stops a stage before minutes of work on other tables."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return list(pq.read_schema(parquet_files(path)[0]).names)
        return list(pd.read_csv(path, nrows=0, dtype=str, encoding_errors="replace").columns)
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types; the user needs the file name
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def has_rows(path: Path) -> bool:
    """Whether the table holds a row, from Parquet metadata or a CSV's first record: a stage can
    refuse an empty required table before it writes or deletes anything."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return any(pq.ParquetFile(part).metadata.num_rows for part in parquet_files(path))
        return len(pd.read_csv(path, nrows=1, dtype=str, encoding_errors="replace")) > 0
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types; the user needs the file name
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def other_delimiter(path: Path, expected: tuple[str, ...]) -> str | None:
    """The name of the delimiter a CSV header uses instead of a comma (e.g. "semicolon ';'"),
    when splitting on it finds more of the `expected` columns; None when the comma does best."""
    path = Path(path)
    if path.suffix != ".csv" or not path.is_file():
        return None
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace").lstrip("\ufeff").strip()

    def found(delimiter: str) -> int:
        names = {part.strip().strip('"') for part in header.split(delimiter)}
        return len(names & set(expected))

    best = max(OTHER_DELIMITERS, key=found)
    if found(best) > found(CSV_DELIMITER):
        return f"{OTHER_DELIMITERS[best]} {best!r}"
    return None


def table_chunks(path: Path, chunk_rows: int = 1_000_000) -> Iterator[TableChunk]:
    """The table in chunks of at most `chunk_rows` rows (CSV: blocks of about 64 MB), in file
    order. Always at least one chunk, so a header-only file still shows its columns."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".parquet":
        yield from _parquet_chunks(path, chunk_rows)
    elif path.suffix == ".csv":
        columns = table_columns(path)
        for block in csv_blocks(path):
            yield read_csv_block(path, block, columns)
    else:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[TableChunk]:
    first_row, yielded = 1, False
    try:
        for part in parquet_files(path):
            parquet = pq.ParquetFile(part)
            schema = parquet.schema_arrow
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                # The file's schema carries pandas metadata: same dtypes as pd.read_parquet.
                frame = pa.Table.from_batches([batch], schema=schema).to_pandas()
                yield TableChunk(frame, first_row)
                first_row, yielded = first_row + len(frame), True
        if not yielded:
            schema = pq.read_schema(parquet_files(path)[0])
            yield TableChunk(schema.empty_table().to_pandas(), first_row)
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises many types; the user needs the file name
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def parquet_row_groups(path: Path) -> list[RowGroup]:
    """Every row group of a Parquet table: the units the Dask engine validates in parallel."""
    groups, first_row = [], 1
    for part in parquet_files(path):
        meta = pq.ParquetFile(part).metadata
        for index in range(meta.num_row_groups):
            rows = meta.row_group(index).num_rows
            groups.append(RowGroup(part, index, first_row, rows))
            first_row += rows
    return groups


def read_row_group(group: RowGroup) -> TableChunk:
    try:
        frame = pq.ParquetFile(group.path).read_row_group(group.index).to_pandas()
    except Exception as exc:  # pyarrow raises many types; the user needs the file name
        raise DataError(f"{group.path}: cannot read ({type(exc).__name__}: {exc})") from exc
    return TableChunk(frame, group.first_row)


def _record_count(block: bytes) -> int:
    """Records in whole lines of CSV: lines with content, minus lines that continue a quoted
    field (quote parity is tracked line by line only when the block has quotes at all)."""
    if _QUOTE not in block:
        return len(_RECORD_LINE.findall(block))
    records, inside = 0, False
    for line in block.split(b"\n"):
        if not inside and line.strip(b" \t\r"):
            records += 1
        inside ^= line.count(_QUOTE) % 2 == 1
    return records


def csv_blocks(path: Path, block_bytes: int | None = None) -> list[CsvBlock]:
    """Cut a CSV file into blocks of whole records (never inside a quoted field), numbered so
    that every block knows its first line and row without parsing the blocks before it."""
    block_bytes = block_bytes or DEFAULT_CSV_BLOCK_BYTES
    blocks: list[CsvBlock] = []
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        handle.readline()
        start, line, row = handle.tell(), 2, 1
        while start < size:
            handle.seek(start)
            data = handle.read(block_bytes)
            if start + len(data) < size:
                cut = data.rfind(b"\n") + 1
                while cut == 0 or data.count(_QUOTE, 0, cut) % 2:
                    more = handle.read(block_bytes)  # a record longer than a block, or quoted
                    if not more:
                        cut = len(data)
                        break
                    searched = len(data) if cut == 0 else cut
                    data += more
                    nxt = data.find(b"\n", searched)
                    cut = nxt + 1 if nxt >= 0 else 0
                data = data[:cut]
            rows = _record_count(data)
            blocks.append(CsvBlock(start, start + len(data), line, row, rows))
            line += data.count(b"\n")
            row += rows
            start += len(data)
    return blocks or [CsvBlock(size, size, 2, 1, 0)]


def _bad_bytes(data: bytes, block: CsvBlock, columns: list[str]) -> tuple[BadByte, ...]:
    """Every byte of `data` that is not UTF-8, located by line, column and field. Runs only on
    a block that failed to decode, so clean blocks pay one decode and nothing more."""
    found: list[BadByte] = []
    offset = 0
    while offset < len(data):
        try:
            data[offset:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            found.append(_locate(data, offset + exc.start, block, columns))
            offset += exc.end
    return tuple(found)


def _locate(data: bytes, position: int, block: CsvBlock, columns: list[str]) -> BadByte:
    line_start = data.rfind(b"\n", 0, position) + 1
    before, prefix = data[:line_start], data[line_start:position]
    row = _record_count(before)
    if before.count(_QUOTE) % 2:  # the line continues a quoted field of the record before it
        row -= 1
    field_index = prefix.count(CSV_DELIMITER.encode())
    name = columns[field_index] if field_index < len(columns) else f"#{field_index + 1}"
    return BadByte(
        row=max(row, 0),
        line=block.first_line + before.count(b"\n"),
        column=len(prefix.decode("utf-8", errors="replace")) + 1,
        field=name,
        byte=data[position],
    )


def read_csv_block(path: Path, block: CsvBlock, columns: list[str]) -> TableChunk:
    """Parse one block with the header's column names, exactly as `read_table` parses them."""
    with open(path, "rb") as handle:
        handle.seek(block.start)
        data = handle.read(block.end - block.start)
    bad: tuple[BadByte, ...] = ()
    source: io.BytesIO | io.StringIO
    try:
        data.decode("utf-8")
        source = io.BytesIO(data)
    except UnicodeDecodeError:
        bad = _bad_bytes(data, block, columns)
        source = io.StringIO(data.decode("utf-8", errors="replace"))
    if block.rows == 0:
        frame = pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    else:
        try:
            frame = pd.read_csv(source, header=None, names=columns, **CSV_TEXT)
        except Exception as exc:  # the user needs the file and where the block starts
            raise DataError(
                f"{path}: cannot read the rows from line {block.first_line:,} "
                f"({type(exc).__name__}: {exc})"
            ) from exc
    if len(frame) != block.rows:
        raise DataError(
            f"{path}: lines from {block.first_line:,} hold {len(frame):,} rows where "
            f"{block.rows:,} records were counted (an unbalanced quote?)"
        )
    return TableChunk(frame, block.first_row, bad)


def first_bad_byte(path: Path) -> BadByte | None:
    """Where the first non-UTF-8 byte of a CSV file is, for a whole-file read's message."""
    columns = table_columns(path)
    for block in csv_blocks(path):
        with open(path, "rb") as handle:
            handle.seek(block.start)
            data = handle.read(block.end - block.start)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return _bad_bytes(data, block, columns)[0]
    return None


def clear_output(path: Path) -> None:
    """Remove a table output, whether a file (pandas engine) or a folder of parts (Dask)."""
    path = Path(path)
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class ParquetAppender:
    """One Parquet file written chunk by chunk (a row group or more per chunk): the same table
    `write_table` writes from the concatenated chunks, without ever holding them all. The file
    appears under its name only when complete."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A column with no value in the first chunk has no type yet: text is what it holds.
            fields = [
                f.with_type(pa.large_string()) if pa.types.is_null(f.type) else f
                for f in table.schema
            ]
            self.schema = pa.schema(fields, metadata=table.schema.metadata)
            table = table.cast(self.schema)
            self.writer = pq.ParquetWriter(self.partial, self.schema)
        elif not table.schema.equals(self.schema, check_metadata=False):
            # e.g. a text column that is all missing in this chunk: same column, the first type.
            table = table.cast(self.schema)
        self.writer.write_table(table.replace_schema_metadata(self.schema.metadata))

    def __enter__(self) -> ParquetAppender:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if self.writer is not None:
            self.writer.close()
        if kind is None and self.writer is not None:
            clear_output(self.path)
            self.partial.replace(self.path)
        else:
            self.partial.unlink(missing_ok=True)
