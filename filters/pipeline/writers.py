"""Partition writers: one file per (partition, shard), published only when complete.

Rows go to `OUT/<partition>/.part-<shard>.<ext>.tmp`; `commit` fsyncs and renames each to
`part-<shard>.<ext>`. The shard counts as done only once its completion record is written after that
(see `state.RunState`), so a crash anywhere leaves either a done shard or one to redo from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from filters.store.atomic import describe_output_error, is_output_error, publish, temporary_name
from filters.document import QUARANTINE, SCORED_PARTITIONS, Document
from filters.pipeline.rows import json_line, json_text, quarantine_row, scored_row
from filters.pipeline.step import PipelineStep

FORMATS = {"jsonl": ".jsonl.zst", "parquet": ".parquet"}
ZSTD_LEVEL = 3


def shard_file_name(shard_key: str, fmt: str) -> str:
    return f"part-{shard_key}{FORMATS[fmt]}"


class _HashingSink:
    """Counts and hashes the compressed bytes on their way to disk, so nothing is read back."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self):
        self.handle.flush()


class JsonlZstShardFile:
    def __init__(self, path: Path):
        import zstandard

        self.path = path
        self.rows = 0
        self._handle = open(temporary_name(path), "wb")
        self._sink = _HashingSink(self._handle)
        self._writer = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self._sink, closefd=False)

    def write(self, row: dict) -> None:
        self._writer.write(json_line(row))
        self.rows += 1

    def commit(self) -> dict:
        self._writer.close()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        publish(temporary_name(self.path), self.path)
        return {"rows": self.rows, "bytes": self._sink.size, "sha256": self._sink.digest.hexdigest()}

    def abort(self) -> None:
        for close in (self._writer.close, self._handle.close):
            try:
                close()
            except Exception:  # noqa: BLE001 - already failing; the temporary file goes either way
                pass
        temporary_name(self.path).unlink(missing_ok=True)


# Parquet schema metadata that `filters.store.output.iter_rows` reads to give back the rows as written.
# JSON_COLUMNS: a JSON list of the paths of the columns stored as JSON text, each path a list of names
# (["id"], ["synthsieve", "displaced_fields"]; a list, since a field name may itself hold a dot).
# RENAMED_COLUMNS: a JSON object, stored column name -> the field's own name, for field names Parquet
# cannot hold (a lone surrogate has no UTF-8 form). Both are written only when there is something to
# say, so the bytes of an ordinary shard do not change.
JSON_COLUMNS = "synthsieve.json_columns"
RENAMED_COLUMNS = "synthsieve.renamed_columns"
DISPLACED_PATH = ["synthsieve", "displaced_fields"]


def rows_to_table(rows: list[dict]):
    """A shard's rows as one Arrow table whose columns are the union of every row's fields.

    Columns are taken in first-seen order (pyarrow's `from_pylist` would take only the first row's
    fields and silently drop any other); a row without a field has null there. A column Arrow cannot
    store as it is is written as JSON text, each value encoded alone (`rows.json_text`), so nothing is
    lost or coerced into another value: values whose types Arrow cannot unify (an input field that is
    a number in one record and text in another, ids of both kinds), an empty object anywhere in it
    (Parquet has no struct without fields), a string or key UTF-8 cannot encode (a lone surrogate,
    written as a \\u escape). Arrow's one widening stays: a column holding both integers and other
    numbers is a float column (1 reads back as 1.0). `synthsieve.displaced_fields` (input fields that
    clashed with the row's own names) is arbitrary input, so it is always JSON text, which keeps the
    `synthsieve` column's type the same in every shard. The schema's metadata lists the JSON text
    columns (`JSON_COLUMNS`), so that the reader decodes them and a row read back is the row that was
    written.
    """
    import pyarrow as pa

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    stored_names = _stored_names(names)
    columns, json_columns, renamed = {}, [], {}
    for name in names:
        stored = stored_names[name]
        if stored != name:
            renamed[stored] = name
        values = [row.get(name) for row in rows]
        if name == "synthsieve":
            array = _arrow_array([_displaced_as_json(v, json_text) for v in values])
            if array is not None and pa.types.is_struct(array.type) \
                    and array.type.get_field_index("displaced_fields") >= 0:
                json_columns.append(DISPLACED_PATH)
        else:
            array = _arrow_array(values)
        if array is None:  # the whole column as JSON text, `displaced_fields` inside it left as it is
            array = pa.array([None if v is None else json_text(v) for v in values], type=pa.string())
            json_columns.append([stored])
        columns[stored] = array
    table = pa.table(columns)
    metadata = {}
    if json_columns:
        metadata[JSON_COLUMNS] = json.dumps(json_columns)  # ASCII: json.dumps escapes the rest
    if renamed:
        metadata[RENAMED_COLUMNS] = json.dumps(renamed)
    return table.replace_schema_metadata(metadata) if metadata else table


def _arrow_array(values):
    """`values` as one Arrow array, or None where Parquet cannot store them as they are."""
    import pyarrow as pa

    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError,
            UnicodeEncodeError):  # types that do not unify; a lone surrogate in a string or key
        return None
    return None if _has_empty_struct(array.type) else array


def _has_empty_struct(arrow_type) -> bool:
    """Whether the type holds a struct with no fields anywhere (`{}` in a value): Parquet cannot write one."""
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return arrow_type.num_fields == 0 or any(_has_empty_struct(arrow_type.field(i).type)
                                                  for i in range(arrow_type.num_fields))
    if pa.types.is_map(arrow_type):
        return _has_empty_struct(arrow_type.key_type) or _has_empty_struct(arrow_type.item_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) \
            or pa.types.is_fixed_size_list(arrow_type) or _is_list_view(arrow_type):
        return _has_empty_struct(arrow_type.value_type)
    return False


def _is_list_view(arrow_type) -> bool:
    import pyarrow as pa

    check = getattr(pa.types, "is_list_view", None), getattr(pa.types, "is_large_list_view", None)
    return any(c is not None and c(arrow_type) for c in check)


def _stored_names(names) -> dict[str, str]:
    """Each field's column name: its own, or, where UTF-8 cannot encode it, its \\u-escaped form (made
    unique with trailing '_'), which the metadata maps back (`RENAMED_COLUMNS`)."""
    stored, taken = {}, set(names)
    for name in names:
        try:
            name.encode("utf-8")
            stored[name] = name
            continue
        except UnicodeEncodeError:
            pass
        candidate = json.dumps(name)[1:-1]
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        stored[name] = candidate
    return stored


def _displaced_as_json(meta, to_json):
    """The `synthsieve` object with `displaced_fields` as JSON text; a missing or None value stays so
    (a row read back from Parquet has None there where nothing was displaced)."""
    if isinstance(meta, dict) and meta.get("displaced_fields") is not None:
        return {**meta, "displaced_fields": to_json(meta["displaced_fields"])}
    return meta


class ParquetShardFile:
    """Parquet needs the schema of all rows, so a shard's rows are held until commit (shard_size bounds them)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0
        self._rows: list[dict] = []
        temporary_name(path).touch()  # fail now, not after an hour of scoring, if the folder is unwritable

    def write(self, row: dict) -> None:
        self._rows.append(row)
        self.rows += 1

    def commit(self) -> dict:
        import pyarrow.parquet as pq

        table = rows_to_table(self._rows)
        temporary = temporary_name(self.path)
        pq.write_table(table, temporary, compression="zstd")
        digest, size = hashlib.sha256(), 0
        with open(temporary, "rb+") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
            os.fsync(handle.fileno())
        publish(temporary, self.path)
        self._rows = []
        return {"rows": self.rows, "bytes": size, "sha256": digest.hexdigest()}

    def abort(self) -> None:
        self._rows = []
        temporary_name(self.path).unlink(missing_ok=True)


_FILE_TYPES = {"jsonl": JsonlZstShardFile, "parquet": ParquetShardFile}


class ShardRowWriter:
    """The files of one shard, one per partition, opened on first row; `commit` publishes them all."""

    def __init__(self, out_dir: Path, shard_key: str, fmt: str = "jsonl"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.out_dir = Path(out_dir)
        self.shard_key = shard_key
        self.fmt = fmt
        self._files: dict[str, object] = {}

    def write(self, partition: str, row: dict) -> None:
        try:
            self._file(partition).write(row)
        except OSError as error:
            if is_output_error(error):
                raise describe_output_error(error, self.out_dir / partition) from error
            raise

    def _file(self, partition: str):
        if partition not in self._files:
            directory = self.out_dir / partition
            directory.mkdir(parents=True, exist_ok=True)
            self._files[partition] = _FILE_TYPES[self.fmt](directory / shard_file_name(self.shard_key, self.fmt))
        return self._files[partition]

    def commit(self) -> list[dict]:
        """Publishes every file of this shard; returns what the completion record lists."""
        published = []
        for partition, shard_file in sorted(self._files.items()):
            try:
                info = shard_file.commit()
            except OSError as error:
                if is_output_error(error):
                    raise describe_output_error(error, shard_file.path) from error
                raise
            published.append({"partition": partition, "path": f"{partition}/{shard_file.path.name}", **info})
        self._files = {}
        return published

    def abort(self) -> None:
        for shard_file in self._files.values():
            shard_file.abort()
        self._files = {}


class PartitionWriter(PipelineStep):
    """Writes scored documents to their partition's shard file; passes every document on."""

    name = "partition_writer"
    partitions: tuple[str, ...] = SCORED_PARTITIONS

    def __init__(self, out_dir: Path, shard_key: str, fmt: str = "jsonl"):
        super().__init__()
        self.files = ShardRowWriter(out_dir, shard_key, fmt)

    def row(self, doc: Document) -> dict:
        return scored_row(doc)

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if doc.partition in self.partitions:
                self.files.write(doc.partition, self.row(doc))
                self.stats[doc.partition] += 1
            yield doc

    def commit(self) -> list[dict]:
        return self.files.commit()

    def abort(self) -> None:
        self.files.abort()


class QuarantineWriter(PartitionWriter):
    """Every record that could not be read or scored, with its raw first bytes and the reason."""

    name = "quarantine_writer"
    partitions = (QUARANTINE,)

    def row(self, doc: Document) -> dict:
        return quarantine_row(doc)
