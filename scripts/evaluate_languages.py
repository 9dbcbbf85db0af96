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
import numpy as np

from detector.features.lm import LM_FEATURE_NAMES
from detector.reference_lm import resolve_reference_model
from detector.training.data import LMOutputCache, lm_outputs_key
from detector.training.evidence import held_out_scores, load_evidence_table
from detector.detector import DEFAULT_MODEL_DIR, read_model_json
from detector.thresholds import overwhelming_threshold
from detector.training.folds import (held_out_figures, held_out_run_options, language_figures, statistic_aurocs,
                                     summary_line, unjudged_figures, unjudged_human_sets, write_held_out_report)

MIN_TOKENS = 50


def statistic_directions(table) -> np.ndarray:
    """+1 where a statistic is higher on machine text than on human text among the English-judgeable
    training rows (the shipped LM's), -1 where lower."""
    rows = table.judgeable(table.training)
    machine, human = rows[table.y[rows] == 1], rows[table.y[rows] == 0]
    gap = np.nanmean(table.stats[machine], axis=0) - np.nanmean(table.stats[human], axis=0)
    return np.where(gap >= 0, 1.0, -1.0)


def zero_shot_comparison(table, other_cache: LMOutputCache, names: tuple[str, str]) -> dict:
    """Per detected language, on the labelled rows both LMs scored with at least MIN_TOKENS tokens:
    each statistic's AUROC under each LM, the best of them, and the median tokens per document."""
    direction = statistic_directions(table)
    labelled = np.flatnonzero(table.y >= 0)  # polished-light text (NEITHER) is neither class
    both = np.array([i for i in labelled if table.rows[i]["id"] in other_cache], dtype=int)
    if not len(both):
        raise click.UsageError(f"no labelled document of the table is cached under {other_cache.directory}: "
                               "run scripts/extract_lm_outputs.py with that --reference-model first")
    other = other_cache.arrays([table.rows[i]["id"] for i in both])
    long_enough = (table.n_tokens[both] >= MIN_TOKENS) & (other["n_tokens"] >= MIN_TOKENS)
    out = {}
    for language in sorted(set(table.language[both]), key=str):
        keep = long_enough & (table.language[both] == language)
        rows = both[keep]
        entry = {"n_human": int((table.y[rows] == 0).sum()), "n_machine": int((table.y[rows] == 1).sum())}
        for name, stats, tokens in ((names[0], table.stats[rows], table.n_tokens[rows]),
                                    (names[1], other["stats"][keep].astype(float), other["n_tokens"][keep])):
            aurocs = statistic_aurocs(table.y[rows], stats, LM_FEATURE_NAMES, direction)
            known = {k: v for k, v in aurocs.items() if v is not None}
            best = max(known, key=known.get) if known else None
            entry[name] = {"median_tokens": float(np.median(tokens)) if len(tokens) else None,
                           "best_statistic": best, "best_auroc": known.get(best), "aurocs": aurocs}
        out[str(language)] = entry
    return out


def read_scores(path: Path, table, run: dict) -> np.ndarray:
    """Out-of-fold scores saved by an earlier run, which must be of the same documents in the same order
    and fit the same way (`run`: reference model, token cap, cross-fit folds, sequence epochs)."""
    with np.load(path, allow_pickle=False) as saved:
        ids, p = saved["ids"], saved["p"]
        saved_run = json.loads(str(saved["run"])) if "run" in saved.files else None
    if list(ids) != [r["id"] for r in table.rows]:
        raise click.BadParameter(f"{path} holds the scores of other documents ({len(ids)} against "
                                 f"{len(table.rows)}): remove it or give another path", param_hint="--scores")
    if saved_run != run:
        raise click.BadParameter(f"{path} was fit otherwise ({saved_run} against {run}): remove it or give "
                                 "another path", param_hint="--scores")
    return p


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
        comparison = zero_shot_comparison(table, LMOutputCache(lm_outputs_key(other.sha256, token_cap)),
                                          (source.model_id, other.model_id))
    run = {"reference_model_hash": source.sha256, "token_cap": token_cap, "cross_fit": k,
           "sequence_epochs": sequence_epochs, "weighting": "class"}
    if scores_path and scores_path.suffix != ".npz":
        scores_path = scores_path.with_name(scores_path.name + ".npz")  # where np.savez writes it
    p = read_scores(scores_path, table, run) if scores_path and scores_path.exists() else None
    if p is None:
        p = held_out_scores(table, "source", k, 0, {"epochs": sequence_epochs}, jobs,
                            log=lambda line: print(line, file=sys.stderr, flush=True))
        if scores_path:
            np.savez(scores_path, ids=np.array([r["id"] for r in table.rows]), p=p, run=json.dumps(run))
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
