"""Reading a `synthsieve filter` output directory into columns.

Only what the report needs is kept per document (score, partition, language, length, source, date,
cluster); the text itself is dropped after the first document of each near-duplicate cluster has
given its excerpt, so memory stays proportional to the number of documents, not to their size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from filters.store.output import SHARD_SUFFIXES, ManifestPathError, iter_rows, shard_file

from filters.document import PARTITIONS, QUARANTINE

UNKNOWN = "(unknown)"
EXCERPT_CHARS = 200


class ReportInputError(RuntimeError):
    """The directory is not a readable `synthsieve filter` output."""


@dataclass
class RunData:
    """One filter output: its manifest and one entry per document in every column."""

    path: Path
    manifest: dict
    partition: np.ndarray  # str: one of PARTITIONS
    p_machine: np.ndarray  # float; NaN for quarantined rows (never scored)
    decided_by: np.ndarray  # str: "cheap" | "lm" | UNKNOWN
    language: np.ndarray  # str, UNKNOWN when not scored
    n_tokens: np.ndarray  # int; -1 for quarantined rows
    source: np.ndarray  # str: the record's source field, its URL host, or the input file
    domain: np.ndarray  # str or None
    date: np.ndarray  # datetime.date or None
    cluster_id: np.ndarray  # str or None
    quarantine_reason: np.ndarray  # str or None
    excerpts: dict[str, str] = field(default_factory=dict)  # cluster_id -> excerpt of its first member
    shards_read: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.partition)

    @property
    def scored(self) -> np.ndarray:
        return self.partition != QUARANTINE


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def read_manifest(out_dir: Path) -> dict:
    path = out_dir / "manifest.json"
    if not out_dir.is_dir():
        raise ReportInputError(f"{out_dir} is not a directory")
    if not path.exists():
        raise ReportInputError(f"{out_dir} has no manifest.json: not a `synthsieve filter` output directory "
                               "(or the run never started writing)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportInputError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict):
        raise ReportInputError(f"{path} does not hold a JSON object")
    return manifest


def _entry_item(entry) -> dict | None:
    """One listed shard file as the filter's {"partition", "path"} entry: a string, or an object naming
    `path` (or `name`) and maybe `partition` (a bare file name then lives in that partition's directory)."""
    if isinstance(entry, str):
        return {"path": entry}
    if isinstance(entry, dict) and isinstance(entry.get("path") or entry.get("name"), str):
        name, partition = entry.get("path") or entry.get("name"), entry.get("partition")
        if "/" not in name and isinstance(partition, str):
            name = f"{partition}/{name}"
        return {"partition": partition, "path": name}
    return None


def _checked(out_dir: Path, item: dict) -> Path:
    """The path of a shard file entry, checked by the filter's own rule (filters.store.output.shard_file):
    `<partition>/part-<key>.<ext>` inside the run directory, or the report refuses the run."""
    try:
        return shard_file(out_dir, item, where=str(out_dir / "manifest.json")).path
    except ManifestPathError as error:
        raise ReportInputError(str(error)) from None


def listed_files(listed: list) -> list:
    """The filter's manifest lists completed shards, each with the partition files it published
    under `files`; a flat list of file entries is accepted too."""
    files = []
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get("files"), list):
            files.extend(entry["files"])
        else:
            files.append(entry)
    return files


def shard_paths(out_dir: Path, manifest: dict, warnings: list[str]) -> list[Path]:
    """The shards to read: those the manifest lists as complete, else every part file on disk."""
    on_disk = []
    for candidate in sorted(p for part in PARTITIONS for p in (out_dir / part).glob("part-*")
                            if p.name.endswith(SHARD_SUFFIXES)):
        try:
            on_disk.append(shard_file(out_dir, {"path": f"{candidate.parent.name}/{candidate.name}"}).path)
        except ManifestPathError:  # a link out of the run, or a name the filter never writes
            warnings.append(f"{candidate.parent.name}/{candidate.name} on disk is not a shard file of this run "
                            "(a link out of it, or an odd name); ignored")
    listed = manifest.get("shards")
    if not isinstance(listed, list):
        if manifest.get("status") != "complete":
            warnings.append("the manifest lists no completed shards and the run is not marked complete: "
                            "every part file on disk was read, and the last ones may be partial")
        return on_disk
    chosen: list[Path] = []
    for entry in listed_files(listed):
        item = _entry_item(entry)
        if item is None:
            warnings.append(f"manifest shard entry not understood and skipped: {ascii(entry)[:200]}")
            continue
        path = _checked(out_dir, item)
        if not path.exists():
            warnings.append(f"manifest lists {path.parent.name}/{path.name} but it is missing")
        else:
            chosen.append(path)
    chosen_set = {p.resolve() for p in chosen}
    skipped = [p for p in on_disk if p.resolve() not in chosen_set]
    if skipped:
        names = ", ".join(f"{p.parent.name}/{p.name}" for p in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.append(f"{len(skipped)} shard(s) on disk are not listed as complete in the manifest and were "
                        f"not read (they may be partial): {names}{more}")
    return chosen


def iter_shard(path: Path):
    """The rows of one shard file, read by the filter's own reader (filters.store.output.iter_rows),
    which also decodes the columns a Parquet shard stores as JSON text."""
    return iter_rows(path)


def url_host(url) -> str | None:
    if not isinstance(url, str) or "://" not in url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host or None


def source_of(row: dict, meta: dict) -> str:
    """The record's own `source`, else its URL host, else the input file it was read from."""
    own = row.get("source")
    if isinstance(own, str) and own.strip():
        return own.strip()
    host = url_host(row.get("url"))
    if host:
        return host
    origin = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    return str(origin.get("file") or UNKNOWN)


def parse_date(value) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


FIELDS = ("partition", "p_machine", "decided_by", "language", "n_tokens", "source", "domain", "date",
          "cluster_id", "quarantine_reason")


def _number(value, default):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def document_fields(partition: str, row: dict) -> tuple:
    """One row as the values of FIELDS (computed whole before anything is stored, so a bad row
    cannot leave the columns of different lengths)."""
    meta = row.get("synthsieve") if isinstance(row.get("synthsieve"), dict) else {}
    if partition == QUARANTINE:
        origin = meta.get("source") if isinstance(meta.get("source"), dict) else {}
        return (partition, np.nan, UNKNOWN, UNKNOWN, -1, str(origin.get("file") or UNKNOWN), None, None,
                None, str(row.get("reason") or UNKNOWN))
    cluster = meta.get("cluster_id")
    domain = row.get("domain")
    when = meta.get("date") if meta.get("date") is not None else row.get("date")
    return (partition, float(_number(meta.get("p_machine"), np.nan)), str(meta.get("decided_by") or UNKNOWN),
            str(meta.get("language") or UNKNOWN), int(_number(meta.get("n_tokens"), 0)), source_of(row, meta),
            str(domain) if domain not in (None, "") else None, parse_date(when),
            str(cluster) if cluster not in (None, "") else None, None)


class _Columns:
    def __init__(self):
        self.values: dict[str, list] = {name: [] for name in FIELDS}
        self.excerpts: dict[str, str] = {}
        self.malformed = 0

    def add(self, partition: str, row) -> None:
        if not isinstance(row, dict):
            self.malformed += 1
            return
        try:
            values = document_fields(partition, row)
        except (TypeError, ValueError, OverflowError):
            self.malformed += 1
            return
        for name, value in zip(FIELDS, values):
            self.values[name].append(value)
        cluster = values[FIELDS.index("cluster_id")]
        meta = row.get("synthsieve") or {}
        if cluster is not None and _number(meta.get("cluster_size"), 1) > 1 and cluster not in self.excerpts:
            self.excerpts[cluster] = excerpt(str(row.get("text") or ""))

    def array(self, name: str, dtype=object) -> np.ndarray:
        return np.array(self.values[name], dtype=dtype)


def load_run(out_dir) -> RunData:
    """Read a filter output directory; refuses one without manifest.json."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    warnings: list[str] = []
    if manifest.get("status") not in (None, "complete"):
        warnings.append(f"the run's status is {manifest.get('status')!r}, not 'complete': "
                        "the report covers only what was written so far")
    columns = _Columns()
    read: list[str] = []
    for path in shard_paths(out_dir, manifest, warnings):
        relative = f"{path.parent.name}/{path.name}"
        try:
            for row in iter_shard(path):
                columns.add(path.parent.name, row)
        except Exception as error:  # a truncated shard: keep what was read, say so
            warnings.append(f"{relative} could not be read to the end ({type(error).__name__}: {error}); "
                            "rows before the damage were kept")
        read.append(relative)
    if not read:
        warnings.append("no shards were found: the report is empty")
    if columns.malformed:
        warnings.append(f"{columns.malformed} row(s) did not follow the filter output schema and were skipped")
    return RunData(
        path=out_dir, manifest=manifest,
        partition=columns.array("partition"), p_machine=columns.array("p_machine", float),
        decided_by=columns.array("decided_by"), language=columns.array("language"),
        n_tokens=columns.array("n_tokens", np.int64), source=columns.array("source"),
        domain=columns.array("domain"), date=columns.array("date"), cluster_id=columns.array("cluster_id"),
        quarantine_reason=columns.array("quarantine_reason"),
        excerpts=columns.excerpts, shards_read=read, warnings=warnings,
    )
