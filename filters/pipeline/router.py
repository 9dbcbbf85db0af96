"""Routing: `detector.decision.decide` is the only rule, here and in rethreshold."""

from __future__ import annotations

from typing import Iterable, Iterator

from detector.decision import LM_STAGE, decide

from filters.document import QUARANTINE, SCORE_FAILED, Document
from filters.pipeline.step import PipelineStep


class Router(PipelineStep):
    """Sets each document's partition: its decision, or quarantine."""

    name = "router"

    def __init__(self, thresholds):
        super().__init__()
        self.thresholds = thresholds

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if not doc.is_quarantined and doc.score is None:
                doc.send_to_quarantine(SCORE_FAILED, "no stage produced a score")
            if doc.is_quarantined:
                doc.partition = QUARANTINE
            else:
                score = doc.score
                doc.partition = decide(score.p_machine, score.language, score.n_tokens, self.thresholds,
                                       stage=doc.decided_by or LM_STAGE)
            self.stats[doc.partition] += 1
            yield doc
