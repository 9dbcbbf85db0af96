"""Reading a finished run back: only the shard files its manifest lists, so nothing partial is read."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

from .manifest import Manifest


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
    return [out_dir / item["path"] for shard in manifest["shards"] for item in shard["files"]
            if partition is None or item["partition"] == partition]


def iter_partition(out_dir, partition: str, manifest: dict | None = None) -> Iterator[dict]:
    for path in shard_files(out_dir, partition, manifest):
        yield from iter_rows(path)
