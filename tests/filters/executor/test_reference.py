"""The human reference (--human-reference, --reference-before): it re-sets the suspect cut-off as the
rule says, stays out of the partitions, is recorded in the manifest, resumes, and changes nothing when
it is absent. With the stand-in detector: its scores are a hash of the text, so the texts here are
never examples of human writing; what is tested is the rule applied to whatever scores come back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from detector.thresholds import fpr_upper_bound, threshold_for_fpr_bound
from filters.cli import cli as main
from filters.executor.reference import ReferenceError, ReferenceSpec, bottom_k
from filters.executor.rethreshold import RethresholdError, rethreshold
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from filters.store.state import RunMismatchError
from tests.helpers.corpus import assignment, plumbing_text, shard_digests, write_jsonl
from tests.helpers.fake_detector import FakeDetector, FakeDetectorLoader

# Every document through the stand-in "LM", so a document's score is the same wherever it is scored.
SETTINGS = FilterSettings(shard_size=50, batch_size=16, full=True)


def _records(start: int, n: int, date: str | None = None, prefix: str = "doc") -> list[dict]:
    return [{"id": f"{prefix}-{i:05d}", "text": plumbing_text(start + i), **({"date": date} if date else {})}
            for i in range(n)]


def _fake_p(texts: list[str]) -> np.ndarray:
    return np.array([s.p_machine for s in FakeDetector().score(texts)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    older = _records(0, 400, "2021-03-01T10:00:00Z", "old")
    newer = _records(5000, 150, "2024-06-01T10:00:00Z", "new")
    write_jsonl(root / "crawl.jsonl", older + newer)
    write_jsonl(root / "human.jsonl", _records(9000, 600, prefix="ref"))
    write_jsonl(root / "small.jsonl", _records(20000, 100, prefix="small"))
    return root


def _expected_suspect(texts: list[str]) -> float:
    return max(0.5, threshold_for_fpr_bound(_fake_p(texts), 0.01, 0.95))


def test_reference_resets_the_suspect_cut_off_and_stays_out_of_the_partitions(corpus, tmp_path):
    reference_texts = [r["text"] for r in _records(9000, 600, prefix="ref")]
    manifest = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                          reference=ReferenceSpec((str(corpus / "human.jsonl"),)))
    calibration = manifest["calibration"]
    expected = _expected_suspect(reference_texts)
    assert calibration["applied"] and calibration["reason"] is None
    assert manifest["thresholds"]["suspect"] == pytest.approx(expected)
    assert calibration["corpus_thresholds"]["suspect"] == pytest.approx(expected)
    assert calibration["model_thresholds"]["suspect"] == FakeDetector().thresholds.suspect != pytest.approx(expected)
    flagged = calibration["reference_flagged"]["at_corpus_suspect"]
    assert flagged["n"] == 600 and flagged["upper_bound"] <= 0.01
    assert flagged["upper_bound"] == pytest.approx(fpr_upper_bound(flagged["flagged"], 600))
    # One more flag would break the bound: the cut-off is the smallest that keeps it.
    p = np.sort(_fake_p(reference_texts))
    assert fpr_upper_bound(int((p >= np.nextafter(p[p < expected].max(), 0)).sum()), 600) > 0.01 or expected == 0.5
    # The reference is scored and kept, not partitioned: the partitions hold exactly the 550 inputs.
    rows = assignment(tmp_path / "out")
    assert len(rows) == 550 and not any(key.startswith("ref-") for key in rows)
    assert manifest["counts"]["documents"] == 550
    for partition, p_machine in rows.values():
        assert (partition == "suspected_synthetic") == (p_machine >= expected)
    stored = json.loads((tmp_path / "out" / calibration["reference"]["scores"]["path"]).read_text())
    assert len(stored["documents"]) == 600 and stored["fingerprint"] == manifest["fingerprint"]
    assert calibration["reference"]["human_reference"][0]["sha256"]


def test_a_reference_too_small_to_show_the_target_keeps_the_model_thresholds(corpus, tmp_path, capsys):
    plain = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "plain", SETTINGS, detector_loader=FakeDetectorLoader())
    small = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "small", SETTINGS, detector_loader=FakeDetectorLoader(),
                       reference=ReferenceSpec((str(corpus / "small.jsonl"),)))
    assert not small["calibration"]["applied"]
    assert "299" in small["calibration"]["reason"] and "299" in capsys.readouterr().err
    assert small["thresholds"] == plain["thresholds"]
    assert shard_digests(tmp_path / "small") == shard_digests(tmp_path / "plain")


def test_without_a_reference_the_run_is_unchanged(corpus, tmp_path):
    manifest = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader())
    assert manifest["thresholds"] == FakeDetector().thresholds.to_dict()
    assert manifest["calibration"] == {"model_scores": None, "reference": None}
    identity = json.loads((tmp_path / "out" / ".synthsieve" / "run.json").read_text())
    assert "reference" not in identity and "model_thresholds" not in identity
    assert not (tmp_path / "out" / "calibration").exists()  # the stand-in model has no held-out scores


def test_reference_before_uses_the_inputs_own_older_documents(corpus, tmp_path):
    older_texts = [r["text"] for r in _records(0, 400, "2021-03-01T10:00:00Z", "old")]
    manifest = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                          reference=ReferenceSpec(before="2022-11-30"))
    reference = manifest["calibration"]["reference"]
    assert reference["before"] == "2022-11-30" and reference["offered"] == 400 and reference["judged"] == 400
    assert manifest["thresholds"]["suspect"] == pytest.approx(_expected_suspect(older_texts))
    # They are inputs: partitioned and counted like the rest.
    assert manifest["counts"]["documents"] == 550 and len(assignment(tmp_path / "out")) == 550

    # rethreshold from the rows of a run without a reference reaches the same cut-off, scoring nothing.
    plain = tmp_path / "plain"
    run_filter([str(corpus / "crawl.jsonl")], plain, SETTINGS, detector_loader=FakeDetectorLoader())
    again = rethreshold(plain, tmp_path / "re", reference=ReferenceSpec(before="2022-11-30"))
    assert again["thresholds"]["suspect"] == pytest.approx(manifest["thresholds"]["suspect"])
    assert again["calibration"]["reference"]["offered"] == 400
    assert assignment(tmp_path / "re") == assignment(tmp_path / "out")


def test_the_reference_limit_takes_a_sample_that_ignores_input_order(corpus, tmp_path):
    items = list(range(1000))
    key = lambda i: str((i * 7919) % 1009).encode()  # noqa: E731
    forward, offered = bottom_k(items, 50, key)
    backward, _ = bottom_k(reversed(items), 50, key)
    assert offered == 1000 and len(forward) == 50 and sorted(forward) == sorted(backward)
    manifest = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                          reference=ReferenceSpec((str(corpus / "human.jsonl"),), limit=350))
    assert manifest["calibration"]["reference"]["scored"] == 350
    assert manifest["calibration"]["reference"]["offered"] == 600


def test_a_run_with_a_reference_resumes_and_refuses_another_reference(corpus, tmp_path):
    spec = ReferenceSpec((str(corpus / "human.jsonl"),))
    first = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                       reference=spec)
    again = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                       reference=spec)
    assert again == first
    with pytest.raises(RunMismatchError, match="other human reference") as refused:
        run_filter([str(corpus / "crawl.jsonl")], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                   reference=ReferenceSpec((str(corpus / "human.jsonl"),), limit=400))
    assert "thresholds" not in str(refused.value)  # the stored corpus thresholds are not a difference


def test_a_resumed_run_scores_the_reference_again_when_its_stored_scores_were_changed(corpus, tmp_path):
    spec = ReferenceSpec((str(corpus / "human.jsonl"),))
    out = tmp_path / "out"
    first = run_filter([str(corpus / "crawl.jsonl")], out, SETTINGS, detector_loader=FakeDetectorLoader(), reference=spec)
    stored = out / "calibration" / "reference_scores.json"
    scores = json.loads(stored.read_text())
    for document in scores["documents"]:  # same fingerprint inside, every score pushed to the top
        document["p_machine"] = 0.999
    stored.write_text(json.dumps(scores))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"] = "running"  # as if interrupted after the reference was scored
    (out / "manifest.json").write_text(json.dumps(manifest))
    again = run_filter([str(corpus / "crawl.jsonl")], out, SETTINGS, detector_loader=FakeDetectorLoader(), reference=spec)
    assert again["thresholds"] == first["thresholds"]
    assert again["calibration"]["reference"]["scores"]["sha256"] == first["calibration"]["reference"]["scores"]["sha256"]


def test_rethreshold_scores_human_reference_files_only_with_the_runs_model(corpus, tmp_path):
    plain = tmp_path / "plain"
    run_filter([str(corpus / "crawl.jsonl")], plain, SETTINGS, detector_loader=FakeDetectorLoader())
    spec = ReferenceSpec((str(corpus / "human.jsonl"),))
    calibrated = rethreshold(plain, tmp_path / "re", reference=spec, detector_loader=FakeDetectorLoader())
    direct = run_filter([str(corpus / "crawl.jsonl")], tmp_path / "direct", SETTINGS,
                        detector_loader=FakeDetectorLoader(), reference=spec)
    assert calibrated["thresholds"] == direct["thresholds"]
    assert calibrated["calibration"]["model_thresholds"] == direct["calibration"]["model_thresholds"]

    class OtherModel(FakeDetector):
        def provenance(self):
            return {**super().provenance(), "model_hash": "f" * 64}

    with pytest.raises(RethresholdError, match="model"):
        rethreshold(plain, tmp_path / "other", reference=spec, detector_loader=OtherModel)


def test_cli_filter_with_a_reference_shows_and_records_the_calibration(corpus, tmp_path, monkeypatch):
    from filters.executor import detector_loader

    monkeypatch.setattr(detector_loader.DetectorLoader, "__call__", lambda self: FakeDetector())
    result = CliRunner().invoke(main, ["filter", str(corpus / "crawl.jsonl"), "--out", str(tmp_path / "out"),
                                       "--full", "--reference-before", "2022-11-30", "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output[result.output.index("{"):])
    assert manifest["calibration"]["applied"] and manifest["calibration"]["reference"]["before"] == "2022-11-30"


def test_cli_refuses_conflicting_or_bad_reference_options(corpus, tmp_path):
    runner = CliRunner()
    both = runner.invoke(main, ["filter", str(corpus / "crawl.jsonl"), "--out", str(tmp_path / "a"),
                                "--human-reference", str(corpus / "human.jsonl"), "--suspect", "0.9"])
    assert both.exit_code == 2 and "--suspect" in both.output
    bad = runner.invoke(main, ["filter", str(corpus / "crawl.jsonl"), "--out", str(tmp_path / "b"),
                               "--reference-before", "last year"])
    assert bad.exit_code == 2 and "not a date" in bad.output
    missing = runner.invoke(main, ["rethreshold", str(tmp_path), "--out", str(tmp_path / "c"),
                                   "--human-reference", str(tmp_path / "nothing-*.jsonl")])
    assert missing.exit_code != 0
    with pytest.raises(ReferenceError):
        ReferenceSpec(before="2022-13-45")


def test_rethreshold_by_hand_of_a_calibrated_run_says_the_calibration_no_longer_applies(corpus, tmp_path):
    calibrated = tmp_path / "calibrated"
    run_filter([str(corpus / "crawl.jsonl")], calibrated, SETTINGS, detector_loader=FakeDetectorLoader(),
               reference=ReferenceSpec((str(corpus / "human.jsonl"),)))
    manual = rethreshold(calibrated, tmp_path / "manual", suspect=0.9)
    assert manual["thresholds"]["suspect"] == 0.9
    assert manual["calibration"]["overridden"]["thresholds"]["suspect"] == 0.9
    stored = tmp_path / "manual" / manual["calibration"]["reference"]["scores"]["path"]
    assert stored.is_file()  # the reference's scores come along, for the report's prevalence
    kept = rethreshold(calibrated, tmp_path / "kept")
    assert "overridden" not in kept["calibration"] and kept["thresholds"] == json.loads(
        (calibrated / "manifest.json").read_text())["thresholds"]
