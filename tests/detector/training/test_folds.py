"""A held-out fold's AUROC is reported only where each class has enough documents."""

from __future__ import annotations

import numpy as np
import pytest

from detector.training.folds import MIN_PER_CLASS, auroc_if_enough


def test_a_fold_with_enough_of_each_class_gets_its_auroc():
    y = np.array([0] * MIN_PER_CLASS + [1] * MIN_PER_CLASS)
    assert auroc_if_enough(y, np.arange(len(y), dtype=float)) == pytest.approx(1.0)
    assert auroc_if_enough(y, -np.arange(len(y), dtype=float)) == pytest.approx(0.0)


@pytest.mark.parametrize("n_human, n_machine", [(MIN_PER_CLASS - 1, 50), (50, MIN_PER_CLASS - 1)])
def test_a_fold_short_of_either_class_gets_none(n_human, n_machine):
    y = np.array([0] * n_human + [1] * n_machine)
    assert auroc_if_enough(y, np.linspace(0, 1, len(y))) is None
