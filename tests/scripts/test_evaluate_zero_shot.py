"""scripts/evaluate_zero_shot.py's figures on a made-up table: a source the learned scores rank well and
one they rank backwards while a statistic ranks it right (numbers only; no LM, no fit)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from detector.features.lm import LM_FEATURE_NAMES, POOLED_LAYERS, TOKEN_SEQUENCE_NAMES, LMResult
from detector.training.data import LMOutputCache
from detector.training.evidence import EvidenceTable

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "evaluate_zero_shot.py"
_spec = importlib.util.spec_from_file_location("evaluate_zero_shot", SCRIPT)
zero_shot_script = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, zero_shot_script)
_spec.loader.exec_module(zero_shot_script)

N = 40  # documents per class and source
TARGETS = {"max_machine_grounded": 0.1, "max_human_flagged": 0.01, "confidence": 0.95}


def _table_and_scores(rng):
    """Source a/chat: the scores rank it right, statistic 0 backwards; source b/base: the other way
    round. Over both, statistic 0 is higher on machine text (its direction)."""
    labels = np.tile(np.r_[np.zeros(N, int), np.ones(N, int)], 2)
    sources = np.array(["a/chat"] * 2 * N + ["b/base"] * 2 * N, dtype=object)
    generators = ["human"] * N + ["chat-model"] * N + ["human"] * N + ["base-1"] * (N // 2) + ["base-2"] * (N // 2)
    stats = rng.normal(0, 1, (4 * N, len(LM_FEATURE_NAMES)))
    stats[:2 * N, 0] -= 1 * labels[:2 * N]
    stats[2 * N:, 0] += 4 * labels[2 * N:]
    p = np.where(sources == "a/chat", 0.2 + 0.6 * labels, 0.8 - 0.6 * labels) + rng.uniform(-0.15, 0.15, 4 * N)
    rows = [{"id": f"doc{i}", "text": "", "source": s, "set": "train:all", "generator": g,
             "label": "machine" if y else "human"} for i, (s, g, y) in enumerate(zip(sources, generators, labels))]
    n = len(rows)
    table = EvidenceTable(rows=rows, y=labels, sets=np.array(["train:all"] * n, dtype=object),
                          language=np.array(["en"] * n, dtype=object), n_tokens=np.full(n, 100), stats=stats,
                          hidden=np.zeros((n, 1)), tokens=[None] * n, text_parts=np.zeros((n, 1)))
    return table, p


def test_the_statistic_beside_the_scores_per_source_and_generator():
    table, p = _table_and_scores(np.random.default_rng(0))
    statistic = LM_FEATURE_NAMES[0]
    figures = zero_shot_script.zero_shot_figures(table, p, statistic, [0.5, 2.0], None, TARGETS)
    assert figures["directions"][statistic] == 1.0
    stack, alone = figures["stack"]["by_source"], figures["statistics"][statistic]["by_source"]
    assert stack["a/chat"] > 0.95 and stack["b/base"] < 0.05
    assert alone["b/base"] > 0.95 and alone["a/chat"] < 0.5
    assert figures["generators"]["sources"] == ["b/base"]  # the only source ranked below 0.85
    by_generator = figures["generators"]["stack"]["b/base"]
    assert set(by_generator) == {"base-1", "base-2"} and by_generator["base-1"]["n"] == N // 2
    assert figures["generators"][statistic]["b/base"]["base-2"]["auroc"] > 0.9
    light, heavy = figures["blends"]["0.5"]["by_source"], figures["blends"]["2.0"]["by_source"]
    assert stack["b/base"] < light["b/base"] < heavy["b/base"]  # the more weight, the more it pulls
    assert heavy["a/chat"] < stack["a/chat"]


def test_blends_are_thresholded_like_probabilities():
    """The rule's cut-offs are probabilities (capped at 1): a blend is mapped into (0, 1), so a weight of
    0 (the stack's own order) flags exactly what the stack flags, and every blend keeps its human text
    within the target."""
    table, p = _table_and_scores(np.random.default_rng(5))
    loose = {**TARGETS, "max_human_flagged": 0.1}  # 80 human documents cannot show 1%
    figures = zero_shot_script.zero_shot_figures(table, p, LM_FEATURE_NAMES[0], [0.0, 2.0], None, loose)
    stack, same, heavy = figures["stack"], figures["blends"]["0.0"], figures["blends"]["2.0"]
    assert 0 < stack["machine_flagged"] == same["machine_flagged"]
    for blend in (same, heavy):
        assert 0.5 <= blend["thresholds"]["suspect"] < 1.0
        assert blend["human_flagged_upper_bound"] <= 0.1


def test_sources_asked_for_are_broken_down_even_when_ranked_well():
    table, p = _table_and_scores(np.random.default_rng(1))
    figures = zero_shot_script.zero_shot_figures(table, p, LM_FEATURE_NAMES[0], [], ["a/chat"], TARGETS)
    assert figures["generators"]["sources"] == ["a/chat"] and figures["blends"] == {}
    assert set(figures["generators"]["stack"]["a/chat"]) == {"chat-model"}


def test_second_lm_compared_on_the_sources_it_scored(tmp_path):
    rng = np.random.default_rng(2)
    table, p = _table_and_scores(rng)
    cache = LMOutputCache("other", root=tmp_path)
    base = np.flatnonzero(table.sources == "b/base")
    results = []
    for i in base:
        features = rng.normal(0, 1, len(LM_FEATURE_NAMES)).astype(np.float32)
        features[0] += 6 * table.y[i]
        results.append(LMResult(80, features, np.zeros((2, len(POOLED_LAYERS), 3), np.float16),
                                np.zeros((len(TOKEN_SEQUENCE_NAMES), 80), np.float16)))
    cache.add([table.rows[i]["id"] for i in base], results)
    comparison = zero_shot_script.reference_comparison(table, p, cache, ("shipped", "other"), ["a/chat", "b/base"])
    assert set(comparison["by_source"]) == {"b/base"}  # a/chat has no outputs of the other LM
    assert comparison["by_source"]["b/base"]["other"]["aurocs"][LM_FEATURE_NAMES[0]] > 0.99
    assert set(comparison["by_generator"]) == {"b/base | base-1", "b/base | base-2"}
    assert comparison["by_generator"]["b/base | base-1"]["n_machine"] == N // 2
    assert comparison["by_generator"]["b/base | base-1"]["n_human"] == N  # against the source's own human text

    base_machine = base[table.y[base] == 1]
    table.language[base_machine[0]] = "de"  # not judged by the thresholds
    p[base_machine[1]] = np.nan  # not scored held out
    fewer = zero_shot_script.reference_comparison(table, p, cache, ("shipped", "other"), ["b/base"])
    assert fewer["by_source"]["b/base"]["n_machine"] == N - 2
    nothing = zero_shot_script.reference_comparison(table, p, cache, ("shipped", "other"), ["a/chat"])
    assert nothing["by_source"] == {} and "none" in nothing["note"]
