"""detector.training.zero_shot (what scripts/evaluate_languages.py and scripts/evaluate_zero_shot.py
compare) on a made-up table and a second LM's cache written to a temporary folder (numbers only; no LM
is run)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.features.lm import LM_FEATURE_NAMES, POOLED_LAYERS, TOKEN_SEQUENCE_NAMES, LMResult
from detector.training.data import LMOutputCache
from detector.training.evidence import EvidenceTable
from detector.training.zero_shot import (blend_with_statistic, compare_statistics, read_scores, rows_by_value,
                                         saved_held_out_scores, statistic_directions)

N = 40  # rows per class and language


def _table(rng) -> EvidenceTable:
    """English training rows where statistic 0 is higher on machine text, then zh rows where the shipped
    LM's statistic 0 runs the other way (so its fixed direction ranks them backwards)."""
    labels = np.array([0] * N + [1] * N + [0] * N + [1] * N)
    language = np.array(["en"] * 2 * N + ["zh"] * 2 * N, dtype=object)
    stats = rng.normal(0, 1, (4 * N, len(LM_FEATURE_NAMES)))
    stats[:2 * N, 0] += 5 * labels[:2 * N]
    stats[2 * N:, 0] -= 5 * labels[2 * N:]
    rows = [{"id": f"doc{i}", "text": "", "source": "s/x", "set": "train:all",
             "label": "machine" if label else "human"} for i, label in enumerate(labels)]
    n = len(rows)
    return EvidenceTable(rows=rows, y=labels, sets=np.array(["train:all"] * n, dtype=object), language=language,
                         n_tokens=np.full(n, 100), stats=stats, hidden=np.zeros((n, 1)), tokens=[None] * n,
                         text_parts=np.zeros((n, 1)))


def _other_cache(tmp_path, table, rng, short=()) -> LMOutputCache:
    """The second LM's outputs of the zh rows only: its statistic 0 higher on machine text; the rows in
    `short` had too few tokens for it."""
    cache = LMOutputCache("other", root=tmp_path)
    zh = np.flatnonzero(table.language == "zh")
    results = []
    for i in zh:
        n_tokens = 20 if i in short else 80
        features = rng.normal(0, 1, len(LM_FEATURE_NAMES)).astype(np.float32)
        features[0] += 5 * table.y[i]
        results.append(LMResult(n_tokens, features, np.zeros((2, len(POOLED_LAYERS), 3), np.float16),
                                np.zeros((len(TOKEN_SEQUENCE_NAMES), n_tokens), np.float16)))
    cache.add([table.rows[i]["id"] for i in zh], results)
    return cache


def test_directions_come_from_the_english_training_rows():
    table = _table(np.random.default_rng(0))
    assert statistic_directions(table)[0] == 1.0


def test_comparison_ranks_each_lm_on_the_rows_both_scored(tmp_path):
    rng = np.random.default_rng(1)
    table = _table(rng)
    short = set(range(2 * N, 2 * N + 5))  # five zh human rows too short for the other LM
    table.y[2 * N + 10] = -1  # and one polished-light row: neither class
    comparison = compare_statistics(table, _other_cache(tmp_path, table, rng, short), ("shipped", "other"),
                                    rows_by_value(table.language))
    assert set(comparison) == {"zh"}  # English rows are not in the other LM's cache
    zh = comparison["zh"]
    assert (zh["n_human"], zh["n_machine"]) == (N - 6, N)
    assert zh["other"]["aurocs"][LM_FEATURE_NAMES[0]] > 0.99 and zh["other"]["best_statistic"] == LM_FEATURE_NAMES[0]
    assert zh["shipped"]["aurocs"][LM_FEATURE_NAMES[0]] < 0.01  # flipped against its English direction
    assert (zh["shipped"]["median_tokens"], zh["other"]["median_tokens"]) == (100, 80)


def test_comparison_without_shared_rows_says_what_to_run(tmp_path):
    import click

    table = _table(np.random.default_rng(2))
    with pytest.raises(click.UsageError, match="extract_lm_outputs.py"):
        compare_statistics(table, LMOutputCache("empty", root=tmp_path), ("shipped", "other"),
                           rows_by_value(table.language))


def test_saved_scores_are_reused_only_for_the_same_documents_fit_the_same_way(tmp_path):
    import json
    from types import SimpleNamespace

    import click

    table = SimpleNamespace(rows=[{"id": "a"}, {"id": "b"}])
    run = {"reference_model_hash": "abc", "token_cap": 256, "cross_fit": 2, "sequence_epochs": 4, "weighting": "class"}
    path = tmp_path / "scores.npz"
    np.savez(path, ids=np.array(["a", "b"]), p=np.array([0.1, np.nan]), run=json.dumps(run))
    np.testing.assert_array_equal(read_scores(path, table, run), [0.1, np.nan])
    with pytest.raises(click.BadParameter, match="fit otherwise"):
        read_scores(path, table, {**run, "token_cap": 512})
    with pytest.raises(click.BadParameter, match="other documents"):
        read_scores(path, SimpleNamespace(rows=[{"id": "a"}]), run)


def test_comparison_groups_by_any_key_and_keeps_to_the_given_rows(tmp_path):
    rng = np.random.default_rng(3)
    table = _table(rng)
    cache = _other_cache(tmp_path, table, rng)
    sources = np.array(["a/one"] * 3 * N + ["b/two"] * N, dtype=object)  # zh humans in one, zh machines in the other
    zh_humans_and_half_machines = np.r_[np.arange(2 * N, 3 * N), np.arange(3 * N, 3 * N + N // 2)]
    comparison = compare_statistics(table, cache, ("shipped", "other"),
                                    rows_by_value(sources, zh_humans_and_half_machines))
    assert set(comparison) == {"a/one", "b/two"}
    assert (comparison["a/one"]["n_human"], comparison["a/one"]["n_machine"]) == (N, 0)
    assert (comparison["b/two"]["n_human"], comparison["b/two"]["n_machine"]) == (0, N // 2)
    assert comparison["a/one"]["other"]["best_statistic"] is None  # one class: no AUROC


def test_saved_scores_are_fit_once_then_read(tmp_path):
    from types import SimpleNamespace

    table = SimpleNamespace(rows=[{"id": "a"}, {"id": "b"}])
    run = {"token_cap": 256}
    calls = []

    def fit():
        calls.append(1)
        return np.array([0.2, 0.9])

    path = tmp_path / "scores"  # np.savez adds .npz; the second run must find it there
    first = saved_held_out_scores(path, table, run, fit)
    second = saved_held_out_scores(path, table, run, fit)
    np.testing.assert_array_equal(first, second)
    assert len(calls) == 1 and (tmp_path / "scores.npz").exists()
    np.testing.assert_array_equal(saved_held_out_scores(None, table, run, fit), [0.2, 0.9])
    assert len(calls) == 2  # no path: fit every time, nothing written


def test_blend_standardises_both_parts_and_leaves_other_rows_out():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(200), np.ones(200)]
    p = 1 / (1 + np.exp(-rng.normal(0, 1, 400)))          # learned scores that know nothing
    statistic = rng.normal(0, 1, 400) + 3 * y               # a statistic that separates the classes
    rows = np.arange(0, 400, 2)
    alone = blend_with_statistic(p, statistic, 0.0, rows)
    assert np.isnan(alone[1::2]).all()
    np.testing.assert_array_equal(np.argsort(alone[rows]), np.argsort(p[rows]))  # weight 0: p's own order
    from detector.evaluation import auroc

    assert auroc(y[rows], blend_with_statistic(p, statistic, 1.0, rows)[rows]) > auroc(y[rows], p[rows]) + 0.3
    scaled = blend_with_statistic(p, 1000 * statistic, 1.0, rows)  # the statistic's units do not set its weight
    np.testing.assert_allclose(scaled[rows], blend_with_statistic(p, statistic, 1.0, rows)[rows])
