"""Held-out evaluation: which rows each split holds, each fold's test documents, and when a fold's
AUROC means something. Shared by the generalisation and ablation scripts."""

from __future__ import annotations

import numpy as np

from detector.evaluation import auroc

SPLITS = ("train", "human_pool", "dev", "grounded_docs")
# A fold's AUROC is reported only where each class has this many documents: a few say nothing.
MIN_PER_CLASS = 20


def split_indices(table) -> dict[str, np.ndarray]:
    """Row indices of each split, and "fit": the rows models are fit on (train and the human pool)."""
    split = table.column("split")
    idx = {name: np.flatnonzero(split == name) for name in SPLITS}
    idx["fit"] = np.concatenate([idx["train"], idx["human_pool"]])
    return idx


def held_out_test(table, idx, held: np.ndarray, machine_only: bool) -> np.ndarray:
    """Test documents of a fold: the held-out part of train and dev (both classes), or for families and
    tasks, which only machine text has, its machine texts against dev's human texts."""
    both = np.concatenate([idx["train"], idx["dev"]])
    if not machine_only:
        return both[held[both]]
    dev_human = idx["dev"][table.y[idx["dev"]] == 0]
    return np.concatenate([both[held[both] & (table.y[both] == 1)], dev_human])


def auroc_if_enough(y, p):
    """AUROC where each class has MIN_PER_CLASS documents, else None (a few documents say nothing)."""
    n_machine = int(np.sum(y))
    return auroc(y, p) if min(n_machine, len(y) - n_machine) >= MIN_PER_CLASS else None
