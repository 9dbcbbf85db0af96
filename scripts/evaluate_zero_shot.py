"""Is it the reference LM or the learned combination that fails on the worst held-out sources?

Beside the detector's held-out scores (each source group scored by a stack fit without it, as the
shipped model's held-out figures are measured), each LM statistic is read on its own, zero-shot: no fit,
its sign the one it has among the English-judgeable training rows. Per source (English judgeable):

1. the stack's AUROC and each statistic's;
2. within the sources asked for (default: those the stack ranks below 0.85), each generator's machine
   text against the source's own human text, for the stack and for one statistic (--statistic);
3. the stack's log-odds plus a weight times that statistic, each standardised (a fixed blend, not a
   fit), at each --blend-weights: per source, mean, and machine text flagged at thresholds set by the
   shipped rule on the blend;
4. optionally (--compare-reference) the statistics of a second reference LM on the documents of those
   sources it has scored (extract them first), per source and per generator.

    python scripts/evaluate_zero_shot.py --scores held_out_scores.npz \\
        --compare-reference gemma-3-270m-q4_k_m.gguf --out models/zero_shot_held_out.json

The scores file is the one scripts/evaluate_languages.py --scores writes (the same fits), read when it
exists, else written after the fits.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from detector.features.lm import LM_FEATURE_NAMES
from detector.reference_lm import resolve_reference_model
from detector.training.data import LMOutputCache, lm_outputs_key
from detector.training.evidence import load_evidence_table
from detector.training.folds import generator_figures, held_out_figures, held_out_run_options, write_held_out_report
from detector.training.zero_shot import (blend_with_statistic, compare_statistics, held_out_run, rows_by_value,
                                         source_held_out_scores, statistic_directions)

WORST_BELOW = 0.85  # the floor for a held-out source


def brief(figures: dict, with_flagged: bool = True) -> dict:
    """What the report keeps of a held_out_figures result: the English-judgeable summary, each source's
    English-judgeable AUROC and (with_flagged) the machine share flagged at the rule's thresholds."""
    out = {"summary": figures["summary"]["english_judgeable_auroc"],
           "by_source": {source: f["english_judgeable_auroc"] for source, f in figures["folds"].items()}}
    if with_flagged:
        out["machine_flagged"] = figures["machine"]["flagged"]
        out["human_flagged_upper_bound"] = figures["human"]["flagged_upper_bound"]
        out["thresholds"] = figures["thresholds"]
    return out


def zero_shot_figures(table, p: np.ndarray, statistic: str, weights, sources, targets: dict) -> dict:
    """Items 1-3 of the module docstring, from the held-out scores p (NaN where not scored)."""
    scored = np.flatnonzero(~np.isnan(p))
    direction = statistic_directions(table)
    stack = brief(held_out_figures(table, p, **targets))
    signed = {}
    for column, name in enumerate(LM_FEATURE_NAMES):
        values = np.full(len(p), np.nan)
        values[scored] = direction[column] * table.stats[scored, column]
        signed[name] = values
    if sources is None:
        sources = sorted(s for s, a in stack["by_source"].items() if a is not None and a < WORST_BELOW)
    # Blended only where the figures are read (English, judgeable), so that the standardisation is theirs.
    blended = table.judgeable(scored[~np.isnan(signed[statistic][scored])])
    return {
        "stack": stack,
        "statistics": {name: brief(held_out_figures(table, values, **targets), with_flagged=False)
                       for name, values in signed.items()},
        "directions": {name: float(d) for name, d in zip(LM_FEATURE_NAMES, direction)},
        "statistic": statistic,
        "generators": {"sources": list(sources), "stack": generator_figures(table, p, sources),
                       statistic: generator_figures(table, signed[statistic], sources)},
        "blends": {str(weight): brief(held_out_figures(
            table, blend_with_statistic(p, signed[statistic], weight, blended), **targets)) for weight in weights},
    }


def reference_comparison(table, p: np.ndarray, other_cache: LMOutputCache, names: tuple[str, str],
                         sources) -> dict:
    """Item 4: per source, and per generator of each source against its own human text, on the
    English-judgeable documents both LMs scored (and the stack scored held out)."""
    judged = table.judgeable(np.flatnonzero(~np.isnan(p)))
    judged = judged[np.isin(table.sources[judged], list(sources))]
    judged = np.array([i for i in judged if table.rows[i]["id"] in other_cache], dtype=int)
    if not len(judged):
        return {"by_source": {}, "by_generator": {},
                "note": "the other LM has scored none of these sources' English-judgeable documents"}
    generators = table.column("generator")
    by_generator = {}
    for source in sorted(set(table.sources[judged])):  # the sources the other LM has scored
        here = judged[table.sources[judged] == source]
        human = here[table.y[here] == 0]
        for generator in sorted(set(generators[here[table.y[here] == 1]])):
            own = here[(table.y[here] == 1) & (generators[here] == generator)]
            by_generator[f"{source} | {generator}"] = np.r_[human, own]
    return {"by_source": compare_statistics(table, other_cache, names, rows_by_value(table.sources, judged)),
            "by_generator": compare_statistics(table, other_cache, names, by_generator)}


@click.command()
@click.option("--first", type=click.IntRange(1), default=None,
              help="Only the first N planned documents (default: every planned document whose LM outputs are "
                   "cached).")
@click.option("--scores", "scores_path", type=click.Path(path_type=Path), default=None,
              help="An .npz of the out-of-fold scores (as scripts/evaluate_languages.py --scores writes): read "
                   "when it exists, else written after the fits.")
@click.option("--statistic", type=click.Choice(LM_FEATURE_NAMES), default="lm_fast_detectgpt", show_default=True,
              help="The statistic broken down by generator and blended with the stack.")
@click.option("--blend-weights", default="0.5,1", show_default=True,
              help="Comma-separated weights of the standardised statistic added to the stack's standardised "
                   "log-odds.")
@click.option("--sources", default=None,
              help="Comma-separated source repositories to break down by generator (default: every source the "
                   f"stack ranks below {WORST_BELOW}).")
@click.option("--compare-reference", default=None,
              help="Another reference LM (.gguf file or HF directory): its statistics beside the shipped LM's on "
                   "the English documents of the broken-down sources that it has scored (run "
                   "scripts/extract_lm_outputs.py --languages en --sources ... --reference-model first).")
@held_out_run_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/zero_shot_held_out.json"),
              show_default=True)
def main(first, scores_path, statistic, blend_weights, sources, compare_reference, k, sequence_epochs, jobs,
         max_machine_grounded, max_human_flagged, confidence, token_cap, reference_model, out):
    import torch

    torch.set_num_threads(1)
    started = time.time()
    try:
        weights = [float(w) for w in blend_weights.split(",") if w.strip()]
    except ValueError:
        raise click.BadParameter(f"not a list of numbers: {blend_weights!r}", param_hint="--blend-weights")
    source = resolve_reference_model(reference_model)
    other = resolve_reference_model(compare_reference) if compare_reference else None
    table = load_evidence_table(source.sha256, token_cap, first)
    asked = sorted({s.strip() for s in (sources or "").split(",") if s.strip()}) or None
    unknown = sorted(set(asked or ()) - set(table.sources))
    if unknown:
        raise click.BadParameter(f"no planned document comes from {unknown}", param_hint="--sources")
    other_cache = None
    if other is not None:  # before the long fit, so that a missing cache fails at once
        other_cache = LMOutputCache(lm_outputs_key(other.sha256, token_cap))
        if not any(row["id"] in other_cache for row in table.rows):
            raise click.UsageError(f"nothing of the plan is cached under {other_cache.directory}: run "
                                   "scripts/extract_lm_outputs.py with that --reference-model first")
    print(f"{len(table.rows)} documents, {len(table.training)} training rows", file=sys.stderr, flush=True)
    run = held_out_run(source.sha256, token_cap, k, sequence_epochs)
    p = source_held_out_scores(table, scores_path, run, jobs, log=lambda line: print(line, file=sys.stderr, flush=True))
    targets = {"max_machine_grounded": max_machine_grounded, "max_human_flagged": max_human_flagged,
               "confidence": confidence}
    figures = zero_shot_figures(table, p, statistic, weights, asked, targets)
    summary = figures["stack"]["summary"]
    shown_mean, shown_worst = ("n/a" if v is None else f"{v:.3f}" for v in (summary["mean"], summary["worst_value"]))
    print(f"stack held out: English-judgeable mean AUROC {shown_mean}, worst {summary['worst']} {shown_worst}",
          file=sys.stderr, flush=True)
    comparison = None
    if other is not None:
        comparison = {"model": other.model_id, "sha256": other.sha256, **reference_comparison(
            table, p, other_cache, (source.model_id, other.model_id), figures["generators"]["sources"])}
    write_held_out_report(out, "scripts/evaluate_zero_shot.py", table, source.sha256, token_cap, targets, started,
                          run=run, **figures, compare_reference=comparison)
    shown = {"stack": figures["stack"]["by_source"], statistic: figures["statistics"][statistic]["by_source"],
             **{f"blend {w}": b["by_source"] for w, b in figures["blends"].items()}}
    print(json.dumps(shown, indent=1))


if __name__ == "__main__":
    main()
