"""The prevalence acceptance simulation (scripts/simulate_prevalence.py) on synthetic held-out scores.

The npz written here stands in for models/default/held_out_scores.npz: Beta-distributed p_machine of
human and machine documents from a few fake sources. Nothing under models/ is read.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "simulate_prevalence.py"
_spec = importlib.util.spec_from_file_location("simulate_prevalence", SCRIPT)
sim = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, sim)  # dataclasses look their module up there
_spec.loader.exec_module(sim)

HUMAN, MACHINE = (1.2, 8.0), (5.0, 1.5)
SHIFTED_HUMAN = (4.0, 3.0)  # a human source scoring far higher than the others
SUSPECT = 0.9
FAST = dict(n_corpus=300, reference_sizes=(150, 400), replicates=6, n_boot=60, rg_draws=1000,
            min_human_source=150, min_machine_source=100)


def write_scores(path: Path, seed: int = 0, shifted_human_source: bool = False) -> Path:
    """Three human sources (600, 400, 250 scores) and three machine sources (500, 300, 120)."""
    rng = np.random.default_rng(seed)
    human, human_source, machine, machine_source = [], [], [], []
    for index, n in enumerate((600, 400, 250)):
        shape = SHIFTED_HUMAN if shifted_human_source and index == 0 else HUMAN
        human.append(rng.beta(*shape, n))
        human_source += [f"human/{index}"] * n
    for index, n in enumerate((500, 300, 120)):
        machine.append(rng.beta(*MACHINE, n))
        machine_source += [f"machine/{index}"] * n
    np.savez(path, human=np.concatenate(human), machine=np.concatenate(machine),
             human_source=np.array(human_source), machine_source=np.array(machine_source),
             human_set=np.array(["x"] * len(human_source)), machine_set=np.array(["y"] * len(machine_source)))
    return path


@pytest.fixture(scope="module")
def identical(tmp_path_factory) -> dict:
    path = write_scores(tmp_path_factory.mktemp("scores") / "held_out_scores.npz")
    return sim.simulate(sim.HeldOutScores.load(path), SUSPECT, sim.Settings(**FAST))


def overall(result: dict, method: str, human: str, machine: str = sim.UNSEEN) -> dict:
    [row] = [r for r in result["overall"] if (r["method"], r["human_component"], r["machine_component"])
             == (method, human, machine)]
    return row


def test_every_method_condition_and_share_has_a_row(identical):
    settings = identical["settings"]
    humans = [sim.reference_label(size) for size in settings["reference_sizes"]] + [sim.WITHOUT_REFERENCE]
    cells = {(c["method"], c["human_component"], c["machine_component"], c["share"]) for c in identical["cells"]}
    expected = {(m, h, g, s) for m in sim.METHODS for h in humans for g in (sim.UNSEEN, sim.SEEN)
                for s in settings["shares"]}
    assert cells == expected
    assert {(r["method"], r["human_component"], r["machine_component"]) for r in identical["overall"]} == \
        {(m, h, g) for m in sim.METHODS for h in humans for g in (sim.UNSEEN, sim.SEEN)}
    for row in identical["cells"] + identical["overall"]:
        assert row["n_failed"] == 0 and row["n_replicates"] == settings["replicates"] * (
            1 if row["share"] != "all" else len(settings["shares"]))
        assert 0 <= row["coverage"] <= 1 and row["median_width"] >= 0
    bounds = {(r["method"], r["human_component"], r["share"]) for r in identical["lower_bound"]["cells"]}
    assert len(bounds) == len(settings["reference_sizes"]) * len(settings["excess_quantiles"]) * len(settings["shares"])


def test_identical_components_are_recovered(identical):
    # Every source draws from the same two distributions, so the components transfer exactly.
    for human in (sim.reference_label(150), sim.WITHOUT_REFERENCE):
        for method in ("mixture MLE", "HDy", "median sweep"):
            row = overall(identical, method, human)
            assert row["mae"] < 0.03, (method, human, row)
            assert abs(row["bias"]) < 0.02, (method, human, row)
            assert row["coverage"] >= 0.75, (method, human, row)
    mle = overall(identical, "mixture MLE", sim.reference_label(150))
    assert mle["goals"]["all"] and mle["median_width"] < 0.2


def test_lower_bound_stays_below_the_truth(identical):
    for row in identical["lower_bound"]["cells"]:
        assert row["bias"] <= 0.02, row  # a lower bound: never above the truth on average
        assert row["ci_low_holds"] >= 0.8, row
        assert row["max_over_truth"] <= 0.08, row  # only sampling noise in the reference puts it above
    for row in identical["lower_bound"]["overall"]:
        assert row["ci_low_holds"] >= 0.95, row
    # it is a real bound, not zero: with well-separated components at 60% it finds most of the share
    [sixty] = [r for r in identical["lower_bound"]["cells"]
               if r["share"] == 0.6 and "q0.95" in r["method"] and r["human_component"].endswith("150")]
    assert sixty["mae"] < 0.25


def test_a_shifted_human_source_needs_its_reference(tmp_path):
    # Human source 0 scores like neither component: the model's out-of-fold humans (the other sources)
    # misread it as machine text, its own reference does not.
    path = write_scores(tmp_path / "scores.npz", shifted_human_source=True)
    result = sim.simulate(sim.HeldOutScores.load(path), SUSPECT,
                          sim.Settings(**{**FAST, "shares": (0.0, 0.2), "replicates": 9}))
    with_reference = overall(result, "mixture MLE", sim.reference_label(150))
    without = overall(result, "mixture MLE", sim.WITHOUT_REFERENCE)
    assert without["bias"] > with_reference["bias"] + 0.05
    assert with_reference["mae"] < 0.05
    [shifted] = [r for r in result["by_source"] if r.get("human_source") == "human/0"
                 and (r["method"], r["human_component"], r["machine_component"])
                 == ("mixture MLE", sim.WITHOUT_REFERENCE, sim.UNSEEN)]
    assert shifted["bias"] > 0.1


def test_corpora_are_distinct_documents_disjoint_from_their_reference(tmp_path):
    scores = sim.HeldOutScores.load(write_scores(tmp_path / "scores.npz"))
    settings = sim.Settings(n_corpus=1000, reference_sizes=(300, 1000))
    cases = ((0.0, ("human/2", "machine/0")), (0.6, ("human/0", "machine/2")), (0.05, ("human/1", "machine/1")))
    for share, pair in cases:
        drawn = sim.build_corpus(scores, settings, share, pair, np.random.default_rng(1))
        assert np.unique(drawn.human_index).size == drawn.human_index.size
        assert np.unique(drawn.machine_index).size == drawn.machine_index.size
        assert set(scores.human_source[drawn.human_index]) <= {pair[0]}
        assert set(scores.machine_source[drawn.machine_index]) <= {pair[1]}
        n = drawn.scores.size
        assert drawn.truth == drawn.machine_index.size / n and abs(drawn.truth - share) < 0.01
        n_source = int(np.sum(scores.human_source == pair[0]))
        for size, reference in drawn.references.items():
            assert not set(reference) & set(drawn.human_index)
            assert reference.size >= min(size, min(300, n_source // 2))
        assert drawn.references[1000].size >= drawn.references[300].size
    # 250 human scores, 125 kept for the reference: a corpus of at most 125 / (1 - pi) documents
    drawn = sim.build_corpus(scores, settings, 0.2, ("human/2", "machine/0"), np.random.default_rng(0))
    assert drawn.scores.size == 156 and drawn.machine_index.size == 31


def test_corpus_sizes_shrink_to_what_the_sources_hold():
    assert sim.corpus_sizes(1000, 0.2, 5000, 5000) == (800, 200)
    assert sim.corpus_sizes(1000, 0.6, 5000, 102) == (68, 102)  # 170 documents, 102 of them machine
    assert sim.corpus_sizes(1000, 0.0, 85, 10) == (85, 0)
    human, machine = sim.corpus_sizes(1000, 0.05, 85, 500)
    assert human <= 85 and machine == round(0.05 * (human + machine))


def test_command_writes_json_and_markdown_deterministically(tmp_path):
    path = write_scores(tmp_path / "scores.npz")
    runner = CliRunner()
    outputs = []
    for run in range(2):
        out, table = tmp_path / f"sim{run}.json", tmp_path / f"table{run}.md"
        result = runner.invoke(sim.main, ["--scores", str(path), "--suspect", str(SUSPECT), "--n-corpus", "200",
                                          "--shares", "0,0.4", "--reference-sizes", "150", "--replicates", "2",
                                          "--n-boot", "30", "--rg-draws", "500", "--seed", "7",
                                          "--out", str(out), "--markdown", str(table)])
        assert result.exit_code == 0, result.output
        written = json.loads(out.read_text())
        assert written["settings"]["seed"] == 7 and written["suspect"] == SUSPECT
        assert written["data"]["suspect_from"] == "--suspect"
        assert "--seed 7" in written["run"]["command"] and "--replicates 2" in written["run"]["command"]
        assert "| mixture MLE |" in table.read_text() and "| Goals (all shares pooled) |" in table.read_text()
        assert table.read_text() in result.output
        outputs.append(written)
    assert outputs[0]["cells"] == outputs[1]["cells"]
    assert outputs[0]["lower_bound"] == outputs[1]["lower_bound"]


def test_corpora_of_several_machine_sources_split_them_equally_and_hide_them_all(tmp_path):
    scores = sim.HeldOutScores.load(write_scores(tmp_path / "scores.npz"))
    settings = sim.Settings(n_corpus=300, reference_sizes=(150,), machine_sources_per_corpus=2, n_boot=20,
                            rg_draws=200)
    pairs = sim.source_pairs(scores, settings)
    sides = sorted({m for _, m in pairs})
    # The three machine sources (500, 300 and 120 scores, all eligible) each in two machine sides.
    assert sides == ["machine/0+machine/1", "machine/1+machine/2", "machine/2+machine/0"]
    drawn = sim.build_corpus(scores, settings, 0.4, ("human/0", "machine/1+machine/2"), np.random.default_rng(0))
    counts = dict(zip(*np.unique(scores.machine_source[drawn.machine_index], return_counts=True)))
    assert set(counts) == {"machine/1", "machine/2"} and abs(counts["machine/1"] - counts["machine/2"]) <= 1
    assert abs(drawn.truth - 0.4) < 0.01
    # Every corpus source is held out of the unseen component: with all three in the corpus it is empty
    # (no estimate), while the seen component still gives one.
    every = sim.Settings(**{**FAST, "machine_sources_per_corpus": 3})
    records, _ = sim.one_replicate(scores, SUSPECT, every, 0.4, ("human/0", "machine/0+machine/1+machine/2"),
                                   np.random.default_rng(0))
    assert all(r.estimate is None for r in records if r.machine == sim.UNSEEN)
    assert all(r.estimate is not None for r in records if r.machine == sim.SEEN)
    with pytest.raises(ValueError, match="too few sources"):
        sim.source_pairs(scores, sim.Settings(machine_sources_per_corpus=4))
