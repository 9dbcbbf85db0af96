"""Reading a finished run back: only the shard files its manifest lists, so nothing partial is read.

A manifest is data from disk, possibly from someone else: every shard file it names goes through
`shard_file`, which accepts only the run's own layout (`<partition>/part-<key>.<ext>` inside the run
directory) before anything is opened, copied or written under that name.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Iterator, NamedTuple

from filters.document import PARTITIONS
from filters.store.manifest import Manifest

SHARD_SUFFIXES = (".jsonl.zst", ".parquet")  # the suffixes of filters/pipeline/writers.py's FORMATS
_SHARD_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_SHARD_NAME = re.compile(r"part-(?P<key>[A-Za-z0-9][A-Za-z0-9_-]*)(?P<ext>\.jsonl\.zst|\.parquet)")


class ManifestPathError(ValueError):
    """A manifest names a shard file (or key) that is not one of the run's own; nothing was opened."""


class ShardFile(NamedTuple):
    partition: str
    name: str  # part-<key>.<ext>, no directory
    path: Path  # out_dir / partition / name

    @property
    def relative(self) -> str:
        return f"{self.partition}/{self.name}"


def _describe(entry) -> str:
    return ascii(entry)[:300]  # ascii(): a crafted entry cannot carry control or bidi characters to a terminal


def check_shard_key(key, where: str = "manifest.json") -> str:
    """A shard key as the filter writes it (letters, digits, '-' and '_'): it becomes part of file names."""
    if not isinstance(key, str) or not _SHARD_KEY.fullmatch(key):
        raise ManifestPathError(f"{where}: shard key {_describe(key)} is not a synthsieve shard key; "
                                "refusing to use it in a file name")
    return key


def shard_file(out_dir, item, key: str | None = None, where: str = "manifest.json") -> ShardFile:
    """The one check of a manifest's shard file entry ({"partition", "path", ...}) before its file is used.

    The path must be exactly `<partition>/part-<key>.<ext>`: partition one of PARTITIONS (and equal to the
    entry's `partition` when it has one), key as `check_shard_key` (and equal to `key` when given), ext
    .jsonl.zst or .parquet; so no other separator, no `..`, nothing absolute. The resolved path (symbolic
    links followed) must lie inside `out_dir`. Anything else raises ManifestPathError naming the entry.
    """
    out_dir = Path(out_dir)

    def refuse(reason: str):
        return ManifestPathError(f"{where}: shard file entry {_describe(item)} {reason}; "
                                 "refusing to read or copy it (the manifest is damaged or was edited)")

    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise refuse("has no file path")
    parts = item["path"].split("/")
    if len(parts) != 2 or parts[0] not in PARTITIONS:
        raise refuse(f"is not <partition>/<file> with a partition among {', '.join(PARTITIONS)}")
    partition, name = parts
    if item.get("partition") is not None and item.get("partition") != partition:
        raise refuse(f"names partition {_describe(item.get('partition'))} but lies in {partition}/")
    match = _SHARD_NAME.fullmatch(name)
    if match is None:
        raise refuse("is not named part-<key>.jsonl.zst or part-<key>.parquet")
    if key is not None and match.group("key") != key:
        raise refuse(f"does not belong to shard {_describe(key)}")
    path = out_dir / partition / name
    root = out_dir.resolve()
    if not path.resolve().is_relative_to(root):
        raise refuse(f"resolves to {_describe(str(path.resolve()))}, outside the run directory {root}")
    return ShardFile(partition, name, path)


def manifest_shard_files(out_dir, manifest: dict, where: str | None = None) -> list[list[ShardFile]]:
    """Every shard's files, checked, in manifest order; raises ManifestPathError before anything is opened."""
    where = where or str(Path(out_dir) / "manifest.json")
    checked = []
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        raise ManifestPathError(f"{where}: `shards` is not a list of shard records")
    for shard in shards:
        if not isinstance(shard, dict) or not isinstance(shard.get("files"), list):
            raise ManifestPathError(f"{where}: shard record {_describe(shard)} has no list of files")
        key = check_shard_key(shard.get("key"), where)
        checked.append([shard_file(out_dir, item, key, where) for item in shard["files"]])
    return checked


def iter_rows(path) -> Iterator[dict]:
    """Rows of one shard file (.jsonl.zst or .parquet), as the filter wrote them.

    A Parquet shard's columns stored as JSON text (listed in its schema metadata by
    filters/pipeline/writers.py's `rows_to_table`: ids of both types, fields whose types vary, empty
    objects, strings UTF-8 cannot encode, `synthsieve.displaced_fields`) are decoded, so a row reads back
    as the same row from either format, and rethreshold writes back exactly what it read. What the
    formats cannot both express differs: Parquet has no missing key, so a field a row lacked but other
    rows of its shard file have (at the top level, or inside an object not stored as JSON text) reads
    back as None there; a value JSON has no form for (a non-finite float, which JSON Lines holds as the
    string "NaN", "Infinity" or "-Infinity"; a date or bytes from a Parquet input, held as text) keeps
    its Arrow type in a Parquet column that Arrow could store as it is; and where a Parquet column holds
    both integers and other numbers, Arrow stored them all as floats (1 reads back as 1.0: equal, but
    not the same type).
    """
    path = Path(path)
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        restore = _parquet_restorer(parquet.schema_arrow.metadata, path)
        for batch in parquet.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield restore(row)
        return
    import zstandard

    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        for line in io.TextIOWrapper(reader, encoding="utf-8"):
            if line.strip():
                yield json.loads(line)


# The keys of filters/pipeline/writers.py's JSON_COLUMNS and RENAMED_COLUMNS.
_JSON_COLUMNS = b"synthsieve.json_columns"
_RENAMED_COLUMNS = b"synthsieve.renamed_columns"
# A shard written before the metadata existed stored `synthsieve.displaced_fields` (only) as JSON text.
_UNLISTED_JSON_COLUMNS = [["synthsieve", "displaced_fields"]]


def _parquet_restorer(metadata, path: Path):
    """A function that gives back one row of a Parquet shard as it was written (see `iter_rows`)."""
    metadata = metadata or {}
    try:
        if _JSON_COLUMNS in metadata or _RENAMED_COLUMNS in metadata:
            paths = json.loads(metadata.get(_JSON_COLUMNS, b"[]"))
        else:
            paths = _UNLISTED_JSON_COLUMNS
        renamed = json.loads(metadata.get(_RENAMED_COLUMNS, b"{}"))
        if not (isinstance(paths, list) and all(isinstance(p, list) and p and all(isinstance(n, str) for n in p)
                                                for p in paths) and isinstance(renamed, dict)):
            raise ValueError("not a list of column paths and an object of names")
    except ValueError as error:
        raise ValueError(f"{path}: damaged synthsieve schema metadata ({error})") from None

    def decode(container: dict, names: list[str]) -> None:
        name, rest = names[0], names[1:]
        value = container.get(name)
        if rest:
            if isinstance(value, dict):
                decode(value, rest)
        elif isinstance(value, str):
            try:
                container[name] = json.loads(value)
            except ValueError:
                raise ValueError(f"{path}: column {'.'.join(names)} holds a value that is not the JSON text "
                                 "it should be") from None

    def restore(row: dict) -> dict:
        for names in paths:
            decode(row, names)
        if renamed:
            row = {renamed.get(name, name): value for name, value in row.items()}
        return row

    return restore


def shard_files(out_dir, partition: str | None = None, manifest: dict | None = None) -> list[Path]:
    """The completed shard files of a run, in shard order, optionally of one partition."""
    out_dir = Path(out_dir)
    manifest = manifest or Manifest.load(out_dir)
    if manifest is None:
        raise FileNotFoundError(f"{out_dir / 'manifest.json'} not found: not a synthsieve output directory")
    return [f.path for files in manifest_shard_files(out_dir, manifest) for f in files
            if partition is None or f.partition == partition]


def iter_partition(out_dir, partition: str, manifest: dict | None = None) -> Iterator[dict]:
    for path in shard_files(out_dir, partition, manifest):
        yield from iter_rows(path)
