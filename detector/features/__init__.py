"""The feature vector: one definition for training and scoring, for the cheap and the full stage.

Cheap features need no language model (hygiene, stylometry, the style fastText model, near-duplicate
cluster size); the full vector appends the LM features. Language and length are not features: they
decide whether the LM can judge at all (see decision.judgeable), and as features they would learn
which languages and lengths the training set happened to collect from machines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detector.features.hygiene import HYGIENE_FEATURE_NAMES, NormalizedText, normalize_for_scoring
from detector.features.lm import LM_FEATURE_NAMES
from detector.features.stylometry import StylometryFeatures

CHEAP_FEATURE_NAMES = (*HYGIENE_FEATURE_NAMES, *StylometryFeatures.names, "style_fasttext_p_machine",
                       "log_cluster_size")
FULL_FEATURE_NAMES = (*CHEAP_FEATURE_NAMES, *LM_FEATURE_NAMES)
# The text features see: long documents are cut, since the LM only reads the first token_cap tokens
# and style is settled well before this many characters.
MAX_FEATURE_CHARS = 20_000


@dataclass
class PreparedDocument:
    normalized: NormalizedText
    language: str
    language_confidence: float
    cheap: np.ndarray


def cheap_features(normalized: NormalizedText, style_p_machine: float, cluster_size: int) -> np.ndarray:
    return np.concatenate([
        normalized.features(),
        StylometryFeatures().transform(normalized.text),
        [style_p_machine, math.log(max(cluster_size, 1))],
    ])


def prepare(texts, style_model, language_identifier, cluster_sizes=None) -> list[PreparedDocument]:
    cluster_sizes = cluster_sizes or [1] * len(texts)
    normalized = [normalize_for_scoring(t[:MAX_FEATURE_CHARS]) for t in texts]
    style = style_model.predict_proba([n.text for n in normalized])[:, 1]
    out = []
    for norm, p_style, size in zip(normalized, style, cluster_sizes):
        language, confidence = language_identifier.identify(norm.text)
        out.append(PreparedDocument(norm, language, confidence, cheap_features(norm, p_style, size)))
    return out


def lm_vector(features: np.ndarray | None) -> np.ndarray:
    """LM features, or NaN where the document was too short to score (the model imputes them)."""
    return features if features is not None else np.full(len(LM_FEATURE_NAMES), np.nan)
