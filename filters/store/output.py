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
    """Rows of one shard file (.jsonl.zst or .parquet)."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=1024):
            yield from batch.to_pylist()
        return
    import zstandard

    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        for line in io.TextIOWrapper(reader, encoding="utf-8"):
            if line.strip():
                yield json.loads(line)


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
