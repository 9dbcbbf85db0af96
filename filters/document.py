"""The record that flows through every step, from reader to writer.

A record that cannot be read or scored stays a `Document` with `quarantine` set: it keeps flowing, so
the writers see every input record and nothing can be dropped by a step that forgot about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detector.decision import DECISIONS, GROUNDED, SUSPECTED, UNCERTAIN

# The partitions: the detector's three decisions (named once, in detector.decision) and quarantine.
QUARANTINE = "quarantine"
SCORED_PARTITIONS = DECISIONS
PARTITIONS = (*SCORED_PARTITIONS, QUARANTINE)

# Why a record went to quarantine. The report and the manifest count by these exact strings.
INVALID_JSON = "invalid_json"
NO_TEXT = "no_text"
EMPTY = "empty"
BINARY = "binary"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
UNREADABLE_FILE = "unreadable_file"
EXTRACT_FAILED = "extract_failed"
SCORE_FAILED = "score_failed"
QUARANTINE_REASONS = (INVALID_JSON, NO_TEXT, EMPTY, BINARY, UNDECODABLE, TOO_LARGE, UNREADABLE_FILE,
                      EXTRACT_FAILED, SCORE_FAILED)

RAW_PREFIX_BYTES = 4096


@dataclass
class Document:
    """One input record.

    ordinal: the record's position in its input (line index, row index, record index); shards are
        ranges of ordinals and the near-duplicate table is keyed by it.
    source: where it came from, {"file", "line"} or {"file", "offset"}, written on every row.
    fields: the input record's other fields, untouched (Python objects; serialised by the writer).
    scoring_text: the head of `text` that the detector sees (long documents are truncated).
    """

    ordinal: int
    source: dict
    id: str | int | None = None  # the input's own id keeps its JSON type: 1 and "1" are two ids
    text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    date: str | None = None
    quarantine: str | None = None
    detail: str | None = None
    raw: bytes | str | None = None
    scoring_text: str | None = None
    signature: Any = None
    cluster_id: str | None = None
    cluster_size: int | None = None
    score: Any = None  # detector.decision.DocumentScore
    cheap_score: Any = None  # the cheap stage's score when it deferred to the LM; its features are reused
    decided_by: str | None = None
    partition: str | None = None
    duplicate_id: bool = False  # another record of the run has the same id

    def send_to_quarantine(self, reason: str, detail: str | None = None, raw: bytes | str | None = None):
        self.quarantine = reason
        self.detail = detail
        if raw is not None:
            self.raw = raw
        elif self.raw is None and self.text is not None:
            self.raw = self.text
        self.partition = QUARANTINE
        return self

    @property
    def is_quarantined(self) -> bool:
        return self.quarantine is not None


def raw_prefix(raw: bytes | str | None) -> str:
    """The first RAW_PREFIX_BYTES bytes of a bad record, readable whatever they were."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    return raw[:RAW_PREFIX_BYTES].decode("utf-8", errors="replace")


__all__ = ["Document", "raw_prefix", "GROUNDED", "SUSPECTED", "UNCERTAIN", "QUARANTINE", "SCORED_PARTITIONS",
           "PARTITIONS", "QUARANTINE_REASONS", "INVALID_JSON", "NO_TEXT", "EMPTY", "BINARY", "UNDECODABLE",
           "TOO_LARGE", "UNREADABLE_FILE", "EXTRACT_FAILED", "SCORE_FAILED", "RAW_PREFIX_BYTES"]
