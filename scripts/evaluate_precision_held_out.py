"""What the reference LM's precision and token cap cost on held-out sources (issue 23's held-out figures).

scripts/evaluate_precision.py measures the shipped model on dev. This measures the same settings out of
fold, as the shipped model's held-out figures are measured: for each group of source repositories
(detector.training.evidence.source_groups), the whole stack is fit without it on bf16 LM outputs at the
training cap (as the shipped model is), and the held-out documents are scored with their LM outputs of
every setting (bf16 or int8, at each token cap): what a user gets who trains in bf16 and scores in
another setting. Thresholds are set on the reference setting's out-of-fold scores by the shipped
model's rule (detector.thresholds.promise_thresholds: at most 10% of machine text grounded, at most 1%
of human text flagged with 95% confidence) and applied unchanged to every setting.

It reads the LM output caches of each setting, on the first --first documents of the extraction plan
(any prefix of the plan is a proportional sample of all its sets), so extract them first:

    python scripts/extract_lm_outputs.py --limit 6000                                  # bf16, cap 256
    python scripts/extract_lm_outputs.py --limit 6000 --precision int8
    python scripts/extract_lm_outputs.py --limit 6000 --token-cap 128
    python scripts/extract_lm_outputs.py --limit 6000 --token-cap 128 --precision int8
    python scripts/evaluate_precision_held_out.py --first 6000 --out models/precision_held_out.json

A subsample, so its models are weaker than the shipped one (trained on every row): the differences
between settings are the point, not the levels.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
import numpy as np

from detector.decision import GROUNDED, SUSPECTED, UNCERTAIN
from detector.features.precision import PRECISIONS
from detector.reference_lm import resolve_reference_model
from detector.thresholds import fpr_upper_bound, promise_thresholds, three_way
from detector.training.evidence import held_out_fold_indices, held_out_p_by_setting, load_evidence_table
from detector.training.folds import auroc_if_enough

CODED = (GROUNDED, UNCERTAIN, SUSPECTED)  # three_way's codes 0, 1, 2


def _settings(value: str) -> list[tuple[str, int]]:
    out = []
    for item in value.split(","):
        precision, _, cap = item.strip().partition("@")
        if precision not in PRECISIONS or not cap.isdigit():
            raise click.BadParameter(f"{item!r} is not PRECISION@CAP ({' or '.join(PRECISIONS)})",
                                     param_hint="--settings")
        out.append((precision, int(cap)))
    return out


def setting_figures(table, p: np.ndarray, judged: np.ndarray, base: np.ndarray, rule: dict, confidence: float) -> dict:
    """AUROC (all, English-judgeable, per source group), decision shares per class on judgeable rows,
    human flagged with its upper bound, and agreement with the reference setting."""
    y = table.y
    scored = np.flatnonzero(~np.isnan(p))
    ground, suspect = rule["ground"], rule["suspect"]
    made, base_made = three_way(p[judged], ground, suspect), three_way(base[judged], ground, suspect)
    shares = {label: {name: float((made[y[judged] == value] == i).mean()) for i, name in enumerate(CODED)}
              for label, value in (("human", 0), ("machine", 1))}
    human = judged[y[judged] == 0]
    flagged = int((p[human] >= suspect).sum())
    by_source = {}
    for source in sorted(set(table.sources[scored])):
        rows = scored[table.sources[scored] == source]
        if (value := auroc_if_enough(y[rows], p[rows])) is not None:  # sources holding both classes
            by_source[source] = value
    return {"auroc": auroc_if_enough(y[scored], p[scored]),
            "english_judgeable_auroc": auroc_if_enough(y[judged], p[judged]),
            "shares": shares,
            "human_flagged": {"n": int(len(human)), "flagged": flagged,
                              "upper_bound": fpr_upper_bound(flagged, len(human), confidence)},
            "decision_agreement_with_reference": float((made == base_made).mean()),
            "p_machine_mean_abs_difference": float(np.abs(p[scored] - base[scored]).mean()),
            "auroc_by_source": by_source}


@click.command()
@click.option("--first", type=click.IntRange(100), default=6000, show_default=True,
              help="The first N documents of the extraction plan (their LM outputs must be cached in every setting).")
@click.option("--settings", "settings_text", default="bf16@256,int8@256,bf16@128,int8@128", show_default=True,
              help="PRECISION@CAP settings to score the held-out documents in; the first is the one fit on.")
@click.option("--cross-fit", "k", default=2, show_default=True, help="Folds for the cross-fitted evidence scores.")
@click.option("--sequence-epochs", default=4, show_default=True)
@click.option("--jobs", default=2, show_default=True, help="Held-out folds fit at once, in worker processes.")
@click.option("--confidence", default=0.95, show_default=True)
@click.option("--reference-model", default=None, help="Local HF causal-LM dir (default: shipped SmolLM2).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def main(first, settings_text, k, sequence_epochs, jobs, confidence, reference_model, out):
    started = time.time()
    settings = _settings(settings_text)
    names = [f"{precision}@{cap}" for precision, cap in settings]
    source = resolve_reference_model(reference_model)
    tables = {name: load_evidence_table(source.sha256, cap, first, precision=precision)
              for name, (precision, cap) in zip(names, settings)}
    ids = {name: [r["id"] for r in t.rows] for name, t in tables.items()}
    if any(v != ids[names[0]] for v in ids.values()):
        counts = ", ".join(f"{n}: {len(v)}" for n, v in ids.items())
        raise SystemExit(f"the settings' caches hold different documents ({counts}): extract --limit {first} in each")
    table = tables[names[0]]
    training = table.training
    folds = [(fit, test) for _, fit, test in held_out_fold_indices(table, "source")]
    click.echo(f"{len(table.rows)} documents, {len(training)} training rows, {len(folds)} source folds, "
               f"settings {', '.join(names)}", err=True)
    p = {name: np.full(len(table.rows), np.nan) for name in names}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.map(held_out_p_by_setting, *zip(*[(tables, names[0], fit, test, k, 0,
                                                           {"epochs": sequence_epochs}, 1) for fit, test in folds]))
        for (fit, test), scored in zip(folds, results):
            for name in names:
                p[name][test] = scored[name]
            click.echo(f"  fold of {len(test)} held-out rows scored ({time.time() - started:.0f}s)", err=True)

    base = p[names[0]]
    judged = table.judgeable(np.flatnonzero(~np.isnan(base)))
    rule = promise_thresholds(base[judged[table.y[judged] == 1]],
                              {"held_out_sources": base[judged[table.y[judged] == 0]]}, confidence=confidence)
    figures = {name: setting_figures(table, p[name], judged, base, rule, confidence) for name in names}
    reference_by_source = figures[names[0]]["auroc_by_source"]
    for name in names[1:]:
        drops = {source: reference_by_source[source] - value
                 for source, value in figures[name]["auroc_by_source"].items() if source in reference_by_source}
        figures[name]["largest_source_auroc_drop"] = max(drops.items(), key=lambda kv: kv[1]) if drops else None
    result = {"command": " ".join(["python", "scripts/evaluate_precision_held_out.py", *sys.argv[1:]]),
              "n_documents": len(table.rows), "n_training_rows": int(len(training)),
              "n_held_out_scored": int((~np.isnan(base)).sum()), "n_judged": int(len(judged)),
              "fit_on": names[0], "thresholds": {"ground": rule["ground"], "suspect": rule["suspect"]},
              # Listed as scripts/evaluate_precision.py lists its settings.
              "settings": [{"precision": precision, "token_cap": cap, **figures[name]}
                           for name, (precision, cap) in zip(names, settings)],
              "seconds": round(time.time() - started, 1)}
    out.write_text(json.dumps(result, indent=1) + "\n")
    for name in names:
        f = figures[name]
        click.echo(f"{name}: AUROC {f['auroc']:.4f} (EJ {f['english_judgeable_auroc']:.4f}); machine flagged "
                   f"{f['shares']['machine']['suspected_synthetic']:.3f}, grounded {f['shares']['machine']['grounded']:.3f}; "
                   f"human flagged {f['human_flagged']['flagged']}/{f['human_flagged']['n']}; "
                   f"agreement {f['decision_agreement_with_reference']:.3f}")
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
