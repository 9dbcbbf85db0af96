"""Re-route a finished run under new thresholds from the scores stored on its rows, without rescoring.

Each row keeps p_machine, language and n_tokens, which is all `detector.decision.decide` needs. The new
run has the same shards as the old one, written with the same crash-safe protocol, and its own manifest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from pathlib import Path

from detector.decision import Thresholds, decide

from .atomic import fsync_dir, temporary_name
from .document import PARTITIONS, QUARANTINE_PARTITION, SCORED_PARTITIONS
from .manifest import Manifest, now, open_run
from .output import iter_rows
from detector.progress import Progress
from .state import RunState
from .writers import ShardRowWriter


class RethresholdError(RuntimeError):
    pass


def _row_order(row: dict):
    source = row["synthsieve"].get("source") or {}
    position = source.get("line")
    if position is None:
        position = source.get("offset")
    return (str(source.get("file")), position if position is not None else -1)


def rethreshold(source_out, out, suspect: float | None = None, ground: float | None = None,
                restart: bool = False, progress: Progress | None = None) -> dict:
    progress = progress or Progress(enabled=False)
    source_out, out = Path(source_out).resolve(), Path(out).resolve()
    if source_out == out:
        raise RethresholdError("--out must differ from the run being re-thresholded (it is read while writing)")
    manifest = Manifest.load(source_out)
    if manifest is None:
        raise RethresholdError(f"{source_out} has no manifest.json: not a synthsieve output directory")
    if manifest.get("status") != "complete":
        raise RethresholdError(f"{source_out} is an unfinished run: run the same filter command again to finish it")
    old = Thresholds.from_dict(manifest["thresholds"])
    thresholds = old.with_overrides(suspect=suspect, ground=ground)
    source_state = RunState(source_out)
    source_identity = source_state.identity() or {}
    identity = {
        "inputs": source_identity.get("inputs", [{**i, "source": None} for i in manifest["inputs"]]),
        "settings": manifest["settings"], "model": source_identity.get("model", manifest["model"]),
        "thresholds": thresholds.to_dict(),
        "rethresholded_from": {"out": str(source_out), "fingerprint": manifest["fingerprint"],
                               "thresholds": manifest["thresholds"]},
    }
    identity["fingerprint"] = hashlib.sha256(
        f"rethreshold\0{manifest['fingerprint']}\0{sorted(thresholds.to_dict().items())}".encode()).hexdigest()
    state = RunState(out)
    state.prepare()
    state.lock()
    try:
        identity, finished = open_run(state, identity, restart, provenance=manifest["model"],
                                      synthsieve_version=manifest.get("synthsieve_version"))
        if finished is not None:
            return finished
        fmt = manifest["settings"].get("format", "jsonl")
        progress.stage("rethreshold", total=manifest["counts"]["documents"])
        for shard in manifest["shards"]:
            if state.shard_record(shard["key"]) is None:
                _reroute_shard(source_out, state, shard, thresholds, fmt, progress)
        progress.close()
        extra = {"rethresholded_from": identity["rethresholded_from"]}
        result = Manifest.build(identity, state.shard_records(), "complete", finished_at=now(), extra=extra)
        Manifest.write(out, result)
        return result
    finally:
        progress.close()
        state.unlock()


def _reroute_shard(source_out: Path, state: RunState, shard: dict, thresholds: Thresholds, fmt: str,
                   progress: Progress) -> None:
    key = shard["key"]
    state.clear_shard(key)
    rows = [row for item in shard["files"] if item["partition"] in SCORED_PARTITIONS
            for row in iter_rows(source_out / item["path"])]
    rows.sort(key=_row_order)
    writer = ShardRowWriter(state.out, key, fmt)
    counts = {"partitions": Counter(), "stages": Counter(), "top_reasons": Counter(), "tokens": 0}
    try:
        for row in rows:
            meta = row["synthsieve"]
            decision = decide(meta["p_machine"], meta["language"], meta["n_tokens"], thresholds)
            meta["decision"] = decision
            writer.write(decision, row)
            counts["partitions"][decision] += 1
            counts["stages"][meta.get("decided_by")] += 1
            counts["tokens"] += int(meta.get("n_tokens") or 0)
            if meta.get("reasons"):
                counts["top_reasons"][str(meta["reasons"][0].get("feature"))] += 1
        files = writer.commit()
    except BaseException:
        writer.abort()
        raise
    for item in shard["files"]:
        if item["partition"] == QUARANTINE_PARTITION:
            files.append(_copy(source_out / item["path"], state.out / item["path"], item))
    quarantined = shard["counts"]["partitions"].get(QUARANTINE_PARTITION, 0)
    counts["partitions"][QUARANTINE_PARTITION] = quarantined
    record = {"kind": "shard", "key": key, "file": shard.get("file"), "start": shard.get("start"),
              "stop": shard.get("stop"), "files": sorted(files, key=lambda f: f["partition"]),
              "counts": {"partitions": {p: counts["partitions"].get(p, 0) for p in PARTITIONS},
                         "stages": dict(sorted((k, v) for k, v in counts["stages"].items() if k)),
                         "quarantine_reasons": shard["counts"]["quarantine_reasons"],
                         "top_reasons": dict(sorted(counts["top_reasons"].items())),
                         "documents": len(rows) + quarantined, "tokens": counts["tokens"]}}
    state.mark_shard_done(key, record)
    progress.update(len(rows) + quarantined, dict(counts["partitions"]))


def _copy(source: Path, target: Path, item: dict) -> dict:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(target)
    with open(source, "rb") as reader, open(temporary, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(temporary, target)
    fsync_dir(target.parent)
    return dict(item)
