"""The cascade: a cheap stage that decides alone when it is confident, then the LM for the rest."""

from __future__ import annotations

import logging
from typing import Iterable, Iterator

from detector.decision import CHEAP_STAGE, LM_STAGE, cheap_may_decide

from filters.document import SCORE_FAILED, Document
from filters.pipeline.step import PipelineStep, batched

log = logging.getLogger(__name__)

CHEAP, LM = CHEAP_STAGE, LM_STAGE


def _needs_score(doc: Document) -> bool:
    return not doc.is_quarantined and doc.score is None


def _checked(scores, expected: int, what: str) -> list:
    scores = list(scores)
    if len(scores) != expected:
        raise RuntimeError(f"{what} returned {len(scores)} scores for {expected} documents")
    return scores


class CheapScorer(PipelineStep):
    """Stylometry, language, fastText and near-duplicate evidence, no LM (`Detector.score_cheap`).

    A confident cheap score decides the document (decided_by "cheap") unless it would flag it: the
    cheap stage never flags alone, whatever the thresholds; the others go on to the LM. If
    the cheap stage fails, its documents are simply left to the LM: it is an optimisation, not a judge
    of last resort.
    """

    name = "cheap_scorer"

    def __init__(self, detector, thresholds, batch_size: int = 64):
        super().__init__()
        self.detector = detector
        self.thresholds = thresholds
        self.batch_size = batch_size

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        for batch in batched(docs, self.batch_size):
            pending = [doc for doc in batch if _needs_score(doc)]
            if pending:
                self._score(pending)
            yield from batch

    def _score(self, pending: list[Document]) -> None:
        try:
            scores = _checked(self.detector.score_cheap([d.scoring_text for d in pending],
                                                        cluster_sizes=[d.cluster_size or 1 for d in pending],
                                                        thresholds=self.thresholds), len(pending), "score_cheap")
        except Exception as error:  # noqa: BLE001 - any failure here only costs speed
            log.warning("cheap stage failed on %d documents, leaving them to the LM: %s", len(pending), error)
            self.stats["failed"] += len(pending)
            return
        for doc, score in zip(pending, scores):
            if cheap_may_decide(score, self.thresholds):
                doc.score, doc.decided_by = score, CHEAP
                self.stats["decided"] += 1
            else:
                doc.cheap_score = score
                self.stats["deferred"] += 1


class LMScorer(PipelineStep):
    """The full model (`Detector.score`) on every document the cheap stage left undecided.

    Documents are batched by how many need the LM, keeping input order: the others wait in a buffer
    bounded by `max_buffered`. A batch that fails is retried one document at a time, so one bad
    document costs only itself, which goes to quarantine as `score_failed`.
    """

    name = "lm_scorer"

    def __init__(self, detector, thresholds, batch_size: int = 32, max_buffered: int | None = None):
        super().__init__()
        self.detector = detector
        self.thresholds = thresholds
        self.batch_size = batch_size
        self.max_buffered = max_buffered or batch_size * 8

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        buffer: list[Document] = []
        pending: list[Document] = []
        for doc in docs:
            buffer.append(doc)
            if _needs_score(doc):
                pending.append(doc)
            if len(pending) >= self.batch_size or len(buffer) >= self.max_buffered:
                self._score(pending)
                yield from buffer
                buffer, pending = [], []
        self._score(pending)
        yield from buffer

    def _score(self, pending: list[Document]) -> None:
        if not pending:
            return
        try:
            self._apply(pending, self._call(pending))
            return
        except Exception as error:  # noqa: BLE001 - isolate the culprit below
            if len(pending) == 1:
                self._fail(pending[0], error)
                return
            log.warning("LM batch of %d failed (%s); retrying one by one", len(pending), error)
        for doc in pending:
            try:
                self._apply([doc], self._call([doc]))
            except Exception as error:  # noqa: BLE001
                self._fail(doc, error)

    def _call(self, docs: list[Document]) -> list:
        cheap = [d.cheap_score for d in docs]
        return _checked(self.detector.score([d.scoring_text for d in docs],
                                            cluster_sizes=[d.cluster_size or 1 for d in docs],
                                            thresholds=self.thresholds,
                                            cheap=cheap if all(c is not None for c in cheap) else None),
                        len(docs), "score")

    def _apply(self, docs, scores) -> None:
        for doc, score in zip(docs, scores):
            doc.score, doc.decided_by = score, LM
            self.stats["scored"] += 1

    def _fail(self, doc: Document, error: BaseException) -> None:
        self.stats["failed"] += 1
        doc.send_to_quarantine(SCORE_FAILED, f"{type(error).__name__}: {error}"[:500])
