"""The within-source fit of scripts/probe_hidden_states.py (within_source_centred) on synthetic vectors.

Feature 0 carries the class inside every source; feature 1 carries only which source a row comes from,
and the sources' class mixes differ, so a probe fit on the raw rows leans on feature 1 (the shortcut a
detector learns when benchmark sources are mostly machine text and the human pool is all human).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "probe_hidden_states.py"
_spec = importlib.util.spec_from_file_location("probe_hidden_states", SCRIPT)
probe_script = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, probe_script)
_spec.loader.exec_module(probe_script)


def _sources(seed=0):
    """Two two-class sources (90% and 10% machine) with source offsets on feature 1 that track their
    machine share, and one human-only source far off on feature 1."""
    rng = np.random.default_rng(seed)
    X, y, sources = [], [], []
    for name, n, machine_share, offset in (("mostly_machine", 400, 0.9, 3.0), ("mostly_human", 400, 0.1, -3.0),
                                           ("human_pool", 300, 0.0, -6.0)):
        labels = (rng.random(n) < machine_share).astype(int)
        X.append(np.column_stack([labels + rng.normal(0, 0.8, n), offset + rng.normal(0, 0.5, n)]))
        y.append(labels)
        sources += [name] * n
    return np.vstack(X), np.concatenate(y), np.array(sources)


def test_centring_removes_each_sources_class_balanced_mean_and_drops_one_class_sources():
    X, y, sources = _sources()
    fit = np.arange(len(y))
    centred, rows = probe_script.within_source_centred(X, y, sources, fit)
    assert set(sources[rows]) == {"mostly_machine", "mostly_human"}  # the human pool has one class
    assert len(rows) == len(centred) == int((sources != "human_pool").sum())
    for source in ("mostly_machine", "mostly_human"):
        here = sources[rows] == source
        class_means = [centred[here & (y[rows] == label)].mean(axis=0) for label in (0, 1)]
        np.testing.assert_allclose(0.5 * (class_means[0] + class_means[1]), 0.0, atol=1e-12)
        # the rows keep their order and their spread: only the source's midpoint moved
        np.testing.assert_allclose(np.diff(centred[here], axis=0), np.diff(X[rows][here], axis=0))


def test_a_source_with_too_few_of_one_class_is_left_out():
    X, y, sources = _sources()
    few = np.flatnonzero((sources == "mostly_human") & (y == 1))
    keep = np.setdiff1d(np.arange(len(y)), few[3:])  # 3 machine rows left in mostly_human
    _, rows = probe_script.within_source_centred(X, y, sources, keep, min_per_class=5)
    assert set(sources[rows]) == {"mostly_machine"}


def test_within_source_probe_reads_the_class_signal_not_the_source_offset():
    X, y, sources = _sources()
    fit = np.arange(len(y))
    raw = probe_script.probe(1.0).fit(X, y)
    centred, rows = probe_script.within_source_centred(X, y, sources, fit)
    within = probe_script.probe(1.0).fit(centred, y[rows])
    raw_coef, within_coef = raw[-1].coef_[0], within[-1].coef_[0]
    assert abs(raw_coef[1]) > 0.5 * abs(raw_coef[0])        # the raw probe leans on the source offset
    assert abs(within_coef[1]) < 0.1 * abs(within_coef[0])  # the within-source probe hardly does
    # and so, inside a new source where feature 1 runs against the label (its human rows sit higher),
    # it still ranks by the class signal
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    new = np.column_stack([labels + rng.normal(0, 0.8, 300), rng.normal(0, 2.0, 300) + 3 * (1 - labels)])
    assert roc_auc_score(labels, within.decision_function(new)) > roc_auc_score(labels, raw.decision_function(new)) + 0.1


def test_only_the_fitting_rows_set_a_sources_mean():
    X, y, sources = _sources()
    fit = np.flatnonzero((sources != "mostly_machine") | (np.arange(len(y)) % 2 == 0))
    centred, rows = probe_script.within_source_centred(X, y, sources, fit)
    assert set(rows) <= set(fit)
    here = rows[sources[rows] == "mostly_machine"]
    in_fit = [here[y[here] == label] for label in (0, 1)]
    midpoint = 0.5 * (X[in_fit[0]].mean(axis=0) + X[in_fit[1]].mean(axis=0))
    np.testing.assert_allclose(centred[sources[rows] == "mostly_machine"], X[here] - midpoint)
    # rows outside the fit would have moved the midpoint
    everything = [np.flatnonzero((sources == "mostly_machine") & (y == label)) for label in (0, 1)]
    assert not np.allclose(midpoint, 0.5 * (X[everything[0]].mean(axis=0) + X[everything[1]].mean(axis=0)))


def test_no_two_class_source_is_a_clear_error():
    X, y, sources = _sources()
    with pytest.raises(SystemExit, match="no fitting source"):
        probe_script.within_source_centred(X, y, sources, np.flatnonzero(sources == "human_pool"))
