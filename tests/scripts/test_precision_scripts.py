"""The arithmetic of scripts/benchmark_throughput.py and scripts/evaluate_precision.py, on made-up numbers
(no model is loaded: the scripts themselves are run by hand, see their docstrings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


bench = _load("benchmark_throughput")
evaluate = _load("evaluate_precision")


def _run(precision, cap, tokens_per_s, p, decisions, docs_hash="h"):
    return {"precision": precision, "token_cap": cap, "forward_tokens_per_s": tokens_per_s * 1.1,
            "pipeline_tokens_per_s": tokens_per_s, "documents_sha256": docs_hash, "p_machine": p,
            "decisions": decisions}


def test_core_hours_per_million_documents():
    # 2 cores at 5 documents a second: 200,000 s of wall time, 400,000 core-seconds.
    assert bench.core_hours_per_million(5.0, 2) == pytest.approx(400_000 / 3600)


def test_precisions_are_compared_with_bf16_at_the_same_cap_on_the_same_documents():
    runs = [_run("bf16", 256, 1000, [0.1, 0.9], ["grounded", "suspected_synthetic"]),
            _run("int8", 256, 1500, [0.2, 0.85], ["grounded", "uncertain"]),
            _run("bf16", 512, 800, [0.1], ["grounded"]),
            _run("int8", 512, 1000, [0.1], ["grounded"], docs_hash="other")]
    by_cap = {c["token_cap"]: c for c in bench.compare(runs)}
    assert by_cap[256]["pipeline_speedup"] == pytest.approx(1.5)
    assert by_cap[256]["forward_speedup"] == pytest.approx(1.5)
    assert by_cap[256]["p_machine_max_abs_difference"] == pytest.approx(0.1)
    assert by_cap[256]["decision_agreement"] == 0.5
    assert by_cap[512]["same_documents"] is False and by_cap[512]["decision_agreement"] is None


def test_summary_gives_shares_per_class_and_agreement_with_the_reference():
    from detector.decision import Thresholds

    rows = [{"label": "human"}, {"label": "human"}, {"label": "machine"}, {"label": "machine"}]
    thresholds = Thresholds(suspect=0.9, ground=0.3)
    reference = {"p_machine": [0.1, 0.2, 0.95, 0.5], "decisions": ["grounded", "grounded", "suspected_synthetic",
                                                                    "uncertain"]}
    setting = {"p_machine": [0.1, 0.4, 0.95, 0.92], "decisions": ["grounded", "uncertain", "suspected_synthetic",
                                                                   "suspected_synthetic"],
               "languages": ["en", "en", "en", "fr"], "n_tokens": [100, 100, 100, 100], "seconds": 2.0,
               "thresholds": thresholds}
    summary = evaluate.summarise(rows, setting, reference)
    assert summary["auroc"] == 1.0 and summary["n_judgeable"] == 3
    assert summary["shares"]["human"] == {"grounded": 0.5, "suspected_synthetic": 0.0, "uncertain": 0.5}
    assert summary["shares"]["machine"]["suspected_synthetic"] == 1.0
    assert summary["decision_agreement_with_reference"] == 0.5
    assert summary["decision_agreement_by_class"] == {"human": 0.5, "machine": 0.5}
    assert summary["p_machine_max_abs_difference"] == pytest.approx(0.42)
    assert "decision_agreement_with_reference" not in evaluate.summarise(rows, setting, None)
