"""Feature-group and classifier ablations on the hardest held-out folds, from cached features.

Each fold is refit as scripts/evaluate_generalisation.py refits it (style model included, rows without
LM features subsampled to 8,000), then every configuration's classifier is fit on the same rows and
style scores, and scored on the held-out documents the thresholds decide (English, >= 50 tokens).
Every variant is also scored on all the fold's documents (the pooled AUROC the held-out targets are
set on) and on those not in English (where each class has enough documents, as
detector.training.folds.auroc_if_enough decides). The style scores of each fold are cached in WORKDIR
under the style view's version and a hash of the fold's fit rows, so adding a configuration costs only
its fits, and new LM rows (which change the fit rows) get new style scores.

    python scripts/ablate_held_out.py [--configs base,no_style,...] [--workdir .cache/ablate] \
        [--out models/ablation_held_out.json]

Configurations: base (the shipped recipe), no_style (without the style fastText score),
no_stylometry, lm_only, lm_style (LM features and the style score), reg (smaller, more regularised
trees), english (fit on English rows only), additive (the spline-additive model on LM rows),
monotone_lm (the trees may only move the score one way in each zero-shot LM statistic, the way the
zero-shot literature reads it), unigram_gain (one more feature: how much the LM's context lowers the
surprisal per word below a unigram model of the document's language, wordfreq's frequencies, over the
text the LM read; like Binoculars it sets perplexity against how hard the words are), language_std
(every feature re-expressed against the human documents of the same identified language: minus their
median, over their interquartile range; a test of whether the detector's language gap is an offset),
lm_rows_25 and lm_rows_50 (the shipped recipe with
the LM features of all but a random quarter or half of the fit rows that have them hidden: a learning
curve of the LM rows, on the same fit rows and style scores, for judging what extracting LM features
for more training rows would buy; they run only when named in --configs).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import click
import numpy as np


from detector.evaluation import auroc
from detector.features import FULL_FEATURE_NAMES, MAX_FEATURE_CHARS
from detector.features.hygiene import normalize_for_scoring
from detector.features.lm import PerplexityFeatures
from detector.reference_lm import resolve_reference_model
from detector.features.stylometry import _words
from detector.features.style_model import STYLE_FIT_VERSION, STYLE_VIEW_VERSION
from detector.training.data import lm_cache_key
from detector.training.table import (build_table, english_judgeable, feature_matrix, fit_calibrated,
                               generator_family, refit_rows, style_scores)
from detector.training.folds import auroc_if_enough, held_out_test, split_indices

NAMES = np.array(FULL_FEATURE_NAMES)
CONFIGS = ("base", "no_style", "no_stylometry", "lm_only", "lm_style", "reg", "english", "additive",
           "monotone_lm", "unigram_gain", "language_std", "lm_rows_25", "lm_rows_50")
LM_ROW_SHARES = {"lm_rows_25": 0.25, "lm_rows_50": 0.5}
# The learning-curve points vary the data, not the recipe: run only when asked for.
DEFAULT_CONFIGS = tuple(c for c in CONFIGS if c not in LM_ROW_SHARES)
LM_COLUMNS = np.char.startswith(NAMES, "lm_")
# +1: higher reads as machine-like in the zero-shot literature (likelihood, top-k shares, Fast-DetectGPT),
# -1: as human-like (entropy, log-rank, surprisal spread, Binoculars' ratio).
LM_DIRECTION = {"lm_mean_loglik": 1, "lm_mean_entropy": -1, "lm_mean_logrank": -1, "lm_top1_share": 1,
                "lm_top10_share": 1, "lm_top100_share": 1, "lm_top1000_share": 1, "lm_surprisal_std": -1,
                "lm_fast_detectgpt": 1, "lm_binoculars_ratio": -1}
MIN_HUMANS_PER_LANGUAGE = 50
HARD_FAMILIES = ("GPT", "other open models")
HARD_DOMAINS = ("student_essay", "PersonalCommunication", "Code", "MedicalText", "Sports", "LegalDocument")


def folds(table, idx) -> dict:
    """name -> (mask of held-out rows, test indices); 'dev' holds nothing out."""
    family = np.array([generator_family(r.get("generator")) for r in table.rows])
    domain = table.column("domain")
    out = {}
    for name in HARD_FAMILIES:
        held = family == name
        out[f"family:{name}"] = (held, held_out_test(table, idx, held, machine_only=True))
    for name in HARD_DOMAINS:
        held = domain == name
        out[f"domain:{name}"] = (held, held_out_test(table, idx, held, machine_only=False))
    out["dev"] = (np.zeros(len(table.rows), bool), idx["dev"])
    return out


def configuration(name: str, table, fit):
    """(feature columns, classifier kind, classifier parameters, rows to fit on)."""
    columns = np.arange(len(NAMES))
    stylometry = np.char.startswith(NAMES, "sty_")
    style = NAMES == "style_fasttext_p_machine"
    chosen = {"no_style": ~style, "no_stylometry": ~stylometry, "lm_only": LM_COLUMNS, "lm_style": LM_COLUMNS | style}
    if name in chosen:
        columns = columns[chosen[name]]
    if name == "reg":
        return columns, "boosted", dict(min_samples_leaf=200, max_leaf_nodes=7, max_iter=300), fit
    if name == "english":
        return columns, "boosted", {}, fit[table.language[fit] == "en"]
    if name == "additive":
        return columns, "additive", {}, fit[table.has_lm[fit]]
    if name == "monotone_lm":
        return columns, "boosted", dict(monotonic_cst=[LM_DIRECTION.get(n, 0) for n in NAMES]), fit
    return columns, "boosted", {}, fit


def hide_lm_features(X, table, fit, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X with the LM features of all but a random `share` of fit's LM rows set missing, and the mask of
    rows that still have LM features (calibration uses only those, as it does in the shipped recipe)."""
    with_lm = fit[table.has_lm[fit]]
    hidden = np.random.default_rng(seed).permutation(with_lm)[int(round(share * len(with_lm))):]
    out = X.copy()
    out[np.ix_(hidden, np.flatnonzero(LM_COLUMNS))] = np.nan
    calibrate_on = table.has_lm.copy()
    calibrate_on[hidden] = False
    return out, calibrate_on


def unigram_gain(table, workdir: Path) -> np.ndarray:
    """Per row with LM features: unigram surprisal per word minus the LM's surprisal per word, in nats,
    over the text the LM read (its capped tokens); NaN elsewhere. Words unknown to wordfreq count as
    Zipf 1; CJK characters are words; languages wordfreq lacks use English."""
    from wordfreq import available_languages, get_frequency_dict

    # Keyed by the rows and their LM features: new LM rows or another reference model make a new file.
    key = hashlib.sha1("".join(r["id"] for r in table.rows).encode() + table.lm.tobytes()).hexdigest()[:10]
    path = workdir / f"unigram-gain-{key}.npy"
    if path.exists():
        return np.load(path)
    languages, frequencies = set(available_languages()), {}
    lm = PerplexityFeatures()
    rows = np.flatnonzero(table.has_lm & (table.n_tokens >= 2))
    gain = np.full(len(table.rows), np.nan)
    for start in range(0, len(rows), 256):
        part = rows[start:start + 256]
        texts = [normalize_for_scoring(table.rows[i]["text"][:MAX_FEATURE_CHARS]).text for i in part]
        _, offsets = lm.tokenize(texts)
        for i, text, spans in zip(part, texts, offsets):
            language = table.language[i] if table.language[i] in languages else "en"
            if language not in frequencies:
                frequencies[language] = get_frequency_dict(language)
            words = [w for w in _words(text[:spans[-1][1]]) if not w.isdigit()]
            if words:
                unigram = -np.mean([math.log(max(frequencies[language].get(w, 0.0), 1e-8)) for w in words])
                gain[i] = unigram + table.lm[i, 0] * len(spans) / len(words)
    np.save(path, gain)
    return gain


def style_cache_path(workdir: Path, fold: str, table, fit) -> Path:
    """Per fold, style view and fit versions and fit rows: a cache made otherwise is never read."""
    rows = hashlib.sha1("\n".join(table.rows[i]["id"] for i in fit).encode()).hexdigest()[:10]
    fold = fold.replace(" ", "_").replace(":", "_")
    return workdir / f"style-{STYLE_VIEW_VERSION}-{STYLE_FIT_VERSION}-{fold}-{rows}.npy"


def language_standardised(X, table, fit) -> np.ndarray:
    """X with each language's features centred on the median of its human fit rows and scaled by their
    interquartile range (pooled human statistics for languages with too few human rows, and for scales
    of zero)."""
    humans = fit[table.y[fit] == 0]

    def robust(rows):
        q25, q50, q75 = np.nanpercentile(X[rows], [25, 50, 75], axis=0)
        return q50, q75 - q25

    pooled_median, pooled_iqr = robust(humans)
    pooled_iqr = np.where(pooled_iqr > 0, pooled_iqr, np.nan_to_num(np.nanstd(X[humans], axis=0)))
    pooled_iqr = np.where(pooled_iqr > 0, pooled_iqr, 1.0)
    out = (X - pooled_median) / pooled_iqr
    for language in set(table.language[humans]):
        rows = humans[table.language[humans] == language]
        if len(rows) < MIN_HUMANS_PER_LANGUAGE:
            continue
        median, iqr = robust(rows)
        median = np.where(np.isnan(median), pooled_median, median)
        mask = table.language == language
        out[mask] = (X[mask] - median) / np.where(iqr > 0, iqr, pooled_iqr)
    return out


@click.command()
@click.option("--configs", default=",".join(DEFAULT_CONFIGS), show_default=True,
              help=f"Comma-separated, from: {', '.join(CONFIGS)}.")
@click.option("--workdir", default=".cache/ablate", show_default=True, type=click.Path(path_type=Path))
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="Also write the per-fold AUROCs (English judgeable, pooled, not English), their means and "
                   "each LM statistic's own AUROC per fold as JSON.")
def main(configs, workdir, out_path):
    names = [c for c in configs.split(",") if c]
    if set(names) - set(CONFIGS):
        raise click.BadParameter(f"unknown: {sorted(set(names) - set(CONFIGS))}", param_hint="--configs")
    table = build_table(lm_cache_key(resolve_reference_model(None).sha256))
    idx = split_indices(table)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict]] = {}
    single_lm_feature: dict[str, dict[str, float]] = {}
    fit_rows_with_lm: dict[str, int] = {}
    gain = unigram_gain(table, workdir) if "unigram_gain" in names else None
    for fold, (held, test) in folds(table, idx).items():
        test = test[table.has_lm[test]]
        subsets = {"english_judgeable": np.isin(test, english_judgeable(table, test)),
                   "pooled": np.ones(len(test), bool), "not_english": table.language[test] != "en"}
        fit = refit_rows(table, idx["fit"][~held[idx["fit"]]])
        fit_rows_with_lm[fold] = int(table.has_lm[fit].sum())
        path = style_cache_path(workdir, fold, table, fit)
        if path.exists():
            style = np.load(path)
        else:
            style, _ = style_scores(table, fit, test, k=2, seed=0)
            np.save(path, style)
        X = feature_matrix(table, style, with_lm=True)
        judged = test[subsets["english_judgeable"]]
        # Each zero-shot statistic on its own (higher = machine), for reading the variants against.
        single_lm_feature[fold] = {n: auroc(table.y[judged], X[judged, j])
                                   for j, n in enumerate(NAMES) if LM_COLUMNS[j]}
        for name in names:
            started = time.time()
            columns, kind, params, rows = configuration(name, table, fit)
            Xc, calibrate_on = X, table.has_lm
            if name == "language_std":
                Xc = language_standardised(X, table, rows)
            elif name == "unigram_gain":
                Xc = np.column_stack([X, gain])
                columns = np.append(columns, X.shape[1])
            elif name in LM_ROW_SHARES:
                Xc, calibrate_on = hide_lm_features(X, table, rows, LM_ROW_SHARES[name])
            model = fit_calibrated(Xc[:, columns], table.y, table.rows, rows, kind=kind,
                                   calibrate_on=calibrate_on, **params)
            p = model.predict_proba(Xc[test][:, columns])[:, 1]
            results.setdefault(name, {})[fold] = {
                f"{subset}_auroc": auroc_if_enough(table.y[test][mask], p[mask]) for subset, mask in subsets.items()}
            print(f"{name:14s} {fold:30s} " + "  ".join(f"{k} {_fmt(v)}" for k, v in results[name][fold].items())
                  + f" ({time.time() - started:.0f}s)", flush=True)
    summary = {}
    for name, by_fold in results.items():
        summary[name] = {"folds": by_fold}
        for subset in subsets:
            values = [v[f"{subset}_auroc"] for k, v in by_fold.items() if k != "dev"]
            values = [v for v in values if v is not None]
            summary[name][f"mean_held_out_{subset}_auroc"] = float(np.mean(values)) if values else None
    for subset in subsets:
        print(f"mean over held-out folds, {subset}:")
        for name, by_fold in results.items():
            print(f"  {name:14s} {_fmt(summary[name][f'mean_held_out_{subset}_auroc'])}  "
                  + "  ".join(f"{k}={_fmt(v[f'{subset}_auroc'])}" for k, v in by_fold.items()))
    if out_path:
        out_path.write_text(json.dumps({"configurations": summary, "fit_rows_with_lm": fit_rows_with_lm,
                                        "single_lm_feature_english_judgeable_auroc": single_lm_feature}, indent=1))
        print(f"wrote {out_path}")


def _fmt(value) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
