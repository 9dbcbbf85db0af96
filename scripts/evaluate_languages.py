"""Which languages could the detector judge? The language gate (`supported_languages`, English only)
sends every other language to `uncertain`; this measures, per detected language, whether it may open.

1. The detector, held out: for each group of source repositories the whole stack is fit without it
   and scores it (as the shipped model's held-out figures are measured), thresholds are set by the
   shipped rule on the English-judgeable out-of-fold scores, and each language's held-out rows are
   read at them: AUROC, human text flagged with its one-sided 95% bound (overall and per source),
   machine text flagged and grounded (detector.training.folds.language_figures). A language may open
   only where its human bound meets the false-positive target and its machine share in `grounded`
   meets the miss target, which needs at least 299 held-out human documents even when none is flagged.
2. The `overwhelming` path (a document the LM cannot judge is flagged all the same past it): per kind
   (each other language, too-short English), held-out human and machine text it flags at the shipped
   model's cut-off and at the cut-off detector.thresholds.overwhelming_threshold sets on these scores.
3. Optionally (--compare-reference), a second reference LM's zero-shot evidence on the same documents:
   each LM statistic's AUROC on its own, per language, for the shipped reference LM and the other one
   (their directions fixed on the shipped LM's English training rows), and how many tokens each
   tokenizer makes of the text. Extract the other LM's outputs for the non-English documents first.

    python scripts/extract_lm_outputs.py --limit 16640
    python scripts/extract_lm_outputs.py --limit 16640 --languages ar,bg,es,id,pt,ru,ur,zh \\
        --reference-model gemma-3-270m-q4_k_m.gguf
    python scripts/evaluate_languages.py --first 16640 --compare-reference gemma-3-270m-q4_k_m.gguf \\
        --out models/languages_held_out.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from detector.reference_lm import resolve_reference_model
from detector.training.data import LMOutputCache, lm_outputs_key
from detector.training.evidence import load_evidence_table
from detector.detector import DEFAULT_MODEL_DIR, read_model_json
from detector.thresholds import overwhelming_threshold
from detector.training.folds import (held_out_figures, held_out_run_options, language_figures, summary_line,
                                     unjudged_figures, unjudged_human_sets, write_held_out_report)
from detector.training.zero_shot import (MIN_TOKENS, compare_statistics, held_out_run, rows_by_value,
                                         source_held_out_scores)


@click.command()
@click.option("--first", type=click.IntRange(1), default=16640, show_default=True,
              help="Only the first N planned documents (their LM outputs must be cached).")
@click.option("--compare-reference", default=None,
              help="Another reference LM (.gguf file or HF directory) whose cached outputs to compare per "
                   "language, zero-shot.")
@click.option("--scores", "scores_path", type=click.Path(path_type=Path), default=None,
              help="An .npz of the out-of-fold scores: read when it exists (for the same documents), else "
                   "written after the fits, so a rerun (another --compare-reference) skips the refits.")
@held_out_run_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/languages_held_out.json"),
              show_default=True)
def main(first, compare_reference, scores_path, k, sequence_epochs, jobs, max_machine_grounded, max_human_flagged, confidence,
         token_cap, reference_model, out):
    import torch

    torch.set_num_threads(1)
    started = time.time()
    source = resolve_reference_model(reference_model)
    other = resolve_reference_model(compare_reference) if compare_reference else None
    table = load_evidence_table(source.sha256, token_cap, first)
    print(f"{len(table.rows)} documents, {len(table.training)} training rows", file=sys.stderr, flush=True)
    comparison = None
    if other is not None:  # before the long fit, so that a missing cache fails at once
        comparison = compare_statistics(table, LMOutputCache(lm_outputs_key(other.sha256, token_cap)),
                                        (source.model_id, other.model_id), rows_by_value(table.language))
    run = held_out_run(source.sha256, token_cap, k, sequence_epochs)
    p = source_held_out_scores(table, scores_path, run, jobs, log=lambda line: print(line, file=sys.stderr, flush=True))
    english = held_out_figures(table, p, max_machine_grounded, max_human_flagged, confidence)
    print(summary_line("held out", english), file=sys.stderr, flush=True)
    thresholds = english["thresholds"]
    languages = language_figures(table, p, thresholds["suspect"], thresholds["ground"], max_human_flagged,
                                 max_machine_grounded, confidence, MIN_TOKENS)
    # What the `overwhelming` path (documents the LM cannot judge, flagged all the same) does held out:
    # at the shipped model's cut-off and at the rule's (detector.thresholds.overwhelming_threshold).
    rule_cut, rule_by_set = overwhelming_threshold(thresholds["suspect"], unjudged_human_sets(table, p, MIN_TOKENS),
                                                   max_human_flagged, confidence)
    shipped_cut = read_model_json(DEFAULT_MODEL_DIR)[0]["thresholds"]["overwhelming"]
    unjudged = {"cutoffs": {"shipped": shipped_cut, "rule": rule_cut}, "rule_by_set": rule_by_set,
                "by_kind": unjudged_figures(table, p, {"shipped": shipped_cut, "rule": rule_cut}, MIN_TOKENS)}
    targets = {"max_machine_grounded": max_machine_grounded, "max_human_flagged": max_human_flagged,
               "confidence": confidence}
    write_held_out_report(out, "scripts/evaluate_languages.py", table, source.sha256, token_cap, targets, started,
                          run=run, english_thresholds=thresholds,
                          english={key: english[key] for key in ("summary", "pooled_english_judgeable_auroc",
                                                                 "machine", "human")},
                          languages=languages, unjudged=unjudged,
                          compare_reference=None if other is None else {
                              "model": other.model_id, "sha256": other.sha256, "by_language": comparison})
    print(json.dumps({lang: {key: f[key] for key in ("n_human", "n_machine", "auroc", "human_flagged",
                                                      "human_flagged_upper_bound", "machine_flagged",
                                                      "machine_grounded", "gate_may_open")}
                      for lang, f in languages.items()}, indent=1))


if __name__ == "__main__":
    main()
