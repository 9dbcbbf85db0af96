"""The report's headline prevalence from every document's score, on whole runs: a stand-in detector
whose score for a document is written in its text (`p0.731 ...`), so a corpus is a known mixture of
two score distributions. The texts are written by code and stand for nobody's writing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from filters.executor.reference import ReferenceSpec
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from filters.report.build import build_report
from filters.report.quantification import CORPUS_SOURCES
from tests.helpers.corpus import plumbing_text, write_jsonl
from tests.helpers.fake_detector import FakeDetector

SETTINGS = FilterSettings(shard_size=200, batch_size=64, full=True)
TRUE_SHARE = 0.3


class ScriptedDetector(FakeDetector):
    """Scores a text by the number it starts with; carries a model directory with held-out scores."""

    def __init__(self, model_dir):
        super().__init__()
        self.model_dir = model_dir

    def _score(self, text, size, thresholds, stage, confident_band):
        score = super()._score(text, size, thresholds, stage, confident_band)
        score.p_machine = float(text.split()[0][1:])
        return score


def _texts(scores, offset):
    return [f"p{p:.6f} " + plumbing_text(offset + i, 20) for i, p in enumerate(scores)]


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixture")
    rng = np.random.default_rng(7)
    model_dir = root / "model"
    model_dir.mkdir()
    np.savez(model_dir / "held_out_scores.npz", human=rng.beta(2, 6, 2000), machine=rng.beta(6, 2, 2000))
    n = 1500
    machine = rng.random(n) < TRUE_SHARE
    scores = np.where(machine, rng.beta(6, 2, n), rng.beta(2, 6, n))
    write_jsonl(root / "corpus.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(_texts(scores, 0))])
    write_jsonl(root / "human.jsonl", [{"id": f"h{i}", "text": t} for i, t in enumerate(_texts(rng.beta(2, 6, 800), 10_000))])
    loader = lambda: ScriptedDetector(model_dir)  # noqa: E731
    plain = run_filter([str(root / "corpus.jsonl")], root / "plain", SETTINGS, detector_loader=loader)
    referenced = run_filter([str(root / "corpus.jsonl")], root / "referenced", SETTINGS, detector_loader=loader,
                            reference=ReferenceSpec((str(root / "human.jsonl"),)))
    return root, float(machine.mean()), plain, referenced


def test_the_headline_is_the_mixture_estimate_from_the_models_components(mixture):
    root, truth, manifest, _ = mixture
    assert manifest["calibration"]["model_scores"]["path"] == "calibration/held_out_scores.npz"
    prevalence = build_report([root / "plain"], with_plots=False).data["prevalence"]
    assert prevalence["headline_method"] == "median_sweep"
    assert prevalence["ci_low"] <= truth <= prevalence["ci_high"]
    assert abs(prevalence["estimate"] - truth) < 0.06
    assert prevalence["components"]["human"]["from"] == "model" and prevalence["components"]["human"]["n"] == 2000
    assert set(prevalence["methods"]) == {"mixture", "hdy", "median_sweep"}
    for method in prevalence["methods"].values():
        assert method["ci_low"] <= method["estimate"] <= method["ci_high"]
    assert prevalence["lower_bound"] is None  # it needs the crawl's own human reference
    assert prevalence["classify_and_count"]["flag_rule"]  # the old figure is kept beside it
    assert prevalence["n_whole_distribution"] == 1500
    assert "generators" not in prevalence["method"]  # no machine sources stored: nothing to resample


def test_with_machine_sources_the_interval_predicts_the_corpuss_own_generators(mixture, tmp_path):
    """As with the shipped model, whose held-out machine scores carry their sources: the sources are
    resampled and the interval is widened for a corpus written by generators of its own."""
    root, truth, _, _ = mixture
    rng = np.random.default_rng(8)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shapes = [(6, 2), (5, 2), (7, 2), (4, 2)]
    np.savez(model_dir / "held_out_scores.npz", human=rng.beta(2, 6, 2000),
             machine=np.concatenate([rng.beta(*shape, 500) for shape in shapes]),
             machine_source=np.repeat([f"source{i}" for i in range(4)], 500))
    run_filter([str(root / "corpus.jsonl")], tmp_path / "run", SETTINGS,
               detector_loader=lambda: ScriptedDetector(model_dir))
    grouped = build_report([tmp_path / "run"], with_plots=False).data["prevalence"]
    plain = build_report([root / "plain"], with_plots=False).data["prevalence"]
    assert f"from {CORPUS_SOURCES} generators unlike them" in grouped["method"]
    assert f"{CORPUS_SOURCES} generators that score unlike the stored ones" in grouped["meaning"]
    assert grouped["ci_low"] <= truth <= grouped["ci_high"]
    assert grouped["ci_high"] - grouped["ci_low"] > plain["ci_high"] - plain["ci_low"]


def test_with_a_reference_the_human_component_is_the_reference_and_a_lower_bound_appears(mixture):
    root, truth, _, manifest = mixture
    report = build_report([root / "referenced"], with_plots=False).data
    prevalence = report["prevalence"]
    assert prevalence["components"]["human"]["from"] == "reference" and prevalence["components"]["human"]["n"] == 800
    assert prevalence["ci_low"] <= truth <= prevalence["ci_high"]
    bound = prevalence["lower_bound"]
    assert bound["ci_low"] <= truth and bound["estimate"] <= truth + 0.03 and bound["estimate"] > 0.05
    assert report["summary"]["headline"].startswith("Estimated machine-generated share")
    assert "the run's own human reference" in report["summary"]["headline"]
    calibration = report["documents"]["provenance"]["calibration"]
    assert calibration["model_suspect"] == 0.8 and calibration["corpus_suspect"] == manifest["thresholds"]["suspect"]
    assert calibration["reference_judged"] == 800
    text = json.dumps(report, default=lambda value: value.item())
    assert 0 <= report["prevalence"]["estimate"] <= 1 and "_draws" not in text


def test_a_damaged_component_file_falls_back_to_classify_and_count_and_says_so(mixture, tmp_path):
    root = mixture[0]
    copy = tmp_path / "run"
    shutil.copytree(root / "plain", copy)
    with open(copy / "calibration" / "held_out_scores.npz", "ab") as handle:
        handle.write(b"tampered")
    prevalence = build_report([copy], with_plots=False).data["prevalence"]
    assert prevalence["headline_method"] == "classify_and_count"
    assert any("differs from the file the manifest names" in w for w in prevalence["warnings"])
    assert prevalence["methods"] == {}


def test_comparing_runs_uses_the_headline_draws(mixture):
    root = mixture[0]
    report = build_report([root / "plain", root / "referenced"], with_plots=False).data
    change = report["comparison"]["trend"][0]["delta_prevalence"]
    runs = report["comparison"]["runs"]
    assert change["estimate"] == pytest.approx(runs[1]["prevalence"]["estimate"] - runs[0]["prevalence"]["estimate"])
    assert change["ci_low"] <= change["estimate"] <= change["ci_high"]


def test_rethreshold_on_a_reference_keeps_the_models_components(mixture, tmp_path):
    from filters.executor.rethreshold import rethreshold

    root = mixture[0]
    manifest = rethreshold(root / "plain", tmp_path / "re", reference=ReferenceSpec((str(root / "human.jsonl"),)),
                           detector_loader=lambda: ScriptedDetector(root / "model"))
    assert manifest["calibration"]["model_scores"]["path"] == "calibration/held_out_scores.npz"
    prevalence = build_report([tmp_path / "re"], with_plots=False).data["prevalence"]
    assert prevalence["headline_method"] == "median_sweep"
    assert prevalence["components"]["human"]["from"] == "reference" and prevalence["lower_bound"] is not None


def test_a_run_compared_with_itself_changes_by_nothing_within_a_narrow_interval(mixture):
    root = mixture[0]
    change = build_report([root / "plain", root / "plain"], with_plots=False).data["comparison"]["trend"][0][
        "delta_prevalence"]
    assert change["estimate"] == 0
    assert change["ci_high"] - change["ci_low"] < 0.08  # the shared components' noise cancels


def test_comparing_a_whole_distribution_run_with_a_classify_and_count_one_does_not_pair_their_draws(mixture, tmp_path):
    root = mixture[0]
    old = tmp_path / "old"
    shutil.copytree(root / "plain", old)
    (old / "calibration" / "held_out_scores.npz").unlink()  # as a run made before the components were kept
    report = build_report([old, root / "plain"], with_plots=False).data
    assert report["prevalence"]["headline_method"] == "classify_and_count"
    assert report["comparison"]["trend"][0]["delta_prevalence"] is None


def test_the_lower_bound_needs_no_machine_component(mixture, tmp_path):
    root = mixture[0]
    copy = tmp_path / "run"
    shutil.copytree(root / "referenced", copy)
    (copy / "calibration" / "held_out_scores.npz").unlink()
    prevalence = build_report([copy], with_plots=False).data["prevalence"]
    assert prevalence["headline_method"] == "classify_and_count" and prevalence["lower_bound"]["estimate"] > 0.05


def test_with_reference_before_the_share_is_of_the_documents_after_that_day(tmp_path):
    rng = np.random.default_rng(3)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    np.savez(model_dir / "held_out_scores.npz", human=rng.beta(2, 6, 2000), machine=rng.beta(6, 2, 2000))
    older = _texts(rng.beta(2, 6, 600), 0)
    machine = rng.random(600) < 0.5
    newer = _texts(np.where(machine, rng.beta(6, 2, 600), rng.beta(2, 6, 600)), 5000)
    write_jsonl(tmp_path / "crawl.jsonl", [{"id": f"o{i}", "text": t, "date": "2021-01-01"} for i, t in enumerate(older)]
                + [{"id": f"n{i}", "text": t, "date": "2024-01-01"} for i, t in enumerate(newer)])
    run_filter([str(tmp_path / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=lambda: ScriptedDetector(model_dir),
               reference=ReferenceSpec(before="2022-11-30"))
    prevalence = build_report([tmp_path / "out"], with_plots=False).data["prevalence"]
    assert prevalence["n_whole_distribution"] == 600 and "on or after 2022-11-30" in prevalence["population_whole_distribution"]
    assert prevalence["ci_low"] <= machine.mean() <= prevalence["ci_high"]


def test_component_paths_in_the_manifest_cannot_point_outside_the_run(mixture, tmp_path):
    root = mixture[0]
    copy = tmp_path / "run"
    shutil.copytree(root / "plain", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    outside = tmp_path / "elsewhere.npz"
    shutil.copy(copy / "calibration" / "held_out_scores.npz", outside)
    (copy / "calibration" / "held_out_scores.npz").unlink()
    manifest["calibration"]["model_scores"]["path"] = str(outside)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    prevalence = build_report([copy], with_plots=False).data["prevalence"]
    assert prevalence["headline_method"] == "classify_and_count"
    assert any("missing from the run" in w for w in prevalence["warnings"])


def test_a_run_scored_otherwise_than_the_held_out_scores_is_warned_about(mixture, tmp_path):
    root = mixture[0]
    copy = tmp_path / "run"
    shutil.copytree(root / "plain", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["model"]["token_cap"] == 512
    for measured_with, warned in (({"token_cap": 512, "precision": "bf16"}, False),
                                  ({"token_cap": 256, "precision": "bf16"}, True),
                                  ({"token_cap": 512, "precision": "int8"}, True)):
        manifest["calibration"]["model_scores"]["measured_with"] = measured_with
        (copy / "manifest.json").write_text(json.dumps(manifest))
        warnings = build_report([copy], with_plots=False).data["prevalence"]["warnings"]
        assert any("may not match its scores" in w for w in warnings) is warned, (measured_with, warnings)


def test_the_held_out_scores_carry_how_they_were_scored(tmp_path):
    from filters.executor.reference import copy_model_scores

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    np.savez(model_dir / "held_out_scores.npz", human=np.zeros(3), machine=np.ones(3))
    assert "measured_with" not in copy_model_scores(model_dir, tmp_path / "out1")
    (model_dir / "model.json").write_text(json.dumps({"token_cap": 256, "reference_model_hash": "ab" * 32}))
    entry = copy_model_scores(model_dir, tmp_path / "out2")
    assert entry["measured_with"] == {"token_cap": 256, "precision": "bf16", "reference_model_hash": "ab" * 32}


def test_the_facts_table_names_the_population_of_each_figure(mixture, tmp_path):
    from filters.report import write_report

    root = mixture[0]
    prevalence = build_report([root / "plain"], with_plots=False).data["prevalence"]
    paths = write_report(build_report([root / "plain"], with_plots=False), tmp_path / "report")
    for name in ("markdown", "html"):
        page = paths[name].read_text()
        for fact in ("headline: documents counted", "headline: population", "classify and count: population", "classify and count: flag rule"):
            assert fact in page, (name, fact)
    markdown = paths["markdown"].read_text()
    assert f"| headline: method | {prevalence['method']}" in markdown
    assert f"| classify and count: method | {prevalence['classify_and_count']['method'][:40]}" in markdown
