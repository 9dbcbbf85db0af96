"""Held-out folds' figures: when a fold's AUROC means something, per fold and summarised."""

from __future__ import annotations

import numpy as np

from detector.evaluation import auroc

# A fold's AUROC is reported only where each class has this many documents: a few say nothing.
MIN_PER_CLASS = 20


def auroc_if_enough(y, p):
    """AUROC where each class has MIN_PER_CLASS documents, else None (a few documents say nothing)."""
    n_machine = int(np.sum(y))
    return auroc(y, p) if min(n_machine, len(y) - n_machine) >= MIN_PER_CLASS else None


def fold_figures(table, p: np.ndarray, groups: np.ndarray, human_reference: np.ndarray) -> dict:
    """Per group (source or family): AUROC of its held-out rows, all and English-judgeable. A group of
    one class only (a machine-only source, a family) is ranked against `human_reference`, the held-out
    human rows of every source."""
    figures = {}
    scored = np.flatnonzero(~np.isnan(p))
    for name in sorted(set(groups[scored])):
        rows = scored[groups[scored] == name]
        if len(set(table.y[rows])) < 2:
            if table.y[rows][0] == 0:  # human only: no ranking, only the flagged share (in the checks)
                continue
            rows = np.union1d(rows, human_reference)
        en = table.judgeable(rows)
        figures[name] = {"n": int(len(rows)), "n_machine": int(table.y[rows].sum()),
                         "auroc": auroc_if_enough(table.y[rows], p[rows]), "english_judgeable_n": int(len(en)),
                         "english_judgeable_auroc": auroc_if_enough(table.y[en], p[en])}
    return figures


def summarise_folds(folds: dict) -> dict:
    """Mean and worst AUROC over the folds that have one, all documents and English-judgeable."""
    out = {}
    for key in ("auroc", "english_judgeable_auroc"):
        values = {n: f[key] for n, f in folds.items() if f[key] is not None}
        worst = min(values, key=values.get) if values else None
        out[key] = {"mean": float(np.mean(list(values.values()))) if values else None,
                    "worst": worst, "worst_value": values.get(worst), "n_folds": len(values)}
    return out
