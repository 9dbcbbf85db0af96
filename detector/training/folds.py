"""When a held-out fold's AUROC means something."""

from __future__ import annotations

import numpy as np

from detector.evaluation import auroc

# A fold's AUROC is reported only where each class has this many documents: a few say nothing.
MIN_PER_CLASS = 20


def auroc_if_enough(y, p):
    """AUROC where each class has MIN_PER_CLASS documents, else None (a few documents say nothing)."""
    n_machine = int(np.sum(y))
    return auroc(y, p) if min(n_machine, len(y) - n_machine) >= MIN_PER_CLASS else None
