"""A stand-in detector for tests of the filter's plumbing (parsing, routing, resume, engines).

Its scores are a hash of the text: they mean nothing about who wrote it, and no test asserts a label
from them. It implements the detector contract (`score`, `score_cheap`, `thresholds`, `provenance`).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from dataclasses import dataclass

from detector.decision import DocumentScore, Thresholds, decide

FAIL_MARKER = "<<fail-scoring>>"


def _unit(text: str, salt: str) -> float:
    digest = hashlib.blake2b(f"{salt}\0{text}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FakeDetector:
    def __init__(self, delay: float = 0.0, die_after_lm_calls: int | None = None):
        self.thresholds = Thresholds(suspect=0.8, ground=0.3, overwhelming=0.99, min_tokens=3)
        self.delay = delay
        self.die_after_lm_calls = die_after_lm_calls
        self.lm_calls = 0
        self.lm_texts: list[str] = []
        self.cheap_texts: list[str] = []

    def provenance(self) -> dict:
        return {"model_id": "fake", "model_hash": "0" * 64, "artifact_hashes": {"fake.bin": "1" * 64},
                "reference_model_id": "none", "reference_model_hash": "2" * 64, "token_cap": 512,
                "synthsieve_version": "test", "error_rates": {"tpr": None, "fpr": None, "n_machine": 0,
                                                                "n_human": 0}}

    def _score(self, text, size, thresholds, stage, confident_band):
        thresholds = thresholds or self.thresholds
        p = _unit(text, stage)
        if size and size > 1:
            p = min(1.0, p + 0.05)
        language = "en"
        n_tokens = len(text.split())
        return DocumentScore(p_machine=p, decision=decide(p, language, n_tokens, thresholds),
                             reasons=[{"feature": f"{stage}_hash", "value": p, "contribution": p - 0.5},
                                      {"feature": "cluster_size", "value": float(size or 1), "contribution": 0.0}],
                             language=language, language_confidence=1.0, n_tokens=n_tokens, stage=stage,
                             confident=not (confident_band[0] <= p <= confident_band[1]))

    def score_cheap(self, texts, cluster_sizes=None, thresholds=None):
        self.cheap_texts.extend(texts)
        sizes = cluster_sizes or [1] * len(texts)
        return [self._score(t, s, thresholds, "cheap", (0.15, 0.85)) for t, s in zip(texts, sizes)]

    def score(self, texts, cluster_sizes=None, thresholds=None, cheap=None):
        self.lm_calls += 1
        if self.die_after_lm_calls is not None and self.lm_calls > self.die_after_lm_calls:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.delay:
            time.sleep(self.delay)
        if any(FAIL_MARKER in t for t in texts):
            raise RuntimeError("the fake LM refuses this text")
        self.lm_texts.extend(texts)
        sizes = cluster_sizes or [1] * len(texts)
        return [self._score(t, s, thresholds, "lm", (2.0, 2.0)) for t, s in zip(texts, sizes)]


@dataclass(frozen=True)
class FakeDetectorLoader:
    delay: float = 0.0
    die_after_lm_calls: int | None = None

    def __call__(self):
        return FakeDetector(self.delay, self.die_after_lm_calls)

    def for_device(self, device):
        return self
