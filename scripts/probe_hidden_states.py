"""Detector v2 probe: how well the reference LM's pooled hidden states separate the classes on sources
held out of training, against the LM statistics the shipped model reads.

All variants are the same regularised logistic probe (standardised inputs, class-balanced), so they
differ only in what they read. Reads the LM outputs cached by scripts/extract_lm_outputs.py (only the documents extracted so far:
the extraction plan interleaves every set, so a partial cache is a proportional sample of all of them)
and, for each source repository of the labelled data, fits on the training rows of every other source
and scores the held-out source's rows, all sets pooled. Polished-light text is neither class and is
left out. Reported per fold: AUROC over all held-out rows and over the English documents of at least 50
tokens (the ones the thresholds decide), where each class has at least MIN_PER_CLASS documents, and,
English-judgeable, the share of machine text caught where 5% of the source's own human text is flagged;
pooled over every held-out source (one-class sources too), the AUROC one cut-off would face.

With --within-source, each of WITHIN_SOURCE_INPUTS is also fit within sources (within_source_centred):
what separates the classes inside a source, without the offsets between sources.

    python scripts/probe_hidden_states.py --out models/probe_hidden_states.json
    python scripts/probe_hidden_states.py --first 8064 --no-stacked --within-source \
        --out models/probe_hidden_states_within_source.json
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import click
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from detector.features import MAX_FEATURE_CHARS, cheap_features
from detector.features.hygiene import normalize_for_scoring
from detector.features.lm import POOLED_LAYERS
from detector.training.data import LMOutputCache, lm_outputs_key, planned_documents
from detector.training.evidence import LABELS, TRAINING_SETS, source_of
from detector.classifier import BoostedClassifier
from detector.evaluation import tpr_at_fpr
from detector.training.folds import auroc_if_enough
from detector.training.table import group_folds


def text_features(rows: list[dict]) -> np.ndarray:
    """Hygiene and stylometry of each text (the shipped cheap features without the learned style score
    and the cluster size, which need a fit or a corpus)."""
    parts = [cheap_features(normalize_for_scoring(r["text"][:MAX_FEATURE_CHARS]), 0.0, 1)[:-2] for r in rows]
    return np.nan_to_num(np.array(parts, dtype=np.float32))


# The inputs also fit within sources with --within-source.
WITHIN_SOURCE_INPUTS = ("hidden_mean", "hidden_mean_and_statistics", "hidden_mean_statistics_stylometry")


def variants(data: dict, layers: list[int], text: np.ndarray) -> dict[str, np.ndarray]:
    """Feature matrices to compare: the LM statistics, hidden states (mean-pooled, and mean plus last
    token) at `layers`, hidden states with the statistics, and all of it with hygiene and stylometry."""
    at = [POOLED_LAYERS.index(layer) for layer in layers]
    hidden = data["hidden"].astype(np.float32)
    stats = np.nan_to_num(data["stats"].astype(np.float32))
    mean = hidden[:, 0, at].reshape(len(hidden), -1)
    last = hidden[:, 1, at].reshape(len(hidden), -1)
    return {"lm_statistics": stats, "statistics_and_stylometry": np.hstack([stats, text]),
            "hidden_mean": mean, "hidden_mean_last": np.hstack([mean, last]),
            "hidden_mean_and_statistics": np.hstack([mean, stats]),
            "hidden_mean_statistics_stylometry": np.hstack([mean, stats, text])}


def within_source_centred(X: np.ndarray, y: np.ndarray, sources: np.ndarray, fit: np.ndarray,
                          min_per_class: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The fitting rows of the sources that hold both classes (at least min_per_class each), each row
    minus its source's class-balanced mean (the midpoint of the two class means), and their indices.

    A probe fit on these learns what tells machine from human text *inside* a source: whatever a source's
    assembly left on all its texts (its domains, its preprocessing, its length cut) is subtracted, and
    the one-class sources (the human pool, the learners' essays), which would teach "looks like a
    benchmark" = machine, take no part. Its scores rank the documents of one source or corpus; where
    that ranking's cut-off lies must come from the corpus itself (a human reference), since the offset
    between sources is exactly what it was kept from learning.
    """
    parts, kept = [], []
    for source in sorted(set(sources[fit])):
        here = fit[sources[fit] == source]
        classes = [here[y[here] == label] for label in (0, 1)]
        if min(len(c) for c in classes) < min_per_class:
            continue
        parts.append(X[here] - 0.5 * (X[classes[0]].mean(axis=0) + X[classes[1]].mean(axis=0)))
        kept.append(here)
    if not parts:
        raise SystemExit(f"no fitting source holds {min_per_class} documents of each class: a within-source "
                         "fit needs more of the plan (a larger --first)")
    return np.concatenate(parts), np.concatenate(kept)


def probe(c: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))


def stacked_scores(rows, y, matrices, fit: np.ndarray, held: np.ndarray, c: float, k: int = 3) -> np.ndarray:
    """The v2 shape: the shipped classifier type (gradient-boosted, Platt-calibrated) over the LM statistics,
    stylometry and the hidden-state probe's score, the probe cross-fitted on the fitting rows (a row's
    probe score comes from a probe that did not see its group) and refit on all of them for the held-out
    rows."""
    hidden, base = matrices["hidden_mean"], matrices["statistics_and_stylometry"]
    probe_score = np.zeros(len(y))
    folds = group_folds(rows, fit, k)
    for fold in range(k):
        inner, outer = fit[folds != fold], fit[folds == fold]
        probe_score[outer] = probe(c).fit(hidden[inner], y[inner]).predict_proba(hidden[outer])[:, 1]
    probe_score[held] = probe(c).fit(hidden[fit], y[fit]).predict_proba(hidden[held])[:, 1]
    X = np.column_stack([base, probe_score])
    calibration = group_folds(rows, fit, 5, seed=1) == 0
    model = BoostedClassifier().fit(X[fit[~calibration]], y[fit[~calibration]])
    model.calibrate(X[fit[calibration]], y[fit[calibration]])
    return model.predict_proba(X[held])[:, 1]


@click.command()
@click.option("--layers", default="10,20,30", show_default=True, help=f"Pooled layers to use, of {POOLED_LAYERS}.")
@click.option("--C", "c", default=0.05, show_default=True, help="Inverse L2 strength of the probe.")
@click.option("--min-tokens", default=50, show_default=True)
@click.option("--stacked/--no-stacked", default=True, show_default=True,
              help="Also the stacked variant (boosted over statistics, stylometry and a cross-fitted probe).")
@click.option("--within-source/--no-within-source", default=False, show_default=True,
              help="Also each input fit within sources (within_source_centred): per-source means removed, "
                   "one-class sources left out; its held-out source AUROC is unchanged by the offset it "
                   "cannot know, its pooled AUROC is not.")
@click.option("--first", type=click.IntRange(1), default=None,
              help="Only the first N documents of the extraction plan (the same set for runs to compare).")
@click.option("--token-cap", default=256, show_default=True, help="The token cap whose cached LM outputs to read.")
@click.option("--reference-model", default=None, help="Local HF causal-LM dir (default: shipped SmolLM2).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the results as JSON.")
def main(layers, c, min_tokens, stacked, within_source, first, token_cap, reference_model, out):
    started = time.time()
    layers = [int(v) for v in layers.split(",")]
    from detector.reference_lm import resolve_reference_model

    cache = LMOutputCache(lm_outputs_key(resolve_reference_model(reference_model).sha256, token_cap))
    rows = [r for r in planned_documents()[:first] if r["id"] in cache and r.get("label") in LABELS]
    if not rows:
        raise SystemExit(f"no LM outputs cached under {cache.directory}: run scripts/extract_lm_outputs.py"
                         f" (--token-cap {token_cap})")
    data = cache.arrays([r["id"] for r in rows])
    keep = data["n_tokens"] >= 2  # too short for any LM output
    rows = [r for r, k in zip(rows, keep) if k]
    data = {k: v[keep] for k, v in data.items()}
    y = np.array([LABELS[r["label"]] for r in rows])
    sources = np.array([source_of(r) for r in rows])
    training = np.array([r["set"] in TRAINING_SETS for r in rows])
    english = np.array([r.get("language") == "en" for r in rows]) & (data["n_tokens"] >= min_tokens)
    print(f"{len(rows)} cached labelled documents ({int(y.sum())} machine); by source: "
          f"{dict(Counter(sources).most_common())}", flush=True)
    matrices = variants(data, layers, text_features(rows))
    names = [*matrices, *(["stacked_boosted"] if stacked else []),
             *([f"{name}_within_source" for name in WITHIN_SOURCE_INPUTS] if within_source else [])]
    pooled = {name: np.full(len(y), np.nan) for name in names}  # every source's held-out scores
    folds = {}
    for source in sorted(set(sources)):
        held = sources == source
        fit = training & ~held
        if y[fit].min() == y[fit].max():
            continue
        scores = {name: probe(c).fit(X[fit], y[fit]).predict_proba(X[held])[:, 1] for name, X in matrices.items()}
        if stacked:
            scores["stacked_boosted"] = stacked_scores(rows, y, matrices, np.flatnonzero(fit), np.flatnonzero(held), c)
        if within_source:
            for name in WITHIN_SOURCE_INPUTS:
                X_fit, fit_rows = within_source_centred(matrices[name], y, sources, np.flatnonzero(fit))
                model = probe(c).fit(X_fit, y[fit_rows])
                scores[f"{name}_within_source"] = model.decision_function(matrices[name][held])
        for name, p in scores.items():
            pooled[name][held] = p
        if y[held].min() == y[held].max():  # one class: no AUROC of its own, its rows only join the pool
            continue
        fold = {"n": int(held.sum()), "n_machine": int(y[held].sum())}
        for name, p in scores.items():
            en_y, en_p = y[held & english], p[english[held]]
            en_auroc = auroc_if_enough(en_y, en_p)
            fold[name] = {"auroc": auroc_if_enough(y[held], p), "english_judgeable_auroc": en_auroc,
                          # the share of the source's machine text a cut-off set on its own human text
                          # (5% of it flagged) catches: what a corpus's own reference would allow
                          "english_judgeable_tpr_at_5pct_fpr": None if en_auroc is None else tpr_at_fpr(en_y, en_p, 0.05)}
        folds[source] = fold
        print(f"  {source} (n={fold['n']}): " + ", ".join(
            f"{name} {fold[name]['auroc'] or float('nan'):.3f}/{fold[name]['english_judgeable_auroc'] or float('nan'):.3f}"
            for name in scores), flush=True)
    summary = {}
    scored = ~np.isnan(pooled[names[0]])
    for name in names:
        # Pooled over every held-out source, each scored by its own fold's model: roughly what one
        # cut-off across many sources faces (not any single model's AUROC).
        summary[f"{name}_pooled"] = {"auroc": auroc_if_enough(y[scored], pooled[name][scored]),
                                     "english_judgeable_auroc": auroc_if_enough(
                                         y[scored & english], pooled[name][scored & english])}
    for name in names:
        for key in ("auroc", "english_judgeable_auroc", "english_judgeable_tpr_at_5pct_fpr"):
            values = [f[name][key] for f in folds.values() if f[name][key] is not None]
            summary[f"{name}_{key}"] = {"mean": float(np.mean(values)) if values else None,
                                        "worst": float(np.min(values)) if values else None, "folds": len(values)}
    result = {"what": "leave-one-source-out probe over cached LM outputs (partial cache: see n_documents)",
              "command": " ".join(["python", "scripts/probe_hidden_states.py", *sys.argv[1:]]),
              "layers": layers, "C": c, "n_documents": len(rows), "n_machine": int(y.sum()),
              "folds": folds, "summary": summary, "seconds": round(time.time() - started, 1)}
    for key, value in summary.items():
        print(f"{key}: {value}")
    if out:
        out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
