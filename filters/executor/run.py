"""One filter run: inputs -> near-duplicate pass -> shards through the engine -> manifest.

Safe to interrupt at any moment and to run again with the same command: every finished piece of work
has a durable completion record (see `state`), and unfinished pieces are redone from scratch.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from detector.decision import override_note
from filters.store.atomic import read_json, write_json
from filters.executor.jobs import SignatureJob, plan_shards
from filters.store.manifest import Manifest, describe_inputs, fingerprint, model_identity, now, open_run, synthsieve_version
from filters.pipeline.near_duplicates import MinHashClusterer, SignatureStore
from detector.progress import Progress
from filters.pipeline.readers import expand_inputs
from filters.executor.reference import (ReferenceSpec, calibrate, copy_model_scores, load_reference,
                                        reference_scores_entry, score_reference, store_reference)
from filters.executor.settings import FilterSettings
from filters.store.state import RunState

_MANIFEST_EVERY = 30.0


def make_engine(name: str, workers: int, detector_loader, detector=None, address: str | None = None):
    if name == "local":
        from filters.executor.local_engine import LocalEngine

        return LocalEngine(workers, detector_loader, detector)
    if name == "ray":
        from filters.executor.ray_engine import RayEngine

        return RayEngine(workers, detector_loader, address)
    raise ValueError(f"unknown engine {name!r}; expected local or ray")


def run_filter(inputs: list[str], out: str | Path, settings: FilterSettings = FilterSettings(), *,
               detector_loader, detector=None, engine: str = "local", workers: int = 1,
               address: str | None = None, restart: bool = False, suspect: float | None = None,
               ground: float | None = None, progress: Progress | None = None,
               reference: ReferenceSpec | None = None) -> dict:
    """Runs (or resumes) a filter run and returns its manifest.

    reference: the corpus's own human reference (filters/executor/reference.py); when given, the
    suspect cut-off is re-set on it before any shard is routed, and the manifest's `calibration`
    records both the model's and the corpus's thresholds. Without one the run is what it always was.

    detector_loader: a picklable zero-argument callable returning a detector (workers call it once
    each); `detector`, if given, is that detector already loaded, used by this process.
    """
    progress = progress or Progress(enabled=False)
    sources = expand_inputs([str(i) for i in inputs])
    reference = reference if reference is not None and reference.enabled else None
    reference_described = reference.describe() if reference is not None else None  # a bad pattern fails here
    out = Path(out).resolve()
    state = RunState(out)
    created = not out.exists()
    state.prepare()  # an unwritable OUT, or one another run holds, is refused before the model loads
    state.lock()
    executor = None
    try:
        try:
            detector = detector if detector is not None else detector_loader()
            thresholds = detector.thresholds.with_overrides(suspect=suspect, ground=ground)
        except BaseException:
            if created:  # a run that could not start leaves no output directory behind
                state.unlock()
                shutil.rmtree(out, ignore_errors=True)
            raise
        note = override_note(detector.thresholds, thresholds, suspect, ground)
        provenance = detector.provenance()
        inputs_meta = describe_inputs(sources)
        identity = {
            "fingerprint": None, "inputs": inputs_meta, "settings": settings.to_dict(),
            "model": model_identity(provenance), "thresholds": thresholds.to_dict(),
        }
        if reference is not None:
            identity["reference"] = reference_described
        identity["fingerprint"] = fingerprint(inputs_meta, identity["settings"], identity["model"],
                                              identity["thresholds"], reference_described)
        identity, finished = open_run(state, identity, restart, provenance=provenance,
                                      synthsieve_version=synthsieve_version())
        if finished is not None:
            return finished
        extra = {"engine": {"name": engine, "workers": workers},
                 "calibration": {"model_scores": copy_model_scores(getattr(detector, "model_dir", None), out),
                                 "reference": None}}
        if note:
            extra["thresholds_note"] = note
        Manifest.write(out, Manifest.from_state(out, "running", extra=extra))

        executor = make_engine(engine, workers, detector_loader, detector, address)
        started = time.monotonic()
        signed, extra["near_duplicates"] = _near_duplicate_pass(sources, out, settings, state, executor, progress)
        if reference is not None:
            thresholds, extra["calibration"] = _calibrate_on_reference(
                reference, sources, signed, out, settings, state, identity, detector, progress,
                extra["calibration"])
        jobs = plan_shards(sources, signed, str(out), settings, thresholds.to_dict())
        todo = [job for job in jobs if state.shard_record(job.key) is None]
        total = sum(r["documents"] for r in signed.values())
        already = sum(r["counts"]["documents"] for r in state.shard_records())
        progress.stage("filter", total=total, done=already)
        last_manifest = time.monotonic()
        for _ in executor.run(todo, progress):
            if time.monotonic() - last_manifest > _MANIFEST_EVERY:
                Manifest.write(out, Manifest.from_state(out, "running", extra=extra))
                last_manifest = time.monotonic()
        progress.close()
        elapsed = time.monotonic() - started
        scored_now = sum(r["counts"]["documents"] for r in state.shard_records()) - already
        extra["timing"] = {"seconds": round(elapsed, 3), "documents_this_attempt": scored_now,
                           "documents_per_second": round(scored_now / elapsed, 3) if elapsed > 0 else None}
        manifest = Manifest.from_state(out, "complete", finished_at=now(), extra=extra)
        missing = {job.key for job in jobs} - {shard["key"] for shard in manifest["shards"]}
        if missing:
            raise RuntimeError(f"{len(missing)} shards have no completion record after the run: {sorted(missing)[:5]}")
        Manifest.write(out, manifest)
        return manifest
    finally:
        progress.close()
        if executor is not None and hasattr(executor, "close"):
            executor.close()
        state.unlock()


def _calibrate_on_reference(reference: ReferenceSpec, sources, signed: dict[int, dict], out: Path,
                            settings: FilterSettings, state: RunState, identity: dict, detector,
                            progress: Progress, calibration: dict):
    """Scores the human reference (or takes the scores a previous attempt of this run stored), re-sets
    the thresholds on it, and records them in the run's identity, so that the manifest and every shard
    use them; returns the corpus's thresholds and the manifest's calibration record."""
    from detector.decision import Thresholds

    model_thresholds = Thresholds.from_dict(identity.get("model_thresholds") or identity["thresholds"])
    scores = load_reference(out, identity["fingerprint"], identity.get("reference_scores_sha256"))
    if scores is None:
        scores = score_reference(reference, sources, settings, detector, model_thresholds,
                                 SignatureStore(state.minhash_dir, settings.minhash),
                                 {index: record["signed"] for index, record in signed.items()}, progress)
        stored = store_reference(out, identity["fingerprint"], scores)
    else:  # scored by an earlier attempt of this run: kept as written
        stored = reference_scores_entry(out)
    thresholds, record = calibrate(model_thresholds, scores)
    record["reference"]["scores"] = stored
    if not record["applied"]:
        print(f"synthsieve: note: {record['reason']}", file=sys.stderr)
    identity.update(model_thresholds=model_thresholds.to_dict(), thresholds=thresholds.to_dict(),
                    reference_scores_sha256=stored["sha256"])
    state.save_identity(identity)
    return thresholds, {**calibration, **record}


def _near_duplicate_pass(sources, out: Path, settings: FilterSettings, state: RunState, executor,
                         progress: Progress) -> tuple[dict[int, dict], dict]:
    """Signatures for every source not yet signed, then the run-wide clusters (once)."""
    store = SignatureStore(state.minhash_dir, settings.minhash)
    records = {s.index: store.done(s.index) for s in sources}
    todo = [SignatureJob(s, str(out), settings) for s in sources if records[s.index] is None]
    progress.stage("near-duplicates", total=0)
    for result in executor.run(todo, progress):
        records[result["source"]] = {k: v for k, v in result.items() if k != "kind"}
    progress.close()
    summary = read_json(state.minhash_dir / "clusters.json")
    if summary is None:
        summary = MinHashClusterer(store).cluster([records[s.index]["signed"] for s in sources])
        summary["duplicate_ids"] = store.find_duplicate_ids([records[s.index]["documents"] for s in sources])
        write_json(state.minhash_dir / "clusters.json", summary)
    return records, summary
