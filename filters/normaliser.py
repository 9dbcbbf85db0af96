"""Checks that a text is a text, and cuts the part the detector will see."""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from .document import BINARY, EMPTY, UNDECODABLE, Document
from .step import PipelineStep

_CONTROL = re.compile("[\u0000-\u0008\u000e-\u001f\u007f]")
# Share of control characters (tab and newlines excluded) above which a "text" is a binary blob
# that went through a lenient decoder; real text has next to none.
_BINARY_CONTROL_SHARE = 0.05
_PROBE_CHARS = 8192


def scoring_head(text: str, max_chars: int) -> str:
    """The first `max_chars` characters, cut at a space when one is near so no word is split."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    cut = head.rfind(" ", max_chars - max_chars // 10)
    return head[:cut] if cut > 0 else head


class Normaliser(PipelineStep):
    """Quarantines empty, binary and undecodable texts; sets `scoring_text` to a bounded head.

    The detector does its own Unicode hygiene (`detector.normalize`) because what it removes is
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
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:  # lone surrogates from a "\ud800" escape
            doc.send_to_quarantine(UNDECODABLE, f"not valid Unicode: {error.reason}")
            return
        if not text.strip():
            doc.send_to_quarantine(EMPTY, "the text is empty or only whitespace")
            return
        probe = text[:_PROBE_CHARS]
        if "\0" in probe or len(_CONTROL.findall(probe)) > _BINARY_CONTROL_SHARE * len(probe):
            doc.send_to_quarantine(BINARY, "control characters: a binary payload, not text")
            return
        doc.scoring_text = scoring_head(text, self.score_chars)
        if len(doc.scoring_text) < len(text):
            self.stats["truncated_for_scoring"] += 1
        self.stats["documents"] += 1
