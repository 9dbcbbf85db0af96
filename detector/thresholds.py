"""Choosing the decision thresholds from held-out scores for target error rates."""

from __future__ import annotations

import math

import numpy as np


def threshold_for_fpr(p_human, target_fpr: float) -> float:
    """Smallest threshold t with share(p_human >= t) <= target_fpr (flagged = at or above t)."""
    scores = np.sort(np.asarray(p_human, dtype=float))[::-1]
    if len(scores) == 0:
        raise ValueError("no human scores to set a false-positive threshold on")
    allowed = int(math.floor(target_fpr * len(scores) + 1e-9))
    if allowed >= len(scores):
        return 0.0
    return float(min(np.nextafter(scores[allowed], np.inf), 1.0))


def threshold_for_miss_rate(p_machine, target_miss: float) -> float:
    """Largest threshold t with share(p_machine < t) <= target_miss (grounded = below t)."""
    scores = np.sort(np.asarray(p_machine, dtype=float))
    if len(scores) == 0:
        raise ValueError("no machine scores to set a miss-rate threshold on")
    allowed = int(math.floor(target_miss * len(scores) + 1e-9))
    if allowed >= len(scores):
        return 1.0
    return float(scores[allowed])


def error_rates(p_human, p_machine, threshold: float) -> dict:
    """Measured rates of the `suspected` rule at `threshold`, with the counts behind them."""
    p_human, p_machine = np.asarray(p_human), np.asarray(p_machine)
    return {"tpr": float((p_machine >= threshold).mean()), "fpr": float((p_human >= threshold).mean()),
            "n_machine": int(len(p_machine)), "n_human": int(len(p_human))}
