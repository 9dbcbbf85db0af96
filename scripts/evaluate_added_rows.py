"""Do added training rows make the detector generalise to sources it never saw?

Two kinds of rows can be added, each only ever fit on (EvidenceTable.fit_only), so the source groups and
the scored rows stay those of the run without them and both runs are judged on exactly the same rows:
- generated text (`--generated NAME`, scripts/generate_continuations.py): machine continuations of human
  openings, which keep their opening's source, so a fold holds them out with it;
- the rest of train.jsonl (`--extended`): the extended plan's rows after the plan's documents, whatever
  of them scripts/extract_lm_outputs.py --extended has cached; the runs are then judged on the whole plan.

The held-out figures are computed as the shipped model's are (each group of source repositories scored by
a stack fit without it; everything learned refit per fold), once without and once with the added rows;
with `--family-folds` each generator family is held out the same way too. Besides the figures of
scripts/evaluate_weighting.py, the per-generator breakdown of the worst sources (each generator against
its own source's human text).

    python scripts/generate_continuations.py --generator PATH.gguf --name gemma-3-270m --first 8064
    python scripts/extract_lm_outputs.py --limit 8064 --generated gemma-3-270m
    python scripts/evaluate_added_rows.py --first 8064 --generated gemma-3-270m --out models/generated_held_out.json

    python scripts/extract_lm_outputs.py --extended
    python scripts/evaluate_added_rows.py --extended --family-folds --out models/extended_held_out.json

On a prefix of the extraction plan the models are weaker than the shipped one: compare the runs, not
the levels. (This script was scripts/evaluate_generated.py, whose --first defaulted to 8064 and --out to
models/generated_held_out.json; now they default to the whole plan and models/added_rows_held_out.json.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from detector.reference_lm import resolve_reference_model
from detector.training.data import EXTENSION_SETS
from detector.training.evidence import WEIGHTINGS, held_out_scores, load_evidence_table
from detector.training.folds import (family_held_out_figures, generator_figures, held_out_figures,
                                     held_out_run_options, summarise_folds, summary_line, write_held_out_report)

# The sources whose per-generator breakdown is reported: the two worst held out (README).
BREAKDOWN_SOURCES = ("baoguangsheng/fast-detect-gpt", "innerfirexy/EvoBench")


@click.command()
@click.option("--generated", "generated", multiple=True,
              help="Add the generated set of this name (scripts/generate_continuations.py --name). Repeatable.")
@click.option("--extended", is_flag=True,
              help="Add the rows of the extended plan after the plan's documents (the rest of train.jsonl) that "
                   "are cached. The runs are then judged on the whole plan.")
@click.option("--first", type=click.IntRange(1), default=None,
              help="Only the first N planned documents (their LM outputs must be cached), and the generated "
                   "documents grown from their openings. Default: the whole plan (the only choice with --extended).")
@click.option("--family-folds/--no-family-folds", default=False, show_default=True,
              help="Also leave each generator family out, in both runs.")
@click.option("--weighting", type=click.Choice(WEIGHTINGS), default="class", show_default=True)
@held_out_run_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/added_rows_held_out.json"),
              show_default=True)
@click.option("--scores", type=click.Path(path_type=Path), default=None,
              help="Also save each run's held-out scores of the plan's documents here (NPZ: ids, then one array per "
                   "run and fold key, NaN where not scored), for comparisons the report does not make.")
def main(generated, extended, first, family_folds, weighting, k, sequence_epochs, jobs, max_machine_grounded,
         max_human_flagged, confidence, token_cap, reference_model, out, scores):
    import torch

    if not generated and not extended:
        raise click.UsageError("nothing to add: give --generated NAME or --extended")
    if extended and first is not None:
        # The extension follows the whole plan: with a prefix, the planned rows beyond it would be added
        # as well, fit on and not judged.
        raise click.UsageError("--extended judges the whole plan: leave --first out")
    torch.set_num_threads(1)
    started = time.time()
    source = resolve_reference_model(reference_model)
    tables = {"without": load_evidence_table(source.sha256, token_cap, first),
              "with": load_evidence_table(source.sha256, token_cap, first,
                                          generated=generated, extended=extended, fit_only_sets=EXTENSION_SETS)}
    n_plain = len(tables["without"].rows)
    added = tables["with"].fit_only
    # The plan's rows come first in both tables (an extraction adding to the cache between the two loads
    # would break that): the scores are compared row for row.
    if ([r["id"] for r in tables["with"].rows[:n_plain]] != [r["id"] for r in tables["without"].rows]
            or added[:n_plain].any() or not added[n_plain:].all()):
        raise SystemExit("the two tables do not share their plan rows: is an extraction writing to the cache?")
    if not added.any():
        raise SystemExit("no LM outputs cached for the added rows: run scripts/extract_lm_outputs.py "
                         + ("--extended" if extended else f"--limit {first} --generated NAME"))
    print(f"{n_plain} documents, {len(tables['without'].training)} training rows; "
          f"{int(added.sum())} training rows added", file=sys.stderr, flush=True)
    results, saved = {}, {}
    base = tables["without"]  # both runs are judged on its rows
    sequence_params = {"epochs": sequence_epochs}
    for name, table in tables.items():
        # Added rows (after the plan's) are never scored.
        p = held_out_scores(table, "source", k, 0, sequence_params, jobs, weighting=weighting)[:n_plain]
        results[name] = held_out_figures(base, p, max_machine_grounded, max_human_flagged, confidence)
        results[name]["generators"] = generator_figures(base, p, BREAKDOWN_SOURCES)
        saved[f"{name}_source"] = p
        if family_folds:
            p_family = held_out_scores(table, "family", k, 0, sequence_params, jobs, weighting=weighting)[:n_plain]
            folds = family_held_out_figures(base, p, p_family)
            saved[f"{name}_family"] = p_family
            results[name]["family"] = {"folds": folds, "summary": summarise_folds(folds)}
        print(f"{summary_line(name + ' added rows', results[name])} ({time.time() - started:.0f}s)",
              file=sys.stderr, flush=True)
    if scores:
        scores.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(scores, ids=np.array([r["id"] for r in base.rows]), **saved)
    with_table = tables["with"]
    generated_rows = [r for r, is_generated in zip(with_table.rows, with_table.generated) if is_generated]
    extension_rows = np.flatnonzero(np.isin(with_table.sets, EXTENSION_SETS))
    added_fields = {}
    if generated:
        added_fields["generated"] = {"sets": list(generated), "n_rows": len(generated_rows),
                                     "generators": sorted({r.get("generator", "") for r in generated_rows})}
    if extended:
        added_fields["extension"] = {"sets": list(EXTENSION_SETS), "n_rows": int(extension_rows.size),
                                     "n_machine": int((with_table.y[extension_rows] == 1).sum())}
    targets = {"max_machine_grounded": max_machine_grounded, "max_human_flagged": max_human_flagged,
               "confidence": confidence}
    write_held_out_report(out, "scripts/evaluate_added_rows.py", base, source.sha256, token_cap, targets, started,
                          **added_fields, weighting=weighting, runs=results)
    print(json.dumps({name: {"summary": r["summary"], "pooled_english_judgeable_auroc": r["pooled_english_judgeable_auroc"],
                             "machine": r["machine"], "human": r["human"],
                             **({"family": r["family"]["summary"]} if family_folds else {}),
                             "generators": {s: {g: round(v["auroc"], 3) for g, v in gens.items()}
                                            for s, gens in r["generators"].items()}}
                      for name, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
