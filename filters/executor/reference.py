"""A corpus's own human reference: documents known to be human, scored like the rest of the run.

Two ways to name it:
- `--human-reference PATH|GLOB`: files in any input format holding human text of the same kind as the
  corpus (an older snapshot of the same sites, a curated sample). They are scored, never written to
  the partitions, and not counted in them.
- `--reference-before DATE`: the run's own input documents dated before DATE (`synthsieve.date`:
  WARC-Date, or the record's date field). 2022-11-30, ChatGPT's public release, is the natural
  choice: pages fetched before it are, for practical purposes, human, and come from the same sites and
  domains as the rest of the crawl. They stay inputs like any other (partitioned and counted).

What the reference is for:
1. The `suspect` cut-off is re-set so that at most the model's target share of the reference is flagged,
   with the same one-sided 95% bound the model's own thresholds are chosen with
   (`detector.thresholds.corpus_suspect`). A model's fixed cut-off holds its false-positive target only
   on human text like its development data; this one holds it on the crawl's own human text.
2. The report's prevalence estimate takes its human score distribution from the reference instead of
   the model's out-of-fold human scores, and a lower bound that needs no machine model at all.

At most `limit` reference documents are scored: the ones with the smallest hash of their id and
position (a uniform sample that does not depend on the order of the files). A few thousand are
plenty: 299 documents are the fewest that can show a 1% rate at 95% confidence, and the bound tightens
slowly beyond a few thousand. Reference documents are scored in this process with the run's cascade
and settings (those of --reference-before with their run-wide near-duplicate clusters; files of
--human-reference each count as their own cluster, since they are not part of the run's near-duplicate
pass), before the shards, and their scores are kept in OUT/calibration/reference_scores.json so that a
resumed run does not score them again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from detector.decision import CHEAP_STAGE, LM_STAGE, Thresholds, judgeable
from detector.features.precision import DEFAULT_PRECISION
from detector.reference_lm import sha256_file
from detector.thresholds import corpus_suspect, min_reference_size, reference_flagged
from filters.document import Document
from filters.pipeline.near_duplicates import ClusterAnnotator, ClusterTable, SignatureStore
from filters.pipeline.normaliser import Normaliser
from filters.pipeline.readers import InputSource, expand_inputs, make_reader
from filters.pipeline.passes import scoring_steps
from filters.pipeline.step import run_pipeline
from filters.store.atomic import read_json, write_json
from filters.store.state import CALIBRATION_DIR

REFERENCE_SCORES = "reference_scores.json"
# The model's out-of-fold score distributions (detector.detector.HELD_OUT_SCORES_FILE), copied into
# the run so that its report can estimate prevalence wherever the run is read.
MODEL_SCORES = "held_out_scores.npz"
DEFAULT_LIMIT = 5000
CHATGPT_RELEASE = "2022-11-30"
CONFIDENCE = 0.95
DEFAULT_TARGET_FPR = 0.01


class ReferenceError(ValueError):
    """A reference that cannot be used as given (bad date, no documents)."""


def parse_date(value: str) -> str:
    """An ISO date (YYYY-MM-DD), checked; the form `synthsieve.date` values start with."""
    try:
        return dt.date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        raise ReferenceError(f"{value!r} is not a date such as {CHATGPT_RELEASE}") from None


@dataclass(frozen=True)
class ReferenceSpec:
    """What the user named as the human reference (empty: none)."""

    patterns: tuple[str, ...] = ()
    before: str | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self):
        object.__setattr__(self, "patterns", tuple(self.patterns))
        if self.before is not None:
            object.__setattr__(self, "before", parse_date(self.before))
        if self.limit < 1:
            raise ReferenceError("--reference-limit must be at least 1")

    @property
    def enabled(self) -> bool:
        return bool(self.patterns) or self.before is not None

    def sources(self) -> list[InputSource]:
        """The --human-reference files (an InputError names a pattern that matches nothing)."""
        return expand_inputs(list(self.patterns)) if self.patterns else []

    def describe(self) -> dict:
        """For the run's identity and manifest: the reference files with their sizes and hashes."""
        from filters.store.manifest import describe_inputs

        files = [{k: v for k, v in entry.items() if k != "source"} for entry in describe_inputs(self.sources())]
        return {"human_reference": files, "before": self.before, "limit": self.limit}


def _sample_key(record_id, where: dict | None) -> bytes:
    """Id and position: the same key for a document read by the filter and for its row read back."""
    where = where or {}
    return hashlib.sha256(repr((record_id, where.get("file"), where.get("line"),
                                where.get("offset"))).encode()).digest()


def bottom_k(items: Iterable, k: int, key) -> tuple[list, int]:
    """The k items with the smallest `key(item)` (a uniform sample whatever the order of the input),
    in input order, and how many items were offered. Holds k items at a time."""
    heap: list[tuple[bytes, int, object]] = []
    offered = 0
    for item in items:
        offered += 1
        entry = (bytes(255 - b for b in key(item)), offered, item)  # a min-heap of inverted keys keeps the k smallest
        if len(heap) < k:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    return [item for _, _, item in sorted(heap, key=lambda e: e[1])], offered


def _dated_before(docs: Iterable[Document], before: str) -> Iterator[Document]:
    for doc in docs:
        if not doc.is_quarantined and doc.date and str(doc.date)[:10] < before:
            yield doc


def _slim(docs: Iterable[Document]) -> Iterator[Document]:
    """Documents as the sample holds them: only the head the detector reads, so that a sample of
    thousands costs at most --score-chars characters each, whatever the records' size."""
    for doc in docs:
        doc.text, doc.raw, doc.fields = doc.scoring_text, None, {}
        yield doc


def _reference_files(spec: ReferenceSpec, settings) -> Iterator[Document]:
    for source in spec.sources():
        yield from _slim(run_pipeline([make_reader(source, settings.reader_options), Normaliser(settings.score_chars)]))


def _dated_inputs(spec: ReferenceSpec, run_sources: list[InputSource], settings, signatures: SignatureStore | None,
                  signed: dict[int, int]) -> Iterator[Document]:
    for source in run_sources:
        steps = [make_reader(source, settings.reader_options), Normaliser(settings.score_chars)]
        if signatures is not None:
            steps.append(ClusterAnnotator(ClusterTable(signatures, source.index, signed[source.index]),
                                          signatures.duplicate_ids()))
        yield from _slim(_dated_before(run_pipeline(steps), spec.before))


def score_reference(spec: ReferenceSpec, run_sources: list[InputSource], settings, detector,
                    thresholds: Thresholds, signatures: SignatureStore | None = None,
                    signed: dict[int, int] | None = None, progress=None) -> dict:
    """Reads, samples and scores the reference; returns what reference_scores.json holds. At most
    spec.limit documents are taken from the --human-reference files and as many from the inputs dated
    before spec.before."""
    key = lambda doc: _sample_key(doc.id, doc.source)  # noqa: E731
    sample, offered = bottom_k(_reference_files(spec, settings), spec.limit, key)
    if spec.before is not None:
        dated, offered_dated = bottom_k(_dated_inputs(spec, run_sources, settings, signatures, signed or {}),
                                        spec.limit, key)
        sample, offered = sample + dated, offered + offered_dated
    if progress is not None:
        progress.stage("human reference", total=len(sample))
    steps = scoring_steps(detector, thresholds, full=settings.full, batch_size=settings.batch_size)
    documents, quarantined = [], 0
    for doc in run_pipeline(steps, sample):
        if progress is not None:
            progress.update(1, {})
        if doc.is_quarantined or doc.score is None:
            quarantined += 1
            continue
        documents.append(_entry(doc.id, {"source": doc.source, "date": doc.date, "p_machine": doc.score.p_machine,
                                         "language": doc.score.language, "n_tokens": doc.score.n_tokens,
                                         "decided_by": doc.decided_by}))
    if progress is not None:
        progress.close()
    return {"spec": spec.describe(), "offered": offered, "sampled": len(sample), "quarantined": quarantined,
            "documents": documents}


def reference_from_rows(rows: Iterable[dict], before: str, limit: int = DEFAULT_LIMIT) -> dict:
    """The --reference-before reference of a finished run, from its scored rows (rethreshold): the
    same sample the filter takes from the same documents."""
    dated = (row for row in rows if row["synthsieve"].get("date") and str(row["synthsieve"]["date"])[:10] < before)
    sample, offered = bottom_k(dated, limit, lambda row: _sample_key(row.get("id"), row["synthsieve"].get("source")))
    documents = [_entry(row.get("id"), row["synthsieve"]) for row in sample]
    return {"spec": {"human_reference": [], "before": before, "limit": limit}, "offered": offered,
            "sampled": len(documents), "quarantined": 0, "documents": documents}


def _entry(record_id, meta: dict) -> dict:
    return {"id": record_id, "source": meta.get("source"), "date": meta.get("date"),
            "p_machine": float(meta["p_machine"]), "language": meta.get("language"),
            "n_tokens": int(meta.get("n_tokens") or 0), "decided_by": meta.get("decided_by") or LM_STAGE}


def merged(first: dict, second: dict) -> dict:
    """One reference from two (the files scored, and the run's own dated rows)."""
    return {"spec": {**first["spec"], "before": first["spec"]["before"] or second["spec"]["before"]},
            "offered": first["offered"] + second["offered"], "sampled": first["sampled"] + second["sampled"],
            "quarantined": first["quarantined"] + second["quarantined"],
            "documents": first["documents"] + second["documents"]}


def judged_scores(reference: dict, thresholds: Thresholds) -> list[float]:
    """The reference scores the suspect rule decides on: supported language, enough tokens."""
    return [d["p_machine"] for d in reference["documents"]
            if judgeable(d["language"], d["n_tokens"], thresholds)]


def calibrate(model_thresholds: Thresholds, reference: dict, confidence: float = CONFIDENCE) -> tuple[Thresholds, dict]:
    """The corpus's thresholds and the manifest's `calibration` record.

    The suspect cut-off is re-set on the reference (`corpus_suspect`); the ground cut-off stays the
    model's unless the new suspect falls below it (ground never exceeds suspect). A reference too small
    to show the target keeps the model's thresholds, and the record says why.
    """
    target = model_thresholds.target_fpr or DEFAULT_TARGET_FPR
    judged = judged_scores(reference, model_thresholds)
    suspect = corpus_suspect(judged, target, confidence)
    needed = min_reference_size(target, confidence)
    if not reference["documents"]:
        raise ReferenceError("the human reference holds no scorable document: check --human-reference / "
                             "--reference-before (is any input dated before that day?)")
    if suspect is None:
        thresholds, reason = model_thresholds, (
            f"the reference holds {len(judged):,} documents the suspect rule decides on (English, at least "
            f"{model_thresholds.min_tokens} tokens); at least {needed:,} are needed to show a flagged share "
            f"below {target:.1%} with {confidence:.0%} confidence, so the model's thresholds were kept")
    else:
        thresholds, reason = model_thresholds.with_overrides(suspect=suspect), None
    record = {
        "applied": suspect is not None,
        "reason": reason,
        "rule": (f"suspect = the smallest cut-off at which the one-sided {confidence:.0%} Clopper-Pearson upper "
                 f"bound of the reference's flagged share is at most {target:.1%} (and at least 0.5); ground = "
                 "the model's, lowered to suspect if above it"),
        "target_fpr": target,
        "confidence": confidence,
        "model_thresholds": model_thresholds.to_dict(),
        "corpus_thresholds": thresholds.to_dict(),
        "reference": {"human_reference": reference["spec"]["human_reference"], "before": reference["spec"]["before"],
                      "limit": reference["spec"]["limit"], "offered": reference["offered"],
                      "scored": len(reference["documents"]), "judged": len(judged),
                      "quarantined": reference["quarantined"], "min_judged_needed": needed,
                      "decided_by_cheap_stage": sum(d["decided_by"] == CHEAP_STAGE for d in reference["documents"])},
        "reference_flagged": {"at_model_suspect": reference_flagged(judged, model_thresholds.suspect, confidence),
                              "at_corpus_suspect": reference_flagged(judged, thresholds.suspect, confidence)},
    }
    return thresholds, record


def calibration_dir(out: Path) -> Path:
    return Path(out) / CALIBRATION_DIR


def load_reference(out: Path, fingerprint: str, sha256: str | None) -> dict | None:
    """The reference scores a previous attempt of this same run stored, if any: only the very file that
    attempt wrote (its SHA-256, kept in the run's state, must match), so that a file edited or replaced
    since is scored again rather than trusted for the fingerprint written inside it."""
    path = calibration_dir(out) / REFERENCE_SCORES
    if not sha256 or not path.is_file() or sha256_file(path) != sha256:
        return None
    stored = read_json(path)
    return stored if isinstance(stored, dict) and stored.get("fingerprint") == fingerprint else None


def store_reference(out: Path, fingerprint: str, reference: dict) -> dict:
    """Writes reference_scores.json; returns reference_scores_entry."""
    path = calibration_dir(out) / REFERENCE_SCORES
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"fingerprint": fingerprint, **reference})
    return reference_scores_entry(out)


def reference_scores_entry(out: Path) -> dict:
    """reference_scores.json's path (relative to OUT) and SHA-256, for the manifest."""
    return {"path": f"{CALIBRATION_DIR}/{REFERENCE_SCORES}",
            "sha256": sha256_file(calibration_dir(out) / REFERENCE_SCORES)}


def copy_model_scores(model_dir: Path | None, out: Path) -> dict | None:
    """Copies the model's out-of-fold score distributions into OUT/calibration (None if it has none)."""
    from filters.store.atomic import copy_file

    source = Path(model_dir) / MODEL_SCORES if model_dir is not None else None
    if source is None or not source.is_file():
        return None
    target = calibration_dir(out) / MODEL_SCORES
    target.parent.mkdir(parents=True, exist_ok=True)
    entry = {"path": f"{CALIBRATION_DIR}/{MODEL_SCORES}", "sha256": copy_file(source, target)["sha256"]}
    measured_with = held_out_scores_measured_with(Path(model_dir))
    if measured_with:
        entry["measured_with"] = measured_with
    return entry


def held_out_scores_measured_with(model_dir: Path) -> dict:
    """How the model's held-out scores were computed (token cap, reference-LM precision and hash), from
    its model.json: a run scored otherwise has other score distributions, and the report says so.
    Models trained before model.json named it were scored in bf16 at the model's own token cap."""
    try:
        metadata = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    stated = metadata.get("held_out_scores") or {}
    measured = {"token_cap": stated.get("token_cap", metadata.get("token_cap")),
                "precision": stated.get("precision", DEFAULT_PRECISION),
                "reference_model_hash": stated.get("reference_model_hash", metadata.get("reference_model_hash"))}
    return {k: v for k, v in measured.items() if v is not None}


