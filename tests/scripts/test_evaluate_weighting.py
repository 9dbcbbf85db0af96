"""scripts/evaluate_weighting.py's figures on a made-up table and made-up scores (no model is fit: the
script itself is run by hand, see its docstring)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.training.evidence import EvidenceTable

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
spec = importlib.util.spec_from_file_location("evaluate_weighting", SCRIPTS / "evaluate_weighting.py")
weighting = importlib.util.module_from_spec(spec)
sys.modules.setdefault(spec.name, weighting)
spec.loader.exec_module(weighting)


def _table(labels_by_source: dict[str, list[int]]) -> EvidenceTable:
    rows, y = [], []
    for source, labels in labels_by_source.items():
        for i, label in enumerate(labels):
            rows.append({"id": f"{source}-{i}", "text": "", "source": f"{source}/x", "set": "train:all",
                         "label": "machine" if label else "human", "generator": "gpt-4" if label else "human"})
            y.append(label)
    n = len(y)
    return EvidenceTable(rows=rows, y=np.array(y), sets=np.array(["train:all"] * n, dtype=object),
                         language=np.array(["en"] * n, dtype=object), n_tokens=np.full(n, 100),
                         stats=np.zeros((n, 1)), hidden=np.zeros((n, 1)), tokens=[None] * n,
                         text_parts=np.zeros((n, 1)))


def test_figures_rank_within_sources_and_set_thresholds_on_the_out_of_fold_scores():
    # Source "both": 100 human, 100 machine, perfectly ranked; "machine_only": 50 machine rows that
    # score below every human row (AUROC 0 against them); "human_only": 200 human rows.
    table = _table({"both": [0] * 100 + [1] * 100, "machine_only": [1] * 50, "human_only": [0] * 200})
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0.2, 0.4, 100), rng.uniform(0.6, 1.0, 100), rng.uniform(0.0, 0.01, 50),
                        rng.uniform(0.1, 0.3, 200)])
    p[-10:] = np.nan  # not scored: left out everywhere
    figures = weighting.weighting_figures(table, p, max_machine_grounded=0.25, max_human_flagged=0.05,
                                          confidence=0.95)
    folds = figures["folds"]
    assert folds["both/x"]["auroc"] == 1.0
    assert folds["machine_only/x"]["auroc"] == 0.0 and folds["machine_only/x"]["n"] == 50 + 100 + 190
    assert "human_only/x" not in folds  # nothing to rank
    assert figures["summary"]["auroc"]["worst"] == "machine_only/x"
    assert figures["summary"]["auroc"]["mean"] == pytest.approx(0.5)
    assert figures["machine"]["n"] == 150 and figures["human"]["n"] == 290
    # At most 25% of machine text grounded: machine_only's third of it sits below every human text, so
    # the ground cut-off falls among those scores and grounds no human text.
    assert 0.2 < figures["machine"]["grounded"] <= 0.25 and figures["human"]["grounded"] == 0
    # No human text scores above 0.4: nothing human is flagged, and every machine row of "both" is.
    assert figures["human"]["flagged"] == 0 and figures["human"]["flagged_upper_bound"] < 0.05
    assert figures["machine"]["flagged"] == pytest.approx(100 / 150)
