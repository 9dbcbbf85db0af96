"""The feature vector: one definition for training and scoring, for the cheap and the full stage.

Cheap features need no language model (hygiene, stylometry, the style fastText model, near-duplicate
cluster size); the full vector appends the LM statistics and the learned LM evidence. Language and
length are not features: they decide whether the LM can judge at all (see decision.judgeable), and as
features they would learn which languages and lengths the training set happened to collect from
machines.
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
# Learned readings of the LM pass's richer outputs (detector.features.lm_evidence), as log-odds: the
# hidden-state probe and the token-sequence model.
LM_EVIDENCE_NAMES = ("lm_hidden_probe", "lm_sequence_model")
FULL_FEATURE_NAMES = (*CHEAP_FEATURE_NAMES, *LM_FEATURE_NAMES, *LM_EVIDENCE_NAMES)
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
    """LM statistics, or NaN where the document was too short to score (the model imputes them)."""
    return features if features is not None else np.full(len(LM_FEATURE_NAMES), np.nan)


def lm_evidence_scores(results, probe, sequence_model) -> np.ndarray:
    """(n, len(LM_EVIDENCE_NAMES)): the hidden-state probe's and the sequence model's log-odds for each
    LMResult (kept outputs), NaN where the document was too short to score."""
    from detector.features.lm import POOLED_LAYERS
    from detector.features.lm_evidence import hidden_probe_inputs

    if not results:
        return np.zeros((0, len(LM_EVIDENCE_NAMES)))
    shape = next((r.hidden.shape for r in results if r.hidden is not None), (2, len(POOLED_LAYERS), 1))
    hidden = np.stack([r.hidden if r.hidden is not None else np.zeros(shape, dtype=np.float16) for r in results])
    return np.column_stack([probe.decision_function(hidden_probe_inputs(hidden)),
                            sequence_model.decision_function([r.tokens for r in results])])
