"""scripts/set_overwhelming.py on a copy of the shipped model directory, with made-up reports."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from detector.detector import DEFAULT_MODEL_DIR, read_model_json, verify_artifacts, write_artifact_hashes

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "set_overwhelming.py"
_spec = importlib.util.spec_from_file_location("set_overwhelming", SCRIPT)
set_overwhelming = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, set_overwhelming)
_spec.loader.exec_module(set_overwhelming)


def _before_the_rule(metadata: dict) -> dict:
    """The shipped model's metadata as training wrote it before the rule: a fixed overwhelming."""
    rule = {k: v for k, v in metadata["threshold_rule"].items()
            if k not in ("overwhelming_by_set", "overwhelming_measured_by")}
    thresholds = {**metadata["thresholds"], "overwhelming": max(0.995, metadata["thresholds"]["suspect"])}
    return {**metadata, "thresholds": thresholds, "threshold_rule": rule}


@pytest.fixture
def model_dir(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    write_artifact_hashes(target, _before_the_rule(read_model_json(target)[0]))
    return target


@pytest.fixture
def old_metadata():
    return _before_the_rule(read_model_json(DEFAULT_MODEL_DIR)[0])


def _report(metadata: dict, **changes) -> dict:
    report = {"command": "python scripts/evaluate_languages.py --first N", "token_cap": metadata["token_cap"],
              "reference_model_hash": metadata["reference_model_hash"],
              "n_documents": metadata["training"]["documents_with_lm_outputs"],
              "run": {"weighting": "class"}, "targets": dict(metadata["threshold_rule"]["targets"]),
              "unjudged": {"cutoffs": {"shipped": 0.995, "rule": 0.9987}, "rule_by_set": {"ru": 0.9987, "zh": 0.96}}}
    report.update(changes)
    return report


def test_the_rule_cut_off_is_written_and_the_model_re_hashed(model_dir, tmp_path):
    before, _ = read_model_json(model_dir)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report(before)))
    result = CliRunner().invoke(set_overwhelming.main, ["--report", str(path), "--model-dir", str(model_dir)])
    assert result.exit_code == 0, result.output
    after, _ = read_model_json(model_dir)
    assert after["thresholds"]["overwhelming"] == 0.9987
    assert {k: v for k, v in after["thresholds"].items() if k != "overwhelming"} == \
        {k: v for k, v in before["thresholds"].items() if k != "overwhelming"}
    assert after["threshold_rule"]["overwhelming_by_set"] == {"ru": 0.9987, "zh": 0.96}
    assert after["threshold_rule"]["overwhelming_measured_by"].startswith("python scripts/evaluate_languages.py")
    assert after["artifacts"] == before["artifacts"]  # no other file changed
    verify_artifacts(model_dir, after)
    assert f"{before['thresholds']['overwhelming']} -> 0.998700" in result.output
    # A second run would replace a cut-off that already comes from the rule: refused unless forced.
    again = CliRunner().invoke(set_overwhelming.main, ["--report", str(path), "--model-dir", str(model_dir)])
    assert again.exit_code != 0 and "--force" in again.output
    forced = CliRunner().invoke(set_overwhelming.main, ["--report", str(path), "--model-dir", str(model_dir), "--force"])
    assert forced.exit_code == 0, forced.output


def test_never_below_the_models_own_suspect(old_metadata):
    metadata = old_metadata
    report = _report(metadata, unjudged={"cutoffs": {"rule": 0.6}, "rule_by_set": {}})
    updated, _ = set_overwhelming.overwhelming_from_report(metadata, report)
    assert updated["thresholds"]["overwhelming"] == metadata["thresholds"]["suspect"]


@pytest.mark.parametrize("changes, message", [
    ({"reference_model_hash": "0" * 64}, "reference model"),
    ({"token_cap": 512}, "token cap"),
    ({"n_documents": 100}, "whole plan"),
    ({"n_documents": 10 ** 6}, "documents"),  # more documents than trained on: other source groups
    ({"run": {"weighting": "source"}}, "weighting"),
    ({"targets": {"max_human_flagged": 0.02, "confidence": 0.95}}, "human-flagged target"),
    ({"unjudged": {}}, "no rule cut-off"),
])
def test_a_report_of_another_training_is_refused(changes, message, old_metadata):
    metadata = old_metadata
    with pytest.raises(click.UsageError, match=message):
        set_overwhelming.overwhelming_from_report(metadata, _report(metadata, **changes))
