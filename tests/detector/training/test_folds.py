"""Held-out figures: when a fold's AUROC means something, the figures of a recipe's out-of-fold scores,
and the per-generator breakdown (made-up tables and scores, numbers only; no model is fit)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.training.evidence import EvidenceTable
from detector.training.folds import (MIN_PER_CLASS, auroc_if_enough, family_held_out_figures, generator_figures,
                                     held_out_figures)


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


def test_family_figures_rank_each_familys_held_out_machine_text_against_the_source_held_out_human_text():
    # Source "a": 40 human rows, then 40 machine rows alternating between a GPT and a Llama generator.
    table = _table({"a": [0] * 40 + [1] * 40}, generators={"a": lambda i: "gpt-4" if i % 2 else "llama-3-8b"})
    gpt = np.arange(40, 80) % 2 == 1
    # Held out by source, every machine row scores above the human rows; held out by family, the Llama
    # rows fall below them (the family's own refits rank it worse), the GPT rows stay above.
    p_source = np.r_[np.linspace(0.3, 0.5, 40), np.full(40, 0.9)]
    p_family = np.r_[np.full(40, np.nan), np.where(gpt, 0.8, 0.1)]  # family folds score no human text
    figures = family_held_out_figures(table, p_source, p_family)
    assert set(figures) == {"GPT", "Llama"}
    assert figures["GPT"]["auroc"] == 1.0 and figures["Llama"]["auroc"] == 0.0
    assert figures["GPT"]["n"] == figures["Llama"]["n"] == 20 + 40  # against every held-out human row
    assert np.isnan(p_family[:40]).all()  # the caller's scores are left as they were


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


def test_language_figures_read_each_languages_held_out_rows_at_the_given_thresholds():
    from detector.training.folds import language_figures

    # zh: 300 human rows of source "a" well below the cut-offs, 100 of source "b" with 2 above suspect,
    # 100 machine rows above ground (60 flagged). es: 50 human, 50 machine, separated perfectly but too
    # few human rows to show a 1% bound. Rows too short or unscored are left out of every figure.
    table = _table({"a": [0] * 300, "b": [0] * 100 + [1] * 100, "c": [0] * 50 + [1] * 50 + [0] * 20})
    table.language = np.array(["zh"] * 500 + ["es"] * 120, dtype=object)
    p = np.concatenate([np.full(300, 0.05), np.full(98, 0.1), [0.99, 0.99], np.full(60, 0.995), np.full(40, 0.7),
                        np.full(50, 0.01), np.full(50, 0.999), np.full(20, 0.999)])
    table.n_tokens[-10:] = 10  # too short: 10 of the 20 trailing es human rows at 0.999
    p[-20:-10] = np.nan  # not scored: the other 10
    table.y[-20] = -1  # and one of those neither class (polished-light), scored all the same
    p[-20] = 0.999
    figures = language_figures(table, p, suspect=0.99, ground=0.3, max_human_flagged=0.01,
                               max_machine_grounded=0.1, confidence=0.95)
    zh, es = figures["zh"], figures["es"]
    assert (zh["n_human"], zh["n_machine"], zh["human_flagged"]) == (400, 100, 2)
    assert zh["machine_flagged"] == pytest.approx(0.6) and zh["machine_grounded"] == 0
    assert zh["human_by_source"]["a/x"]["flagged"] == 0 and zh["human_by_source"]["b/x"]["flagged"] == 2
    # 2 of 400 flagged: rate 0.5%, but its 95% upper bound is above 1%, so the gate stays shut.
    assert 0.01 < zh["human_flagged_upper_bound"] < 0.02
    assert zh["enough_human_for_the_bound"] and not zh["gate_may_open"]
    assert (es["n_human"], es["human_flagged"], es["auroc"]) == (50, 0, 1.0)
    assert not es["enough_human_for_the_bound"] and not es["gate_may_open"]


def test_language_gate_opens_only_where_both_targets_hold():
    from detector.training.folds import language_figures

    table = _table({"a": [0] * 400 + [1] * 100})
    p = np.concatenate([np.full(400, 0.05), np.full(100, 0.999)])
    shut_by_misses = p.copy()
    shut_by_misses[400:420] = 0.01  # 20% of machine text grounded, above a 10% miss target
    open_ = language_figures(table, p, 0.99, 0.3, 0.01, 0.1, 0.95)["en"]
    shut = language_figures(table, shut_by_misses, 0.99, 0.3, 0.01, 0.1, 0.95)["en"]
    assert open_["gate_may_open"] and open_["human_flagged_upper_bound"] < 0.01
    assert shut["machine_grounded"] == pytest.approx(0.2) and not shut["gate_may_open"]
    # Where the shared ground cut-off meets the miss target it is kept; with 20% of the machine text at
    # 0.01, a cut-off of the language's own must sit at 0.01, and no human row (0.05) is grounded there.
    assert open_["own_ground"] == 0.3 and open_["human_grounded_at_own_ground"] == 1.0
    assert shut["own_ground"] == pytest.approx(0.01) and shut["human_grounded_at_own_ground"] == 0.0


def test_statistic_aurocs_keep_the_given_direction_and_skip_missing_values():
    from detector.training.folds import statistic_aurocs

    y = np.array([0] * 30 + [1] * 30)
    rising = np.arange(60, dtype=float)  # higher on machine rows
    few = np.full(60, np.nan)
    few[25:35] = 1.0  # 5 rows of each class only
    stats = np.column_stack([rising, rising, few])
    aurocs = statistic_aurocs(y, stats, ["up", "flipped", "few"], np.array([1.0, -1.0, 1.0]))
    assert aurocs["up"] == pytest.approx(1.0) and aurocs["flipped"] == pytest.approx(0.0)
    assert aurocs["few"] is None


def test_unjudged_figures_count_what_each_overwhelming_cut_off_flags_per_kind():
    from detector.training.folds import unjudged_figures

    table = _table({"a": [0, 0, 1, 1, 0, 1, 0]})
    table.language = np.array(["ru", "ru", "ru", "ru", "en", "en", "en"], dtype=object)
    table.n_tokens = np.array([100, 100, 100, 100, 10, 10, 100])  # the last English row is judgeable
    p = np.array([0.996, 0.2, 0.999, 0.9, 0.9999, 0.997, 0.9999])
    figures = unjudged_figures(table, p, {"low": 0.995, "high": 0.998}, min_tokens=50)
    assert set(figures) == {"ru", "en<50"}
    assert figures["ru"] == {"n_human": 2, "n_machine": 2, "low": {"human_flagged": 1, "machine_flagged": 1},
                             "high": {"human_flagged": 0, "machine_flagged": 1}}
    assert figures["en<50"]["low"] == {"human_flagged": 1, "machine_flagged": 1}
    assert figures["en<50"]["high"] == {"human_flagged": 1, "machine_flagged": 0}
