"""OUT/manifest.json: what was run, on what, with which model, and what came out.

It is rebuilt from the run's durable state (run.json and the shard completion records), so it is
correct after any crash and resume; while a run is going on its status is "running".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from detector.reference_lm import sha256_file
from detector.features.precision import DEFAULT_PRECISION, precision_of

from filters.store.atomic import read_json, write_json
from filters.pipeline.readers import file_problem
from filters.document import PARTITIONS, QUARANTINE
from filters.store.state import MANIFEST, RunState


def synthsieve_version() -> str:
    try:
        from detector import __version__

        return __version__
    except ImportError:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("synthsieve")
        except PackageNotFoundError:
            return "unknown"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def describe_inputs(sources) -> list[dict]:
    """Path, size and SHA-256 of every input file, in run order (a directory lists its .txt files).

    A file that cannot be hashed (a broken or looping symbolic link, no permission, a FIFO or other
    non-regular file, which would block) gets size and sha256 null and a `problem`: it is one input of
    many, and its reader sends it to quarantine with that reason, so it must not stop the run here.
    """
    described = []
    for source in sources:
        for path in source.files:
            entry = {"path": path, "size": None, "sha256": None, "source": source.index, "format": source.kind}
            problem = file_problem(path)
            if problem is None:
                try:
                    entry["size"], entry["sha256"] = os.path.getsize(path), sha256_file(path)
                except OSError as error:
                    problem = f"cannot read it: {error.strerror or error}"
            if problem is not None:
                entry["problem"] = problem
            described.append(entry)
    return described


def model_identity(provenance: dict) -> dict:
    """The parts of the detector's provenance that change scores; the run's fingerprint uses them."""
    keys = ("model_id", "model_hash", "artifact_hashes", "reference_model_id", "reference_model_hash", "token_cap")
    identity = {k: provenance.get(k) for k in keys}
    # The LM's arithmetic changes scores too. bf16, the default, is left out, so that runs scored before
    # the precision was recorded keep their fingerprint; an int8 run has another one.
    precision = precision_of(provenance)
    if precision != DEFAULT_PRECISION:
        identity["precision"] = precision
    return identity


def fingerprint(inputs: list[dict], settings: dict, model: dict, thresholds: dict, reference: dict | None = None) -> str:
    """SHA-256 of what decides a run's output. `reference` (the human reference, when one is named) is
    left out when None, so runs without one keep the fingerprint they always had."""
    content = {"inputs": [{k: i[k] for k in ("path", "size", "sha256")} for i in inputs],
               "settings": settings, "model": model, "thresholds": thresholds}
    if reference is not None:
        content["reference"] = reference
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ShardCounts:
    """Counts of one shard, kept in its completion record and summed into the manifest (`total_counts`).
    The one place they are counted, for the filter's documents and rethreshold's rows alike."""

    def __init__(self):
        self.partitions: Counter = Counter()
        self.stages: Counter = Counter()
        self.quarantine_reasons: Counter = Counter()
        self.reasons: Counter = Counter()
        self.documents = 0
        self.tokens = 0
        self.duplicate_ids = 0

    def add_scored(self, partition: str, decided_by: str | None, n_tokens: int, top_reason: str | None,
                   duplicate_id: bool = False) -> None:
        self.documents += 1
        self.partitions[partition] += 1
        self.stages[decided_by] += 1
        self.tokens += int(n_tokens or 0)
        self.duplicate_ids += int(bool(duplicate_id))
        if top_reason is not None:
            self.reasons[top_reason] += 1

    def add_quarantined(self, reason: str, n: int = 1) -> None:
        self.documents += n
        self.partitions[QUARANTINE] += n
        self.quarantine_reasons[reason] += n

    def add(self, doc) -> None:
        """A document that went through the filter's steps (filters.document.Document)."""
        if doc.partition == QUARANTINE:
            self.add_quarantined(doc.quarantine)
            return
        reasons = doc.score.reasons
        self.add_scored(doc.partition, doc.decided_by, doc.score.n_tokens,
                        str(reasons[0].get("feature")) if reasons else None, doc.duplicate_id)

    def add_row(self, partition: str, row: dict) -> None:
        """A scored output row (what rethreshold re-routes)."""
        meta = row["synthsieve"]
        reasons = meta.get("reasons")
        self.add_scored(partition, meta.get("decided_by"), meta.get("n_tokens"),
                        str(reasons[0].get("feature")) if reasons else None, meta.get("duplicate_id"))

    def to_dict(self) -> dict:
        return {"partitions": {p: self.partitions.get(p, 0) for p in PARTITIONS},
                "stages": dict(sorted((k, v) for k, v in self.stages.items() if k)),
                "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
                "top_reasons": dict(sorted(self.reasons.items())),
                "documents": self.documents, "tokens": self.tokens, "duplicate_ids": self.duplicate_ids}


def total_counts(records: list[dict]) -> dict:
    partitions, stages, reasons, top = Counter(), Counter(), Counter(), Counter()
    documents = tokens = duplicate_ids = 0
    for record in records:
        counts = record["counts"]
        duplicate_ids += counts.get("duplicate_ids", 0)
        partitions.update(counts["partitions"])
        stages.update(counts["stages"])
        reasons.update(counts["quarantine_reasons"])
        top.update(counts.get("top_reasons", {}))
        documents += counts["documents"]
        tokens += counts["tokens"]
    return {"partitions": {p: partitions.get(p, 0) for p in PARTITIONS},
            "stages": {"cheap": stages.get("cheap", 0), "lm": stages.get("lm", 0)},
            "quarantine_reasons": dict(sorted(reasons.items())),
            "top_reasons": dict(top.most_common()),
            "documents": documents, "tokens": tokens, "duplicate_ids": duplicate_ids}


class Manifest:
    @staticmethod
    def build(identity: dict, records: list[dict], status: str, finished_at: str | None = None,
              extra: dict | None = None) -> dict:
        records = sorted(records, key=lambda r: r["key"])
        manifest = {
            "synthsieve_version": identity.get("synthsieve_version"),
            "model": identity.get("provenance", identity.get("model")),
            "thresholds": identity["thresholds"],
            "settings": identity["settings"],
            "inputs": [{k: i[k] for k in ("path", "size", "sha256", "format", "problem") if k in i}
                       for i in identity["inputs"]],
            "counts": total_counts(records),
            "shards": [{"key": r["key"], "file": r.get("file"), "start": r.get("start"), "stop": r.get("stop"),
                        "files": r["files"], "counts": r["counts"]} for r in records],
            "started_at": identity.get("started_at"),
            "finished_at": finished_at,
            "status": status,
            "fingerprint": identity["fingerprint"],
        }
        manifest.update(extra or {})
        return manifest

    @staticmethod
    def write(out_dir, manifest: dict) -> None:
        write_json(Path(out_dir) / MANIFEST, manifest)

    @staticmethod
    def load(out_dir) -> dict | None:
        return read_json(Path(out_dir) / MANIFEST)

    @staticmethod
    def from_state(out_dir, status: str, finished_at: str | None = None, extra: dict | None = None) -> dict:
        state = RunState(out_dir)
        return Manifest.build(state.identity(), state.shard_records(), status, finished_at, extra)


def open_run(state: RunState, identity: dict, restart: bool, **started) -> tuple[dict, dict | None]:
    """Starts the run `identity` describes in OUT, or picks up the one there with its fingerprint.

    Returns the run's identity (the stored one when resuming) and, when that run has already finished,
    its manifest. A new run's identity is saved with `started` (provenance, version) and started_at;
    the temporary files of an interrupted attempt are removed.
    """
    if state.check_identity(identity, restart) == "resume":
        identity = state.identity()
        previous = Manifest.load(state.out)
        if previous and previous.get("status") == "complete":
            return identity, previous
    else:
        identity.update(started, started_at=now())
        state.save_identity(identity)
    state.remove_temporaries()
    return identity, None
