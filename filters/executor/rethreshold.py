"""Re-route a finished run under new thresholds from the scores stored on its rows, without rescoring.

Each row keeps p_machine, language and n_tokens, which is all `detector.decision.decide` needs. The new
run has the same shards as the old one, written with the same crash-safe protocol, and its own manifest.

With a human reference the suspect cut-off is re-set on it (filters/executor/reference.py): the run's
own rows dated before a day need no model; --human-reference files are scored with the model the run
used (checked by its hash). The run's OUT/calibration files come along, so its report can estimate
prevalence.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

from detector.decision import LM_STAGE, Thresholds, decide, override_note
from detector.features.precision import precision_of

from filters.executor.reference import (ReferenceSpec, calibrate, calibration_dir, merged, reference_from_rows,
                                        score_reference, store_reference)
from filters.store.atomic import copy_file
from filters.document import QUARANTINE, SCORED_PARTITIONS
from filters.store.manifest import Manifest, ShardCounts, model_identity, now, open_run
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
                restart: bool = False, progress: Progress | None = None, reference: ReferenceSpec | None = None,
                detector_loader=None) -> dict:
    """reference: re-set the suspect cut-off on a human reference; detector_loader loads the model for its
    --human-reference files (it must be the model the run used)."""
    progress = progress or Progress(enabled=False)
    reference = reference if reference is not None and reference.enabled else None
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
    calibration = manifest.get("calibration")
    if reference is not None:
        model_thresholds = Thresholds.from_dict(((calibration or {}).get("model_thresholds")) or manifest["thresholds"])
        scores = _reference_scores(reference, source_out, manifest, checked, model_thresholds, detector_loader, progress)
        thresholds, record = calibrate(model_thresholds.with_overrides(ground=ground) if ground is not None
                                       else model_thresholds, scores)
        # The model's held-out scores stay with the run: the report's machine component.
        calibration = {"model_scores": (calibration or {}).get("model_scores"), **record}
        if not calibration["applied"]:
            print(f"synthsieve: note: {calibration['reason']}", file=sys.stderr)
    source_state = RunState(source_out)
    source_identity = source_state.identity() or {}
    identity = {
        "inputs": source_identity.get("inputs", [{**i, "source": None} for i in manifest["inputs"]]),
        "settings": manifest["settings"], "model": source_identity.get("model", manifest["model"]),
        "thresholds": thresholds.to_dict(),
        "rethresholded_from": {"out": str(source_out), "fingerprint": manifest["fingerprint"],
                               "thresholds": manifest["thresholds"]},
    }
    calibrated = f"\0{calibration['reference']}" if reference is not None else ""
    identity["fingerprint"] = hashlib.sha256(
        f"rethreshold\0{manifest['fingerprint']}\0{sorted(thresholds.to_dict().items())}{calibrated}".encode()
    ).hexdigest()
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
        if calibration is not None:
            extra["calibration"] = _carry_calibration(source_out, state.out, calibration,
                                                      scores if reference is not None else None,
                                                      identity["fingerprint"])
            if reference is None and (suspect is not None or ground is not None) and calibration.get("reference"):
                # The reference's measurements describe RUN's cut-offs; the ones applied here were given by hand.
                extra["calibration"]["overridden"] = {
                    "thresholds": thresholds.to_dict(),
                    "note": "--suspect/--ground replaced the corpus's thresholds; reference_flagged describes those, "
                            "not the thresholds applied here"}
        if note:
            extra["thresholds_note"] = note
        result = Manifest.build(identity, state.shard_records(), "complete", finished_at=now(), extra=extra)
        Manifest.write(out, result)
        return result
    finally:
        progress.close()
        state.unlock()


def _reference_scores(reference: ReferenceSpec, source_out: Path, manifest: dict, checked, model_thresholds,
                      detector_loader, progress: Progress) -> dict:
    """The reference: --reference-before from the run's own rows, --human-reference files scored with
    the run's model."""
    parts = []
    if reference.patterns:
        from filters.executor.settings import FilterSettings

        if detector_loader is None:
            raise RethresholdError("scoring --human-reference needs the model the run used")
        settings = FilterSettings.from_dict(manifest["settings"])
        if hasattr(detector_loader, "token_cap"):  # the run's cap and precision, whatever the model's own are
            detector_loader = replace(detector_loader, token_cap=settings.token_cap, precision=precision_of(manifest.get("model") or {}))
        detector = detector_loader()
        # Everything that changes a score must match: the model's artifacts, the reference LM, its token
        # cap and precision (the filter's fingerprint uses the same parts).
        used, loaded = model_identity(manifest.get("model") or {}), model_identity(detector.provenance())
        if used != loaded:
            differing = ", ".join(sorted(k for k in set(used) | set(loaded) if used.get(k) != loaded.get(k)))
            raise RethresholdError(f"{source_out} was scored with another model setup than the one loaded to score "
                                   f"--human-reference ({differing} differ): pass the run's --model-dir (and "
                                   "--reference-model), or run the filter again")
        parts.append(score_reference(ReferenceSpec(reference.patterns, None, reference.limit), [], settings,
                                     detector, model_thresholds, progress=progress))
    if reference.before is not None:
        rows = (row for files in checked for f in files if f.partition in SCORED_PARTITIONS
                for row in iter_rows(f.path))
        parts.append(reference_from_rows(rows, reference.before, reference.limit))
    return parts[0] if len(parts) == 1 else merged(*parts)


def _carry_calibration(source_out: Path, out: Path, calibration: dict, scores: dict | None, fingerprint: str) -> dict:
    """The run's calibration files copied into the new run (the model's held-out scores; the reference's
    scores, or the new reference's when one was given); returns the new manifest's record."""
    record = dict(calibration)

    def carried(entry: dict | None, what: str) -> dict | None:
        """Copies one calibration file (names only, never a path from the manifest); a missing one is
        left out with a note rather than failing the run after every shard was re-routed."""
        if not entry:
            return None
        name = Path(entry["path"]).name
        source = calibration_dir(source_out) / name
        if not source.is_file():
            record.setdefault("notes", []).append(f"{what} ({entry['path']}) was missing from {source_out}: not carried")
            return None
        target = calibration_dir(out) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return {**entry, "sha256": copy_file(source, target)["sha256"]}

    record["model_scores"] = carried(calibration.get("model_scores"), "the model's held-out scores")
    if scores is not None:
        record["reference"] = {**record["reference"], "scores": store_reference(out, fingerprint, scores)}
    elif (calibration.get("reference") or {}).get("scores"):
        record["reference"] = {**calibration["reference"],
                               "scores": carried(calibration["reference"]["scores"], "the human reference's scores")}
    return record


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
