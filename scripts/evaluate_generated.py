"""Does generated training text (scripts/generate_continuations.py) make the detector generalise to
sources it never saw?

The held-out sources the detector ranks worst (fast-detect-gpt, EvoBench) lose most of their AUROC on
base models sampling continuations of human openings. This measures whether machine text of that kind
from another generator, added to the training rows, closes it: the held-out figures are computed as the
shipped model's are (each group of source repositories scored by a stack fit without it; everything
learned refit per fold), once without and once with the generated rows. Generated rows keep the source
of their openings, so a fold holds them out with it, and they are never scored, so both runs are judged
on exactly the same rows. Besides the figures of scripts/evaluate_weighting.py, the per-generator
breakdown of the worst sources (each generator against its own source's human text).

    python scripts/generate_continuations.py --generator PATH.gguf --name gemma-3-270m --first 8064
    python scripts/extract_lm_outputs.py --limit 8064 --generated gemma-3-270m
    python scripts/evaluate_generated.py --first 8064 --generated gemma-3-270m --out models/generated_held_out.json

On a prefix of the extraction plan the models are weaker than the shipped one: compare the runs, not
the levels.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from detector.reference_lm import resolve_reference_model
from detector.training.evidence import WEIGHTINGS, held_out_scores, load_evidence_table
from detector.training.folds import (generator_figures, held_out_figures, held_out_run_options, summary_line,
                                     write_held_out_report)

# The sources whose per-generator breakdown is reported: the two worst held out (README).
BREAKDOWN_SOURCES = ("baoguangsheng/fast-detect-gpt", "innerfirexy/EvoBench")


@click.command()
@click.option("--generated", "generated", multiple=True, required=True,
              help="Name of a generated set (scripts/generate_continuations.py --name). Repeatable.")
@click.option("--first", type=click.IntRange(1), default=8064, show_default=True,
              help="Only the first N planned documents (their LM outputs must be cached), and the generated "
                   "documents grown from their openings.")
@click.option("--weighting", type=click.Choice(WEIGHTINGS), default="class", show_default=True)
@held_out_run_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/generated_held_out.json"),
              show_default=True)
def main(generated, first, weighting, k, sequence_epochs, jobs, max_machine_grounded, max_human_flagged,
         confidence, token_cap, reference_model, out):
    import torch

    torch.set_num_threads(1)
    started = time.time()
    source = resolve_reference_model(reference_model)
    tables = {"without": load_evidence_table(source.sha256, token_cap, first),
              "with": load_evidence_table(source.sha256, token_cap, first, generated=generated)}
    n_plain = len(tables["without"].rows)
    n_generated = int(tables["with"].generated.sum())
    # The plan's rows come first in both tables (an extraction adding to the cache between the two loads
    # would break that): the scores are compared row for row.
    if ([r["id"] for r in tables["with"].rows[:n_plain]] != [r["id"] for r in tables["without"].rows]
            or tables["with"].generated[:n_plain].any()):
        raise SystemExit("the two tables do not share their plan rows: is an extraction writing to the cache?")
    if not n_generated:
        raise SystemExit(f"no LM outputs cached for the generated sets {list(generated)}: run "
                         f"scripts/extract_lm_outputs.py --limit {first} --generated NAME")
    print(f"{n_plain} documents, {len(tables['without'].training)} training rows; "
          f"{n_generated} generated rows added", file=sys.stderr, flush=True)
    results = {}
    base = tables["without"]  # both runs are judged on its rows
    for name, table in tables.items():
        # Generated rows (after the plan's) are never scored.
        p = held_out_scores(table, "source", k, 0, {"epochs": sequence_epochs}, jobs, weighting=weighting)[:n_plain]
        results[name] = held_out_figures(base, p, max_machine_grounded, max_human_flagged, confidence)
        results[name]["generators"] = generator_figures(base, p, BREAKDOWN_SOURCES)
        print(f"{summary_line(name + ' generated rows', results[name])} ({time.time() - started:.0f}s)",
              file=sys.stderr, flush=True)
    generated_rows = [r for r, is_generated in zip(tables["with"].rows, tables["with"].generated) if is_generated]
    targets = {"max_machine_grounded": max_machine_grounded, "max_human_flagged": max_human_flagged,
               "confidence": confidence}
    write_held_out_report(out, "scripts/evaluate_generated.py", base, source.sha256, token_cap, targets, started,
                          generated={"sets": list(generated), "n_rows": n_generated,
                                     "generators": sorted({r.get("generator", "") for r in generated_rows})},
                          weighting=weighting, runs=results)
    print(json.dumps({name: {"summary": r["summary"], "pooled_english_judgeable_auroc": r["pooled_english_judgeable_auroc"],
                             "machine": r["machine"], "human": r["human"],
                             "generators": {s: {g: round(v["auroc"], 3) for g, v in gens.items()}
                                            for s, gens in r["generators"].items()}}
                      for name, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
