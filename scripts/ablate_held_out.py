"""Feature-group and classifier ablations on the hardest held-out folds, from cached features.

Each fold is refit as scripts/evaluate_generalisation.py refits it (style model included, rows without
LM features subsampled to 8,000), then every configuration's classifier is fit on the same rows and
style scores, and scored on the held-out documents the thresholds decide (English, >= 50 tokens).
The style scores of each fold are cached in WORKDIR under the style view's version, so adding a
configuration costs only its fits; empty WORKDIR after the training data changes.

    python scripts/ablate_held_out.py [--configs base,no_style,...] [--workdir .cache/ablate]

Configurations: base (the shipped recipe), no_style (without the style fastText score),
no_stylometry, lm_only, lm_style (LM features and the style score), reg (smaller, more regularised
trees), english (fit on English rows only), additive (the spline-additive model on LM rows).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.evaluation import auroc  # noqa: E402
from detector.features import FULL_FEATURE_NAMES  # noqa: E402
from detector.reference_lm import resolve_reference_model  # noqa: E402
from detector.style_fasttext import STYLE_VIEW_VERSION  # noqa: E402
from scripts._data import lm_cache_key  # noqa: E402
from scripts._training import (build_table, english_judgeable, feature_matrix, fit_calibrated,  # noqa: E402
                               generator_family, refit_rows, style_scores)
from scripts.evaluate_generalisation import _indices, held_out_test  # noqa: E402

NAMES = np.array(FULL_FEATURE_NAMES)
CONFIGS = ("base", "no_style", "no_stylometry", "lm_only", "lm_style", "reg", "english", "additive")
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
    lm = np.array([n.startswith("lm_") for n in NAMES])
    stylometry = np.array([n.startswith("sty_") for n in NAMES])
    style = NAMES == "style_fasttext_p_machine"
    chosen = {"no_style": ~style, "no_stylometry": ~stylometry, "lm_only": lm, "lm_style": lm | style}
    if name in chosen:
        columns = columns[chosen[name]]
    if name == "reg":
        return columns, "boosted", dict(min_samples_leaf=200, max_leaf_nodes=7, max_iter=300), fit
    if name == "english":
        return columns, "boosted", {}, fit[table.language[fit] == "en"]
    if name == "additive":
        return columns, "additive", {}, fit[table.has_lm[fit]]
    return columns, "boosted", {}, fit


@click.command()
@click.option("--configs", default=",".join(CONFIGS), show_default=True)
@click.option("--workdir", default=".cache/ablate", show_default=True, type=click.Path(path_type=Path))
def main(configs, workdir):
    names = [c for c in configs.split(",") if c]
    if set(names) - set(CONFIGS):
        raise click.BadParameter(f"unknown: {sorted(set(names) - set(CONFIGS))}", param_hint="--configs")
    table = build_table(lm_cache_key(resolve_reference_model(None).sha256))
    idx = _indices(table)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    for fold, (held, test) in folds(table, idx).items():
        test = english_judgeable(table, test[table.has_lm[test]])
        fit = refit_rows(table, idx["fit"][~held[idx["fit"]]])
        path = workdir / f"style-{STYLE_VIEW_VERSION}-{fold.replace(' ', '_').replace(':', '_')}.npy"
        if path.exists():
            style = np.load(path)
        else:
            style, _ = style_scores(table, fit, test, k=2, seed=0)
            np.save(path, style)
        X = feature_matrix(table, style, with_lm=True)
        for name in names:
            started = time.time()
            columns, kind, params, rows = configuration(name, table, fit)
            model = fit_calibrated(X[:, columns], table.y, table.rows, rows, kind=kind,
                                   calibrate_on=table.has_lm, **params)
            results.setdefault(name, {})[fold] = auroc(table.y[test], model.predict_proba(X[test][:, columns])[:, 1])
            print(f"{name:14s} {fold:30s} {results[name][fold]:.3f} ({time.time() - started:.0f}s)", flush=True)
    for name, by_fold in results.items():
        held_out = [v for k, v in by_fold.items() if k != "dev"]
        print(f"{name:14s} mean of held-out folds {np.mean(held_out):.3f}  "
              + "  ".join(f"{k}={v:.3f}" for k, v in by_fold.items()))


if __name__ == "__main__":
    main()
