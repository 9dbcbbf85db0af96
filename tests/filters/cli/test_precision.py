"""--precision on the scoring commands: accepted, recorded in the provenance and in a filter run's identity."""

from __future__ import annotations

import pickle

import click
import pytest
from click.testing import CliRunner

from detector import Detector
from detector.features.precision import Int8PrecisionError
from filters.cli import cli
from filters.cli.options import checked_precision
from filters.executor.detector_loader import DetectorLoader
from detector.features.precision import precision_of
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from filters.store.manifest import Manifest, fingerprint, model_identity
from tests.helpers.corpus import corpus_records, write_jsonl
from filters.store.state import RunMismatchError
from tests.helpers.fake_detector import FakeDetector, FakeDetectorLoader


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # Texts made by code: plumbing only, their labels do not matter.
    return str(write_jsonl(tmp_path_factory.mktemp("precision-inputs") / "a.jsonl", corpus_records(6, seed=3)))


def test_detector_records_its_precision(tiny_reference_model):
    bf16 = Detector.load(reference_model=tiny_reference_model, token_cap=64)
    int8 = Detector.load(reference_model=tiny_reference_model, token_cap=64, precision="int8")
    assert bf16.provenance()["precision"] == "bf16" and int8.provenance()["precision"] == "int8"
    [a] = bf16.score(["The fox runs over the field while the dog sleeps and the data streams past."])
    [b] = int8.score(["The fox runs over the field while the dog sleeps and the data streams past."])
    assert a.n_tokens == b.n_tokens and abs(a.p_machine - b.p_machine) < 0.2
    with pytest.raises(ValueError, match="bf16, int8"):
        Detector.load(reference_model=tiny_reference_model, precision="int4")


def test_int8_changes_the_run_fingerprint_and_bf16_keeps_the_old_one():
    provenance = FakeDetector().provenance()
    old = {k: provenance[k] for k in ("model_id", "model_hash", "artifact_hashes", "reference_model_id",
                                      "reference_model_hash", "token_cap")}
    assert model_identity({**provenance, "precision": "bf16"}) == old == model_identity(provenance)
    assert model_identity({**provenance, "precision": "int8"}) == {**old, "precision": "int8"}
    prints = {fingerprint([], {}, model_identity({**provenance, "precision": p}), {}) for p in ("bf16", "int8")}
    assert len(prints) == 2


class _Int8Fake(FakeDetector):
    def provenance(self) -> dict:
        return {**super().provenance(), "precision": "int8"}


def test_a_run_in_another_precision_is_not_resumed(corpus, tmp_path):
    settings = FilterSettings(shard_size=3, batch_size=4)
    loader = FakeDetectorLoader()
    run_filter([corpus], tmp_path / "out", settings, detector_loader=loader, detector=FakeDetector())
    with pytest.raises(RunMismatchError, match="other model"):
        run_filter([corpus], tmp_path / "out", settings, detector_loader=loader, detector=_Int8Fake())
    run_filter([corpus], tmp_path / "int8", settings, detector_loader=loader, detector=_Int8Fake())
    assert Manifest.load(tmp_path / "int8")["model"]["precision"] == "int8"
    assert precision_of(Manifest.load(tmp_path / "int8")["model"]) == "int8" and precision_of(Manifest.load(tmp_path / "out")["model"]) == "bf16"


def test_filter_cli_in_int8_then_bf16_on_the_same_out_is_refused(corpus, tiny_reference_model, tmp_path):
    out = tmp_path / "out"
    common = [corpus, "--out", str(out), "--reference-model", str(tiny_reference_model), "--token-cap", "64",
              "--full", "--no-progress"]
    first = CliRunner().invoke(cli, ["filter", *common, "--precision", "int8"])
    assert first.exit_code == 0, first.output
    manifest = Manifest.load(out)
    assert manifest["model"]["precision"] == "int8" and manifest["counts"]["documents"] == 6
    second = CliRunner().invoke(cli, ["filter", *common])
    assert second.exit_code == 1 and "holds a run with other model" in second.output


def test_score_cli_accepts_int8_and_rejects_other_values(tiny_reference_model, tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("The lantern by the harbor window burned all winter while the ships came in.", encoding="utf-8")
    base = ["score", str(path), "--reference-model", str(tiny_reference_model), "--token-cap", "64", "--json"]
    result = CliRunner().invoke(cli, [*base, "--precision", "int8"])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(cli, [*base, "--precision", "fp16"])
    assert bad.exit_code == 2 and "'fp16' is not one of 'bf16', 'int8'" in bad.output
    for command in (["filter", str(path), "--out", str(tmp_path / "o")], ["eval", str(path)]):
        bad = CliRunner().invoke(cli, [*command, "--precision", "int4"])
        assert bad.exit_code == 2 and "--precision" in bad.output


def test_filter_refuses_int8_on_a_gpu_device_before_loading(tmp_path):
    result = CliRunner().invoke(cli, ["filter", str(tmp_path), "--out", str(tmp_path / "o"), "--precision", "int8",
                                      "--device", "cuda"])
    assert result.exit_code == 2 and "CPU only" in result.output
    assert not (tmp_path / "o").exists()


def test_int8_with_a_gpu_device_is_a_usage_error_and_without_one_runs_on_the_cpu(tiny_reference_model,
                                                                                 monkeypatch):
    from detector.features import lm

    with pytest.raises(click.BadParameter, match="CPU only"):
        checked_precision("int8", "cuda")
    assert checked_precision("int8", None) == "int8" and checked_precision("bf16", "cuda") == "bf16"
    monkeypatch.setattr(lm, "pick_device", lambda: "cuda")  # as on a machine with a GPU
    detector = Detector.load(reference_model=tiny_reference_model, token_cap=64, precision="int8")
    assert detector.lm.device == "cpu"


def test_loaders_carry_the_precision():
    plain = DetectorLoader(token_cap=64)
    assert plain.precision == "bf16"
    int8 = DetectorLoader(token_cap=64, precision="int8")
    assert pickle.loads(pickle.dumps(int8)) == int8
    assert int8.for_device("cpu").precision == "int8"
    with pytest.raises(Int8PrecisionError, match="--precision bf16"):  # the Ray engine's GPU actors
        int8.for_device("cuda")
