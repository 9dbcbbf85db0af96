"""Held-out figures: when a fold's AUROC means something, the figures of a recipe's out-of-fold scores,
and the per-generator breakdown (made-up tables and scores, numbers only; no model is fit)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.training.evidence import EvidenceTable
from detector.training.folds import MIN_PER_CLASS, auroc_if_enough, generator_figures, held_out_figures


def test_a_fold_with_enough_of_each_class_gets_its_auroc():
    y = np.array([0] * MIN_PER_CLASS + [1] * MIN_PER_CLASS)
    assert auroc_if_enough(y, np.arange(len(y), dtype=float)) == pytest.approx(1.0)
    assert auroc_if_enough(y, -np.arange(len(y), dtype=float)) == pytest.approx(0.0)


@pytest.mark.parametrize("n_human, n_machine", [(MIN_PER_CLASS - 1, 50), (50, MIN_PER_CLASS - 1)])
def test_a_fold_short_of_either_class_gets_none(n_human, n_machine):
    y = np.array([0] * n_human + [1] * n_machine)
    assert auroc_if_enough(y, np.linspace(0, 1, len(y))) is None


def _table(labels_by_source: dict[str, list[int]], generators=None) -> EvidenceTable:
    rows, y = [], []
    for source, labels in labels_by_source.items():
        for i, label in enumerate(labels):
            generator = "human" if not label else (generators or {}).get(source, lambda i: "gpt-4")(i)
            rows.append({"id": f"{source}-{i}", "text": "", "source": f"{source}/x", "set": "train:all",
                         "label": "machine" if label else "human", "generator": generator})
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
    figures = held_out_figures(table, p, max_machine_grounded=0.25, max_human_flagged=0.05, confidence=0.95)
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


def test_generator_figures_rank_each_generator_against_its_own_sources_human_text():
    # Source "a": 40 human rows at 0.5; its machine rows alternate between a generator scored above every
    # human row and one scored below. Source "b" has no human rows: left out.
    table = _table({"a": [0] * 40 + [1] * 40, "b": [1] * 30},
                   generators={"a": lambda i: "chat" if i % 2 else "base", "b": lambda i: "chat"})
    p = np.concatenate([np.full(40, 0.5), np.where(np.arange(40, 80) % 2, 0.9, 0.1), np.full(30, 0.9)])
    p[0] = np.nan  # an unscored human row is not counted
    figures = generator_figures(table, p, ["a/x", "b/x", "missing/x"])
    assert set(figures) == {"a/x"}
    assert figures["a/x"]["chat"] == {"n": 20, "auroc": 1.0}
    assert figures["a/x"]["base"] == {"n": 20, "auroc": 0.0}


def test_summary_line_names_the_mean_and_the_worst_source_and_says_when_there_is_none():
    from detector.training.folds import summary_line

    figures = {"summary": {"english_judgeable_auroc": {"mean": 0.8123, "worst": "a/x", "worst_value": 0.61}}}
    assert summary_line("class", figures) == "class: English-judgeable mean AUROC 0.812, worst a/x 0.610"
    empty = {"summary": {"english_judgeable_auroc": {"mean": None, "worst": None, "worst_value": None}}}
    assert summary_line("source", empty) == "source: English-judgeable mean AUROC n/a, worst None n/a"


def test_held_out_report_records_the_run_and_the_scripts_own_fields(tmp_path, monkeypatch):
    import json
    import sys
    import time
    from types import SimpleNamespace

    from detector.training.folds import write_held_out_report

    table = SimpleNamespace(rows=[{}] * 7, training=np.arange(4))
    monkeypatch.setattr(sys, "argv", ["evaluate_x.py", "--first", "7"])
    out = tmp_path / "new" / "report.json"  # the folder does not exist yet
    targets = {"max_machine_grounded": 0.1, "max_human_flagged": 0.01, "confidence": 0.95}
    returned = write_held_out_report(out, "scripts/evaluate_x.py", table, "abc", 256, targets, time.time() - 2,
                                     runs={"a": 1})
    written = json.loads(out.read_text())
    assert written == returned
    assert written["command"] == "python scripts/evaluate_x.py --first 7"
    assert (written["n_documents"], written["n_training_rows"]) == (7, 4)
    assert (written["reference_model_hash"], written["token_cap"], written["targets"]) == ("abc", 256, targets)
    assert written["runs"] == {"a": 1} and written["seconds"] >= 2
