"""Re-route a finished run under new thresholds from the scores stored on its rows, without rescoring.

Each row keeps p_machine, language and n_tokens, which is all `detector.decision.decide` needs. The new
run has the same shards as the old one, written with the same crash-safe protocol, and its own manifest.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from detector.decision import LM_STAGE, Thresholds, decide, override_note

from filters.store.atomic import copy_file
from filters.document import QUARANTINE, SCORED_PARTITIONS
from filters.store.manifest import Manifest, ShardCounts, now, open_run
from filters.store.output import ManifestPathError, ShardFile, iter_rows, manifest_shard_files
from detector.progress import Progress
from filters.store.state import RunState
from filters.pipeline.writers import ShardRowWriter


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
    try:
        # Every file the manifest names is checked before anything is read, copied or written.
        checked = manifest_shard_files(source_out, manifest)
    except ManifestPathError as error:
        raise RethresholdError(str(error)) from None
    missing = [str(f.path) for files in checked for f in files if not f.path.is_file()]
    if missing:
        raise RethresholdError(f"{source_out}: {len(missing)} shard file(s) its manifest lists are missing "
                               f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); the run was "
                               "moved or damaged: restore them, or run the same filter command again")
    old = Thresholds.from_dict(manifest["thresholds"])
    thresholds = old.with_overrides(suspect=suspect, ground=ground)
    note = override_note(old, thresholds, suspect, ground)
    if note:
        print(f"synthsieve: note: {note}", file=sys.stderr)
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
        for shard, files in zip(manifest["shards"], checked):
            if state.shard_record(shard["key"]) is None:
                _reroute_shard(state, shard, files, thresholds, fmt, progress)
        progress.close()
        extra = {"rethresholded_from": identity["rethresholded_from"]}
        if note:
            extra["thresholds_note"] = note
        result = Manifest.build(identity, state.shard_records(), "complete", finished_at=now(), extra=extra)
        Manifest.write(out, result)
        return result
    finally:
        progress.close()
        state.unlock()


def _reroute_shard(state: RunState, shard: dict, files: list[ShardFile], thresholds: Thresholds,
                   fmt: str, progress: Progress) -> None:
    """`files` are the shard's entries as `output.shard_file` checked them, in the order of shard["files"]."""
    key = shard["key"]
    state.clear_shard(key)
    rows = [row for f in files if f.partition in SCORED_PARTITIONS for row in iter_rows(f.path)]
    rows.sort(key=_row_order)
    writer = ShardRowWriter(state.out, key, fmt)
    counts = ShardCounts()
    try:
        for row in rows:
            meta = row["synthsieve"]
            # A row the cheap stage decided alone has no LM evidence: `decide` never flags it.
            decision = decide(meta["p_machine"], meta["language"], meta["n_tokens"], thresholds,
                              stage=meta.get("decided_by") or LM_STAGE)
            meta["decision"] = decision
            writer.write(decision, row)
            counts.add_row(decision, row)
        published = writer.commit()
    except BaseException:
        writer.abort()
        raise
    for item, checked in zip(shard["files"], files):
        if checked.partition == QUARANTINE:
            published.append(_copy(checked, state.out, item))
    for reason, n in shard["counts"]["quarantine_reasons"].items():
        counts.add_quarantined(reason, n)
    record = {"kind": "shard", "key": key, "file": shard.get("file"), "start": shard.get("start"),
              "stop": shard.get("stop"), "files": sorted(published, key=lambda f: f["partition"]),
              "counts": counts.to_dict()}
    state.mark_shard_done(key, record)
    progress.update(counts.documents, dict(counts.partitions))


def _copy(source: ShardFile, out: Path, item: dict) -> dict:
    """Copies a checked shard file to the same partition and name under `out` (never to a path taken
    from the manifest's string); returns its completion-record entry with what was actually written."""
    directory = out / source.partition
    directory.mkdir(parents=True, exist_ok=True)
    written = copy_file(source.path, directory / source.name)
    return {**item, "partition": source.partition, "path": source.relative, **written}
