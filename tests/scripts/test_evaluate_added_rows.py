"""scripts/evaluate_added_rows.py on made-up tables: what it refuses, and that the rows it adds are fit on
in the second run and never scored in either (numbers only; no LM, the fits replaced by a stand-in that
scores each held-out row from its label)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from click.testing import CliRunner

from detector.training.evidence import EvidenceTable, held_out_fold_indices

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "evaluate_added_rows.py"
_spec = importlib.util.spec_from_file_location("evaluate_added_rows", SCRIPT)
added_rows_script = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, added_rows_script)
_spec.loader.exec_module(added_rows_script)

SOURCES = ("a/x", "b/y", "c/z", "d/w", "e/v", "f/u")


def _table(n_per_source: int, extension: int = 0, fit_only_sets=()) -> EvidenceTable:
    rows = [{"id": f"{s}-{i}", "source": s, "set": "train:all", "label": "machine" if i % 2 else "human",
             "generator": ("gpt-4" if i % 4 == 1 else "claude-3") if i % 2 else "human"}
            for s in SOURCES for i in range(n_per_source)]
    rows += [{"id": f"ext-{i}", "source": SOURCES[-1], "set": "train:extension", "label": "machine",
              "generator": "llama-2-7b"} for i in range(extension)]
    n = len(rows)
    return EvidenceTable(rows=rows, y=np.array([r["label"] == "machine" for r in rows], dtype=int),
                         sets=np.array([r["set"] for r in rows], dtype=object),
                         language=np.array(["en"] * n, dtype=object), n_tokens=np.full(n, 100),
                         stats=np.zeros((n, 1)), hidden=np.zeros((n, 1)), tokens=[None] * n,
                         text_parts=np.zeros((n, 1)), fit_only_sets=tuple(fit_only_sets))


def test_nothing_to_add_is_a_usage_error():
    result = CliRunner().invoke(added_rows_script.main, [])
    assert result.exit_code == 2 and "nothing to add" in result.output


def test_the_extension_is_judged_on_the_whole_plan_only():
    result = CliRunner().invoke(added_rows_script.main, ["--extended", "--first", "50"])
    assert result.exit_code == 2 and "leave --first out" in result.output


def test_extension_rows_are_fit_on_in_the_second_run_and_scored_in_neither(monkeypatch, tmp_path):
    n_per_source, n_extension = 40, 30
    plan_size = n_per_source * len(SOURCES)

    def load(sha256, token_cap, first, generated=(), extended=False, fit_only_sets=()):
        assert first is None  # the whole plan, in both runs
        return _table(n_per_source, n_extension if extended else 0, fit_only_sets)

    seen = {}

    def scores(table, key, k, seed, sequence_params, jobs, weighting):
        p = np.full(len(table.rows), np.nan)
        for name, fit, test in held_out_fold_indices(table, key):
            seen.setdefault((len(table.rows), key), []).append((name, fit, test))
            p[test] = 0.2 + 0.6 * table.y[test] + 0.01 * (test % 7)
        return p

    monkeypatch.setattr(added_rows_script, "resolve_reference_model", lambda path: SimpleNamespace(sha256="0" * 64))
    monkeypatch.setattr(added_rows_script, "load_evidence_table", load)
    monkeypatch.setattr(added_rows_script, "held_out_scores", scores)
    out = tmp_path / "report.json"
    saved = tmp_path / "scores.npz"
    result = CliRunner().invoke(added_rows_script.main, ["--extended", "--family-folds", "--out", str(out),
                                                         "--scores", str(saved)])
    assert result.exit_code == 0, result.output

    extension = set(range(plan_size, plan_size + n_extension))
    with_folds = seen[(plan_size + n_extension, "source")]
    # The same source groups: f/u's 30 extension rows would deal it first, alone, if they counted.
    assert [name for name, _, _ in with_folds] == [name for name, _, _ in seen[(plan_size, "source")]]
    assert all(not extension & set(test.tolist()) for _, _, test in with_folds)  # never scored
    assert extension <= set(np.concatenate([fit for _, fit, _ in with_folds]).tolist())  # fit on
    report = json.loads(out.read_text())
    assert report["extension"] == {"sets": ["train:extension"], "n_rows": n_extension, "n_machine": n_extension}
    assert report["n_documents"] == plan_size and "generated" not in report
    for run in ("without", "with"):
        figures = report["runs"][run]
        assert figures["summary"]["auroc"]["mean"] == 1.0  # judged on the plan's rows alone
        families = figures["family"]["folds"]
        assert families["GPT"]["n_machine"] == families["Claude"]["n_machine"] == plan_size // 4
    with np.load(saved, allow_pickle=False) as data:
        assert len(data["ids"]) == plan_size and data["ids"][0] == "a/x-0"
        assert set(data.files) == {"ids", "without_source", "with_source", "without_family", "with_family"}
        assert np.isnan(data["with_family"][data["ids"] == "a/x-0"]).all()  # human rows: no family fold
        assert np.allclose(data["with_source"], data["without_source"])  # the stand-in scores by label
