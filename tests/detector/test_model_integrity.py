"""A model directory is checked before it is used: every artifact against the SHA-256 stored at
training in model.json ("artifacts"), then each file's structure. Every failure is one
ModelDirectoryError naming the file, which the CLI prints as one `Error: ...` line.

The model directories here are copies of models/default (about 6 MB). None of these tests needs the
reference LM: Detector.load checks everything before the LM is touched (PerplexityFeatures loads
lazily), and the `no_lm` fixture makes any attempt to load it fail the test.

Structural tests first make the broken file "consistently" broken (its stored hash rewritten to
match, as a model trained and saved wrongly would be), else the hash check would refuse it first
and the structural checks would go untested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from filters.cli import cli
from detector.detector import (ARTIFACT_FILES, DEFAULT_MODEL_DIR, Detector, ModelDirectoryError, verify_artifacts,
                               write_artifact_hashes)
from detector.features.lm import PerplexityFeatures
from detector.reference_lm import sha256_file
from tests.helpers import ROOT



@pytest.fixture
def no_lm(monkeypatch):
    """Loading the reference LM fails the test: a broken directory must be refused before it."""
    def refuse(self):
        raise AssertionError("the reference LM was loaded while loading a model directory")

    monkeypatch.setattr(PerplexityFeatures, "load", refuse)


@pytest.fixture
def model_dir(tmp_path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    return target


def _meta(model_dir: Path) -> dict:
    return json.loads((model_dir / "model.json").read_text())


def _write_meta(model_dir: Path, meta: dict) -> None:
    (model_dir / "model.json").write_text(json.dumps(meta, indent=1))


def _refused(model_dir: Path, *patterns: str) -> str:
    with pytest.raises(ModelDirectoryError) as info:
        Detector.load(model_dir=model_dir)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, (pattern, message)
    assert "\n" not in message  # one line on the terminal
    return message


# --- 1. artifact hashes ------------------------------------------------------------------------------


def test_shipped_model_json_stores_the_hash_of_every_artifact():
    stored = _meta(DEFAULT_MODEL_DIR)["artifacts"]
    assert list(stored) == list(ARTIFACT_FILES) == ["full.skops", "full.json", "cheap.skops", "cheap.json",
                                                    "style.ftz", "hidden_probe.npz", "sequence_model.npz",
                                                    "held_out_scores.npz"]
    assert stored == {name: sha256_file(DEFAULT_MODEL_DIR / name) for name in ARTIFACT_FILES}


def test_intact_copy_loads_without_the_lm_and_reports_the_verified_hashes(model_dir, no_lm):
    detector = Detector.load(model_dir=model_dir)
    stored = _meta(model_dir)["artifacts"]
    assert detector.artifact_hashes() == {"model.json": sha256_file(model_dir / "model.json"), **stored}


def test_truncated_style_model_is_refused_by_its_hash(model_dir, no_lm):
    # The reproduced defect: a style.ftz cut to a third still loads in fastText and moved a document's
    # p_machine from 0.09 to 0.80, with exit status 0.
    path = model_dir / "style.ftz"
    expected = sha256_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    actual = sha256_file(path)
    _refused(model_dir, str(path), expected[:12], actual[:12], "re-download", "retrain")


@pytest.mark.parametrize("name", ARTIFACT_FILES)
def test_every_artifact_is_verified(model_dir, no_lm, name):
    # One byte appended: JSON, zip and fastText readers all still accept the file.
    path = model_dir / name
    expected = sha256_file(path)
    path.write_bytes(path.read_bytes() + b"\n")
    _refused(model_dir, str(path), "does not match the hash stored at training", expected[:12],
             sha256_file(path)[:12])


def test_missing_artifact_is_refused(model_dir, no_lm):
    (model_dir / "cheap.skops").unlink()
    _refused(model_dir, str(model_dir / "cheap.skops"), "missing", "re-download")


def test_model_json_without_hashes_is_refused_and_the_suggested_fix_works(model_dir, no_lm):
    meta = _meta(model_dir)
    del meta["artifacts"]
    _write_meta(model_dir, meta)
    message = _refused(model_dir, "model.json", "trained before artifact hashes were stored", "retrain",
                       "write_artifact_hashes")
    assert str(model_dir) in message
    write_artifact_hashes(model_dir)  # what the message suggests, for files one trusts
    Detector.load(model_dir=model_dir)


def test_hashes_that_leave_out_an_artifact_are_refused(model_dir, no_lm):
    meta = _meta(model_dir)
    del meta["artifacts"]["style.ftz"]
    _write_meta(model_dir, meta)
    _refused(model_dir, "model.json", "no hash for style.ftz")


def test_malformed_hashes_are_refused(model_dir, no_lm):
    meta = _meta(model_dir)
    meta["artifacts"]["full.skops"] = "abc"
    _write_meta(model_dir, meta)
    _refused(model_dir, "model.json", "SHA-256")


def test_write_artifact_hashes_keeps_the_metadata_and_adds_the_hashes(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ARTIFACT_FILES:
        shutil.copy(DEFAULT_MODEL_DIR / name, model_dir / name)
    meta = _meta(DEFAULT_MODEL_DIR)
    del meta["artifacts"]
    written = write_artifact_hashes(model_dir, meta)
    assert json.loads((model_dir / "model.json").read_text()) == written == {**meta,
                                                                             "artifacts": _meta(DEFAULT_MODEL_DIR)["artifacts"]}
    assert verify_artifacts(model_dir, written) == dict(sorted(written["artifacts"].items()))
    assert not list(model_dir.glob(".*"))  # no temporary file left behind


def test_training_writes_model_json_through_write_artifact_hashes():
    # Training needs ../shared/data and minutes; this checks that it writes model.json only through the
    # function tested above, after saving every artifact.
    source = (ROOT / "scripts" / "train_default_model.py").read_text()
    saves = [source.index(call) for call in ('.save(out_dir, "full")', '.save(out_dir, "cheap")',
                                             ".style.save(out_dir / STYLE_FILE)",
                                             ".probe.save(out_dir / HIDDEN_PROBE_FILE)",
                                             ".sequence.save(out_dir / SEQUENCE_MODEL_FILE)")]
    assert source.index("write_artifact_hashes(out_dir, metadata)") > max(saves)
    assert '"model.json").write_text' not in source


# --- 2. structural errors name the file (hashes rewritten to match the broken file) -------------------


def test_model_json_that_is_not_json(model_dir, no_lm):
    (model_dir / "model.json").write_text('{"model_id": "x",')
    _refused(model_dir, str(model_dir / "model.json"), "not valid JSON", "line 1")


@pytest.mark.parametrize("key", ["features", "token_cap", "thresholds", "cheap_stage", "model_id"])
def test_model_json_missing_a_field(model_dir, no_lm, key):
    meta = _meta(model_dir)
    del meta[key]
    _write_meta(model_dir, meta)
    _refused(model_dir, str(model_dir / "model.json"), f"lacks {key}")


def test_model_json_with_inconsistent_thresholds(model_dir, no_lm):
    meta = _meta(model_dir)
    meta["thresholds"]["ground"] = 1.0
    _write_meta(model_dir, meta)
    _refused(model_dir, "model.json", "bad thresholds", "ground")


def test_classifier_state_with_an_unexpected_parameter(model_dir, no_lm):
    state = json.loads((model_dir / "full.json").read_text())
    state["params"]["n_trees"] = 3
    (model_dir / "full.json").write_text(json.dumps(state))
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "full.json"), "takes no parameter n_trees")


def test_classifier_state_that_is_not_json(model_dir, no_lm):
    (model_dir / "cheap.json").write_text("{not json")
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "cheap.json"), "not valid JSON")


def test_classifier_state_missing_its_medians(model_dir, no_lm):
    state = json.loads((model_dir / "full.json").read_text())
    del state["medians"]
    (model_dir / "full.json").write_text(json.dumps(state))
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "full.json"), "medians")


def test_skops_file_that_is_not_a_zip(model_dir, no_lm):
    (model_dir / "full.skops").write_bytes(b"not a zip file at all")
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "full.skops"), "not a readable skops file", "BadZipFile")


def test_untrusted_types_are_still_refused_without_being_built(model_dir, no_lm, monkeypatch):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    sio.dump(RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1]), model_dir / "full.skops")
    write_artifact_hashes(model_dir)

    def never(*args, **kwargs):
        raise AssertionError("skops.io.load ran on a file with untrusted types")

    monkeypatch.setattr(sio, "load", never)
    _refused(model_dir, str(model_dir / "full.skops"), "does not load", "sklearn.tree")


def test_classifiers_swapped_between_stages(model_dir, no_lm):
    for ext in (".skops", ".json"):
        (model_dir / f"full{ext}").rename(model_dir / f"tmp{ext}")
        (model_dir / f"cheap{ext}").rename(model_dir / f"full{ext}")
        (model_dir / f"tmp{ext}").rename(model_dir / f"cheap{ext}")
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "full") + ".json", "features", "retrain")


def test_style_model_that_is_garbage(model_dir, no_lm):
    (model_dir / "style.ftz").write_bytes(b"\x00garbage" * 1000)
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "style.ftz"), "not a readable fastText model")


def test_style_model_from_another_fasttext_classifier(model_dir, no_lm):
    from detector.features.language import lid_model_path

    shutil.copy(lid_model_path(), model_dir / "style.ftz")  # fastText's language ID model
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / "style.ftz"), "not a synthsieve style model", "__label__")


@pytest.mark.parametrize("name", ["hidden_probe.npz", "sequence_model.npz"])
def test_lm_evidence_model_that_is_garbage(model_dir, no_lm, name):
    (model_dir / name).write_bytes(b"PK\x03\x04 not really a zip" * 10)
    write_artifact_hashes(model_dir)
    _refused(model_dir, str(model_dir / name))


def test_lm_evidence_models_swapped(model_dir, no_lm):
    (model_dir / "hidden_probe.npz").rename(model_dir / "tmp.npz")
    (model_dir / "sequence_model.npz").rename(model_dir / "hidden_probe.npz")
    (model_dir / "tmp.npz").rename(model_dir / "sequence_model.npz")
    write_artifact_hashes(model_dir)
    _refused(model_dir, "hidden_probe.npz")


# --- the CLI prints one line naming the file, no traceback -------------------------------------------


@pytest.fixture
def document(tmp_path) -> Path:
    path = tmp_path / "doc.txt"
    path.write_text("This text is never scored: the model directory is refused first.\n")
    return path


def _cli_error(model_dir: Path, document: Path) -> str:
    result = CliRunner().invoke(cli, ["score", "--model-dir", str(model_dir), str(document)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # click's clean exit, not an escaped exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_cli_refuses_a_truncated_artifact_in_one_line(model_dir, document, no_lm):
    path = model_dir / "style.ftz"
    path.write_bytes(path.read_bytes()[:1000])
    assert str(path) in _cli_error(model_dir, document)


def test_cli_refuses_a_consistently_broken_skops_file_in_one_line(model_dir, document, no_lm):
    (model_dir / "full.skops").write_bytes(b"not a zip file at all")
    write_artifact_hashes(model_dir)
    line = _cli_error(model_dir, document)
    assert str(model_dir / "full.skops") in line and "skops" in line


def test_cli_refuses_invalid_model_json_in_one_line(model_dir, document, no_lm):
    (model_dir / "model.json").write_text("{")
    assert str(model_dir / "model.json") in _cli_error(model_dir, document)


def test_console_script_refuses_a_broken_model_without_a_traceback(model_dir, document):
    # The installed entry point, in its own process: what a user sees.
    state = json.loads((model_dir / "full.json").read_text())
    state["params"]["n_trees"] = 3
    (model_dir / "full.json").write_text(json.dumps(state))
    write_artifact_hashes(model_dir)
    script = Path(sys.executable).parent / "synthsieve"
    if not script.exists():
        pytest.skip(f"{script} is not installed")
    # PYTHONPATH: the entry point runs this checkout's code whatever the editable install points at.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(script), "score", "--model-dir", str(model_dir), str(document)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in done.stderr, done.stderr
    assert str(model_dir / "full.json") in lines[0] and "n_trees" in lines[0]


@pytest.mark.parametrize("cap", [0, 10**12])
def test_model_json_with_a_token_cap_out_of_range(model_dir, no_lm, cap):
    # A crafted cap of 1e12 sized a read buffer from it: a MemoryError traceback.
    meta = _meta(model_dir)
    meta["token_cap"] = cap
    _write_meta(model_dir, meta)
    _refused(model_dir, "model.json", "token_cap", "outside 1..8192")


def test_filter_refuses_a_damaged_model_in_one_line(model_dir, tmp_path):
    # `score` said it in one line; `filter` printed a 13-line traceback.
    style = model_dir / "style.ftz"
    style.write_bytes(style.read_bytes()[: style.stat().st_size // 3])
    document = tmp_path / "in.jsonl"
    document.write_text(json.dumps({"id": "a", "text": "plumbing " * 80}) + "\n")
    result = CliRunner().invoke(cli, ["filter", str(document), "--out", str(tmp_path / "out"),
                                      "--model-dir", str(model_dir), "--no-progress"])
    assert result.exit_code == 1
    assert "style.ftz does not match the hash stored at training" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "out").exists()  # a run that could not start leaves nothing behind
