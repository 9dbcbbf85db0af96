"""Fitting helpers shared by training and evaluation: generator families, group folds and the
calibrated fit (fit on most groups, Platt-scaled on the held-out rest)."""

from __future__ import annotations

import hashlib

import numpy as np

from detector.classifier import AdditiveClassifier, BoostedClassifier


def generator_family(generator: str) -> str:
    g = (generator or "").lower()
    if g == "human":
        return "human"
    if g.startswith(("gpt-3.5", "gpt-4", "gpt-3-turbo", "chatgpt", "text_davinci", "davinci", "gpt-4o")):
        return "GPT"
    if g.startswith("claude"):
        return "Claude"
    if g.startswith("gemini"):
        return "Gemini"
    if g.startswith("llama"):
        return "Llama"
    return "other open models"  # GPT-2, GPT-J/Neo/NeoX, OPT, Mistral, Qwen, DeepSeek, Falcon, Flan-T5


def group_folds(rows: list[dict], indices: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number per index; a human text and the machine texts made from it share a fold."""
    def fold_of(row):
        group = row.get("group") or row["id"]
        return int(hashlib.sha1(f"{seed}:{group}".encode()).hexdigest(), 16) % k
    return np.array([fold_of(rows[i]) for i in indices])


CLASSIFIERS = {"additive": AdditiveClassifier, "boosted": BoostedClassifier}


def fit_calibrated(X: np.ndarray, y: np.ndarray, rows: list[dict], idx: np.ndarray, seed: int = 0,
                   kind: str = "additive", calibrate_on: np.ndarray | None = None,
                   sample_weight: np.ndarray | None = None, **params):
    """Fit on ~85% of idx and Platt-calibrate on the group-disjoint rest (only the rows where
    `calibrate_on`, a mask over all rows, is true, when given). sample_weight (over all rows) weights
    the fit, on top of the class balance; calibration stays class-balanced only."""
    calibration = group_folds(rows, idx, 7, seed + 1) == 0
    fit_rows = idx[~calibration]
    model = CLASSIFIERS[kind](**params).fit(X[fit_rows], y[fit_rows],
                                            sample_weight=None if sample_weight is None else sample_weight[fit_rows])
    held = idx[calibration]
    if calibrate_on is not None:
        held = held[calibrate_on[held]]
    return model.calibrate(X[held], y[held])
