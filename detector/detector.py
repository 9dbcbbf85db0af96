"""`Detector`: scores documents with the shipped (or a given) model directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from . import __version__
from .classifier import load_classifier
from .decision import DocumentScore, Thresholds, decide, judgeable
from .features import (CHEAP_FEATURE_NAMES, FULL_FEATURE_NAMES, MAX_FEATURE_CHARS, PreparedDocument, lm_vector,
                       prepare)
from .normalize import normalize_for_scoring
from .language import LanguageIdentifier
from .perplexity import PerplexityFeatures
from .reference_lm import sha256_file
from .style_fasttext import STYLE_VIEW_VERSION, StyleClassifier

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"
N_REASONS = 3


class ModelDirectoryError(RuntimeError):
    """The model directory is missing, incomplete or inconsistent."""


def top_reasons(names, values, contributions, log_odds: float, n: int = N_REASONS) -> list[dict]:
    """The features that pushed the score most in the direction it went."""
    direction = 1.0 if log_odds >= 0 else -1.0
    order = np.argsort(-direction * contributions)[:n]
    return [{"feature": names[i], "value": None if np.isnan(values[i]) else round(float(values[i]), 4),
             "contribution": round(float(contributions[i]), 4)} for i in order]


class Detector:
    """Scores texts for machine origin.

    Detector.load() reads models/default; `reference_model` may name any local transformers causal-LM
    directory (the shipped classifier was trained on SmolLM2 features, so another LM needs a model
    directory trained with it: scripts/train_default_model.py --reference-model DIR).
    """

    def __init__(self, model_dir: Path, metadata: dict, full, cheap,
                 style: StyleClassifier, lm: PerplexityFeatures, language: LanguageIdentifier,
                 thresholds: Thresholds):
        self.model_dir = model_dir
        self.metadata = metadata
        self.full_model = full
        self.cheap_model = cheap
        self.style_model = style
        self.lm = lm
        self.language = language
        self.thresholds = thresholds
        self.cheap_band = tuple(metadata["cheap_stage"]["band"])

    @classmethod
    def load(cls, model_dir=None, reference_model=None, token_cap: int | None = None, device=None,
             thresholds: Thresholds | None = None, compile_statistics: bool = False) -> "Detector":
        model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        meta_path = model_dir / "model.json"
        if not meta_path.exists():
            raise ModelDirectoryError(f"{model_dir} holds no model.json: not a synthsieve model directory "
                                      "(train one with scripts/train_default_model.py)")
        metadata = json.loads(meta_path.read_text())
        if tuple(metadata["features"]) != FULL_FEATURE_NAMES:
            raise ModelDirectoryError(f"{model_dir} was trained on another feature set; retrain it")
        if metadata.get("style_view") != STYLE_VIEW_VERSION:
            raise ModelDirectoryError(f"{model_dir}: its style model reads the text view "
                                      f"{metadata.get('style_view', 'shape-length')!r}, this synthsieve makes "
                                      f"{STYLE_VIEW_VERSION!r}; retrain it")
        lm = PerplexityFeatures(reference_model=reference_model,
                                token_cap=token_cap or metadata["token_cap"], device=device,
                                compile_statistics=compile_statistics)
        return cls(
            model_dir=model_dir, metadata=metadata,
            full=load_classifier(model_dir, "full"),
            cheap=load_classifier(model_dir, "cheap"),
            style=StyleClassifier.load(model_dir / "style.ftz"),
            lm=lm, language=LanguageIdentifier(),
            thresholds=thresholds or Thresholds.from_dict(metadata["thresholds"]),
        )

    # --- provenance ----------------------------------------------------------------------------------

    def artifact_hashes(self) -> dict[str, str]:
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
            "token_cap": self.lm.token_cap, "synthsieve_version": __version__,
            "error_rates": self.metadata.get("error_rates", {}),
        }

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
        X = np.array([np.concatenate([d.cheap, lm_vector(r.features)]) for d, r in zip(docs, lm_results)])
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
                decision=decide(float(p[i]), doc.language, n_tokens[i], thresholds),
                reasons=top_reasons(names, X[i], contributions[i], log_odds[i]),
                language=doc.language, language_confidence=round(doc.language_confidence, 4),
                n_tokens=int(n_tokens[i]), stage=stage,
                # The LM adds nothing where it cannot judge, so the cheap stage is final there too.
                confident=(stage == "lm" or not (low <= p[i] < high)
                           or not judgeable(doc.language, n_tokens[i], thresholds)),
                features={n: (None if np.isnan(v) else float(v)) for n, v in zip(names, X[i])},
            ))
        return out
