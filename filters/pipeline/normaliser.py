"""Checks that a text is a text, and cuts the part the detector will see."""

from __future__ import annotations

from typing import Iterable, Iterator

from detector import inputs
from detector.inputs import text_problem

from filters.document import BINARY, EMPTY, UNDECODABLE, Document
from filters.pipeline.step import PipelineStep

# `detector.inputs.text_problem` is the one rule for "is this a text worth scoring" (the `score`
# command applies it too); each of its answers maps to a quarantine reason and a detail.
_QUARANTINE = {
    inputs.LONE_SURROGATE: (UNDECODABLE, "not valid Unicode: a lone surrogate"),
    inputs.EMPTY: (EMPTY, "the text is empty, or only whitespace and invisible characters"),
    inputs.BINARY_NUL: (BINARY, "NUL characters: a binary payload, not text"),
    inputs.BINARY_CONTROL: (BINARY, "control characters: a binary payload, not text"),
}


def scoring_head(text: str, max_chars: int) -> str:
    """The first `max_chars` characters, cut at a space when one is near so no word is split."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    cut = head.rfind(" ", max_chars - max_chars // 10)
    return head[:cut] if cut > 0 else head


class Normaliser(PipelineStep):
    """Quarantines empty, binary and undecodable texts; sets `scoring_text` to a bounded head.

    The detector does its own Unicode hygiene (`detector.features.hygiene`) because what it removes is
    evidence; this step only guarantees it never gets a non-text or an unbounded one.
    """

    name = "normaliser"

    def __init__(self, score_chars: int = 16384):
        super().__init__()
        self.score_chars = score_chars

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if not doc.is_quarantined:
                self._check(doc)
            if doc.is_quarantined:
                self.stats[f"quarantine_{doc.quarantine}"] += 1
            yield doc

    def _check(self, doc: Document) -> None:
        text = doc.text
        problem = text_problem(text)
        if problem is not None:
            doc.send_to_quarantine(*_QUARANTINE[problem])
            return
        doc.scoring_text = scoring_head(text, self.score_chars)
        if len(doc.scoring_text) < len(text):
            self.stats["truncated_for_scoring"] += 1
        self.stats["documents"] += 1
