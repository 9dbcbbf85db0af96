"""Does balancing each source's classes make the detector generalise to sources it never saw?

The training sources were assembled with very different class mixes, so with class balance alone a
model can learn "looks like benchmark X" instead of "machine-made" (detector.training.evidence.
source_balanced_weights explains the weighting that removes that shortcut). This measures it as the
shipped model's held-out figures are measured: for each group of source repositories the whole stack
(style model, hidden-state probe, sequence model, boosted classifier, calibration) is fit without it,
once per weighting, and scores it. Per source AUROC (within the source where it has both classes,
against every held-out human text where it has machine text only), pooled AUROC, and the decisions at
thresholds set by the shipped rule on each weighting's own out-of-fold scores (held-out human text as
the only human set: the check sets need the final model, which this does not fit).

    python scripts/extract_lm_outputs.py --limit 6000
    python scripts/evaluate_weighting.py --first 6000 --out models/weighting_held_out.json

On a prefix of the extraction plan (a proportional sample of every set) the models are weaker than the
shipped one: compare the weightings, not the levels.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from detector.reference_lm import resolve_reference_model
from detector.training.evidence import WEIGHTINGS, held_out_scores, load_evidence_table
from detector.training.folds import held_out_figures, held_out_run_options, summary_line, write_held_out_report


@click.command()
@click.option("--first", type=click.IntRange(1), default=6000, show_default=True,
              help="Only the first N planned documents (their LM outputs must be cached).")
@click.option("--weightings", default=",".join(WEIGHTINGS), show_default=True,
              help="Comma-separated weightings to compare.")
@held_out_run_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/weighting_held_out.json"),
              show_default=True)
def main(first, weightings, k, sequence_epochs, jobs, max_machine_grounded, max_human_flagged, confidence,
         token_cap, reference_model, out):
    import torch

    torch.set_num_threads(1)
    chosen = [w.strip() for w in weightings.split(",") if w.strip()]
    unknown = sorted(set(chosen) - set(WEIGHTINGS))
    if unknown or not chosen:
        raise click.BadParameter(f"{unknown or chosen} not among {WEIGHTINGS}", param_hint="--weightings")
    started = time.time()
    source = resolve_reference_model(reference_model)
    table = load_evidence_table(source.sha256, token_cap, first)
    print(f"{len(table.rows)} documents, {len(table.training)} training rows", file=sys.stderr, flush=True)
    results = {}
    for weighting in chosen:
        p = held_out_scores(table, "source", k, 0, {"epochs": sequence_epochs}, jobs, weighting=weighting)
        results[weighting] = held_out_figures(table, p, max_machine_grounded, max_human_flagged, confidence)
        print(f"{summary_line(weighting, results[weighting])} ({time.time() - started:.0f}s)", file=sys.stderr,
              flush=True)
    targets = {"max_machine_grounded": max_machine_grounded, "max_human_flagged": max_human_flagged,
               "confidence": confidence}
    write_held_out_report(out, "scripts/evaluate_weighting.py", table, source.sha256, token_cap, targets, started,
                          weightings=results)
    print(json.dumps({w: {"summary": r["summary"], "pooled_english_judgeable_auroc": r["pooled_english_judgeable_auroc"],
                          "machine": r["machine"], "human": r["human"]} for w, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
