"""Train the shipped model (models/default), detector v2, and measure it out of fold.

Reads the LM outputs cached by scripts/extract_lm_outputs.py (statistics, pooled hidden states,
per-token sequences of every planned document extracted so far) and fits the stack of
detector.training.evidence on the training sets (train.jsonl sample, modern and learners train splits,
human pool). polished_light is never fit as either class; grounded_docs is never fit on nor used for
thresholds.

1. Leave one source out: for each source repository, everything learned (style model, hidden-state
   probe, sequence model, stack, calibration) is refit without it and scores its rows, in every set.
   These out-of-fold scores set the thresholds and give the held-out figures.
2. Optionally leave one generator family out (--family-folds), the same way, for the report.
3. The shipped model is fit on every training row and scores the check sets (dev samples, the
   learners' and modern's dev splits, grounded_docs, polished_light).
4. Thresholds (detector.thresholds.promise_thresholds): `grounded` holds at most --max-machine-grounded
   of the held-out machine text; `suspected_synthetic` flags at most --max-human-flagged of human text
   with --confidence on each human set: held-out sources, the learners' dev split, dev.jsonl.

    python scripts/train_default_model.py [--family-folds] [--out models/default] [--report models/evaluation_v2.json]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from detector import __version__
from detector.detector import (HELD_OUT_SCORES_FILE, HIDDEN_PROBE_FILE, SEQUENCE_MODEL_FILE, STYLE_FILE,
                               write_artifact_hashes)
from detector.features import CHEAP_FEATURE_NAMES, FULL_FEATURE_NAMES
from detector.features.lm import LM_FEATURE_VERSION, LM_OUTPUTS_VERSION
from detector.features.style_model import STYLE_VIEW_VERSION
from detector.reference_lm import resolve_reference_model
from detector.thresholds import cascade_cutoff, overwhelming_threshold, promise_thresholds, threshold_for_miss_rate
from detector.training.evidence import NEITHER, WEIGHTINGS, fit_stack, held_out_scores, load_evidence_table
from detector.training.folds import (auroc_if_enough, family_held_out_figures, fold_figures, summarise_folds,
                                     unjudged_human_sets)

# Above any probability: the cheap stage never flags alone (removing text needs the LM's evidence).
CHEAP_NEVER_FLAGS = 1.5
CHECK_SETS = {"dev": "dev:all", "modern_dev": "modern:dev", "learners_dev": "learners:dev",
              "grounded_docs": "grounded_docs:all", "polished_light_dev": "polished_light:dev"}


def decision_shares(p: np.ndarray, ground: float, suspect: float) -> dict:
    p = p[~np.isnan(p)]
    return {"n": int(len(p)), "grounded": float((p < ground).mean()) if len(p) else None,
            "uncertain": float(((p >= ground) & (p < suspect)).mean()) if len(p) else None,
            "suspected_synthetic": float((p >= suspect).mean()) if len(p) else None}


@click.command()
@click.option("--max-machine-grounded", default=0.10, show_default=True,
              help="Share of held-out machine text allowed in `grounded`.")
@click.option("--max-human-flagged", default=0.01, show_default=True,
              help="Share of human text allowed in `suspected_synthetic`, on every human set.")
@click.option("--confidence", default=0.95, show_default=True,
              help="Confidence with which the human-flagged target must hold (Clopper-Pearson).")
@click.option("--cascade-auroc-loss", default=0.005, show_default=True,
              help="AUROC the cheap stage may cost on dev where it decides alone.")
@click.option("--cascade-disagreement", default=0.02, show_default=True,
              help="Share of its own decisions the cheap stage may decide differently from the full model.")
@click.option("--cheap-miss", default=0.01, show_default=True, help="Miss rate allowed where the cheap stage grounds alone.")
@click.option("--family-folds/--no-family-folds", default=False, show_default=True,
              help="Also leave each generator family out (for the report).")
@click.option("--cross-fit", "k", default=2, show_default=True, help="Folds for the cross-fitted evidence scores.")
@click.option("--sequence-epochs", default=4, show_default=True, help="Training epochs of the sequence model.")
@click.option("--first", type=click.IntRange(1), default=None, help="Only the first N planned documents.")
@click.option("--extended", is_flag=True,
              help="The extended plan: the rest of train.jsonl after the plan's documents (whatever of it "
                   "scripts/extract_lm_outputs.py --extended has cached). Not the shipped recipe.")
@click.option("--jobs", default=2, show_default=True, help="Held-out folds fit at once, in worker processes.")
@click.option("--torch-threads", default=1, show_default=True,
              help="Threads for the sequence model's fits: its steps are small, and two threads wait on each "
                   "other (measured 3-4x slower than one on a busy 2-core machine).")
@click.option("--weighting", type=click.Choice(WEIGHTINGS), default="class", show_default=True,
              help="How training rows are weighted: `class` balances the classes only; `source` also balances "
                   "them within every source, so that which benchmark a text looks like cannot stand in for "
                   "its origin (detector.training.evidence.source_balanced_weights).")
@click.option("--reference-model", default=None, help="Local HF causal-LM dir (default: shipped SmolLM2).")
@click.option("--token-cap", default=256, show_default=True)
@click.option("--out", "out_dir", default="models/default", show_default=True, type=click.Path(path_type=Path))
@click.option("--report", default="models/evaluation_v2.json", show_default=True, type=click.Path(path_type=Path),
              help="Where the out-of-fold and check-set figures go (read by scripts/write_model_card.py).")
def main(max_machine_grounded, max_human_flagged, confidence, cascade_auroc_loss, cascade_disagreement, cheap_miss,
         family_folds, k, sequence_epochs, first, extended, jobs, torch_threads, weighting, reference_model, token_cap, out_dir,
         report):
    import torch

    torch.set_num_threads(torch_threads)
    started = time.time()

    def log(message):
        print(f"[{time.time() - started:7.0f}s] {message}", flush=True)

    source = resolve_reference_model(reference_model)
    table = load_evidence_table(source.sha256, token_cap, first, extended=extended)
    training = table.training
    log(f"{len(table.rows)} documents with LM outputs; {len(training)} training rows "
        f"({int(table.y[training].sum())} machine)")
    sequence_params = {"epochs": sequence_epochs}

    p_source = held_out_scores(table, "source", k, 0, sequence_params, jobs, torch_threads, log, weighting)
    oof = np.flatnonzero(~np.isnan(p_source))
    human_oof_rows = oof[table.y[oof] == 0]
    source_folds = fold_figures(table, p_source, table.sources, human_oof_rows)
    family_fold_results = {}
    if family_folds:
        p_family = held_out_scores(table, "family", k, 0, sequence_params, jobs, torch_threads, log, weighting)
        family_fold_results = family_held_out_figures(table, p_source, p_family)

    everything = np.arange(len(table.rows))
    final = fit_stack(table, training, everything, k=k, seed=0, sequence_params=sequence_params, with_cheap=True,
                      weighting=weighting)
    log("final model fit")
    p = final.p_full

    # Held-out sources: what the thresholds are set on (English, judgeable: the documents they decide).
    judged_oof = table.judgeable(np.flatnonzero(~np.isnan(p_source)))
    machine_oof = p_source[judged_oof[table.y[judged_oof] == 1]]
    human_oof = p_source[judged_oof[table.y[judged_oof] == 0]]
    checks = {name: table.judgeable(table.in_sets(s)) for name, s in CHECK_SETS.items()}
    human_sets = {"held_out_sources": human_oof,
                  "learners_dev": p[checks["learners_dev"]],
                  "dev": p[checks["dev"][table.y[checks["dev"]] == 0]]}
    rule = promise_thresholds(machine_oof, human_sets, max_machine_grounded, max_human_flagged, confidence)
    ground, suspect = rule["ground"], rule["suspect"]
    # Documents the LM cannot judge are flagged only past `overwhelming`, set by the same human-flagged
    # rule on each kind of them held out (each language, too-short English): a kind too rare to show
    # the target keeps its human text out of `suspected_synthetic` altogether.
    overwhelming, rule["overwhelming_by_set"] = overwhelming_threshold(
        suspect, unjudged_human_sets(table, p_source), max_human_flagged, confidence)
    rule["overwhelming"] = overwhelming
    log(f"thresholds: ground {ground:.4f}, suspect {suspect:.4f}, overwhelming {overwhelming:.6f}")

    # Cheap stage: it grounds alone only below `low` and never flags alone.
    dev_idx = checks["dev"]
    pc_dev, p_dev, y_dev = final.p_cheap[dev_idx], p[dev_idx], table.y[dev_idx]
    low = max(min(threshold_for_miss_rate(pc_dev[y_dev == 1], cheap_miss), ground),
              cascade_cutoff(pc_dev, p_dev, y_dev, ground, suspect, cascade_auroc_loss, cascade_disagreement))

    # Figures: held out, then each check set scored by the shipped model.
    check_figures = {}
    for name, idx in checks.items():
        y = table.y[idx]
        figure = {"auroc": auroc_if_enough(y, p[idx]) if (y != NEITHER).all() else None,
                  "all": decision_shares(p[idx], ground, suspect)}
        for label, value in (("human", 0), ("machine", 1), ("machine_touched", NEITHER)):
            if (y == value).any():
                figure[label] = decision_shares(p[idx[y == value]], ground, suspect)
        if name == "grounded_docs":
            domains = table.column("domain")[idx]
            figure["by_domain"] = {d: decision_shares(p[idx[domains == d]], ground, suspect) for d in sorted(set(domains))}
        check_figures[name] = figure
    at_other_targets = {}
    for g_target, h_target in ((0.05, 0.01), (0.10, 0.02), (0.20, 0.01), (0.10, 0.005)):
        other = promise_thresholds(machine_oof, human_sets, g_target, h_target, confidence)
        at_other_targets[f"machine_grounded<={g_target}, human_flagged<={h_target}"] = {
            "ground": other["ground"], "suspect": other["suspect"],
            "held_out": decision_shares(p_source[judged_oof], other["ground"], other["suspect"]),
            "dev": decision_shares(p[dev_idx], other["ground"], other["suspect"])}

    model_id = f"synthsieve-v2-{time.strftime('%Y%m%dT%H%MZ', time.gmtime(started))}"
    held_out = {
        "source": {"folds": source_folds, "summary": summarise_folds(source_folds),
                   "machine": decision_shares(machine_oof, ground, suspect),
                   "human": decision_shares(human_oof, ground, suspect)},
        **({"family": {"folds": family_fold_results, "summary": summarise_folds(family_fold_results)}} if family_folds else {}),
    }
    command = " ".join(["python", "scripts/train_default_model.py", *sys.argv[1:]])
    evaluation = {"model_id": model_id, "command": command, "n_documents": len(table.rows),
                  "n_training_rows": int(len(training)), "weighting": weighting, "held_out": held_out, "checks": check_figures,
                  "thresholds": rule, "at_other_targets": at_other_targets,
                  "seconds": round(time.time() - started, 1)}
    metadata = {
        "model_id": model_id,
        "synthsieve_version": __version__,
        "features": list(FULL_FEATURE_NAMES),
        "cheap_features": list(CHEAP_FEATURE_NAMES),
        "lm_feature_version": LM_FEATURE_VERSION,
        "lm_outputs_version": LM_OUTPUTS_VERSION,
        "style_view": STYLE_VIEW_VERSION,
        "reference_model_id": source.model_id,
        "reference_model_hash": source.sha256,
        "token_cap": token_cap,
        # How held_out_scores.npz was scored (scripts/extract_lm_outputs.py runs the LM in bf16): the report
        # warns when a run scores otherwise, since its score distributions then differ from these.
        "held_out_scores": {"token_cap": token_cap, "precision": "bf16", "reference_model_hash": source.sha256},
        # p_machine is Platt-calibrated with class-balanced weights: a probability under equal priors.
        "p_machine_prior": 0.5,
        "thresholds": {"suspect": suspect, "ground": ground, "overwhelming": overwhelming,
                       "min_tokens": 50, "supported_languages": ["en"],
                       "target_fpr": max_human_flagged, "target_miss_rate": max_machine_grounded},
        "threshold_rule": {k: rule[k] for k in ("ground_from_machine_rule", "suspect_by_human_set", "overwhelming_by_set",
                                                "targets", "machine_grounded", "machine_flagged", "human_flagged")},
        "classifiers": {"full": "boosted", "cheap": "boosted"},
        "cheap_stage": {"band": [low, CHEAP_NEVER_FLAGS], "flags_alone": False, "target_miss_rate": cheap_miss,
                        "max_auroc_loss": cascade_auroc_loss, "max_disagreement": cascade_disagreement,
                        "dev_decided_alone_share": float((pc_dev < low).mean())},
        # The report's prevalence correction reads tpr/fpr with their counts: rates at `suspect` on the
        # held-out sources' documents, each scored by models that never saw its source.
        "error_rates": {"tpr": rule["machine_flagged"], "n_machine": int(len(machine_oof)),
                        "fpr": rule["human_flagged"]["held_out_sources"]["rate"], "n_human": int(len(human_oof)),
                        "threshold": suspect, "machine_grounded": rule["machine_grounded"],
                        "human_flagged": {n: v["rate"] for n, v in rule["human_flagged"].items()},
                        "measured_on": "English documents of at least 50 tokens of sources held out of training"},
        "training": {"rows": int(len(training)), "weighting": weighting, "by_set": {s: int((table.sets[training] == s).sum())
                                                           for s in sorted(set(table.sets[training]))},
                     "documents_with_lm_outputs": len(table.rows)},
        "dev_metrics": {"english_judgeable_auroc": check_figures["dev"]["auroc"]},
        "seconds_to_train": round(time.time() - started, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    final.full.save(out_dir, "full")
    final.cheap.save(out_dir, "cheap")
    final.evidence_models.style.save(out_dir / STYLE_FILE)
    final.evidence_models.probe.save(out_dir / HIDDEN_PROBE_FILE)
    final.evidence_models.sequence.save(out_dir / SEQUENCE_MODEL_FILE)
    # With each score its source repository and set, so that prevalence simulations
    # (scripts/simulate_prevalence.py) can hold a whole source out of the components.
    human_rows, machine_rows = judged_oof[table.y[judged_oof] == 0], judged_oof[table.y[judged_oof] == 1]
    np.savez_compressed(out_dir / HELD_OUT_SCORES_FILE, human=human_oof.astype(np.float64),
                        machine=machine_oof.astype(np.float64),
                        human_source=table.sources[human_rows].astype(str), machine_source=table.sources[machine_rows].astype(str),
                        human_set=table.sets[human_rows].astype(str), machine_set=table.sets[machine_rows].astype(str))
    write_artifact_hashes(out_dir, metadata)
    report.write_text(json.dumps(evaluation, indent=1) + "\n")
    log(json.dumps({"thresholds": metadata["thresholds"], "held_out_source": held_out["source"]["summary"],
                    "machine": held_out["source"]["machine"], "checks": {n: c["all"] for n, c in check_figures.items()}},
                   indent=1))


if __name__ == "__main__":
    main()
