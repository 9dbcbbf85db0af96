"""Train the shipped model (models/default) from ../shared/data.

Reads train.jsonl + human_pool.jsonl for fitting, dev.jsonl for thresholds (plus a held-out slice of
human_pool, so the false-positive target also holds on human text from outside dev's domains).
grounded_docs.jsonl is never used here. LM features come from the cache that
scripts/extract_lm_features.py fills; documents without them still train the full model (see
detector.training.table.fit_full_model).

    python scripts/train_default_model.py [--target-fpr 0.01] [--target-miss 0.05] [--out models/default]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np


from detector import __version__
from detector.detector import write_artifact_hashes
from detector.features import CHEAP_FEATURE_NAMES, FULL_FEATURE_NAMES
from detector.features.lm import LM_FEATURE_VERSION
from detector.reference_lm import resolve_reference_model
from detector.features.style_model import STYLE_VIEW_VERSION
from detector.thresholds import (cascade_cutoff, error_rates, threshold_for_abstention, threshold_for_fpr,
                                 threshold_for_fpr_bound, threshold_for_miss_rate)
from detector.evaluation import auroc
from detector.training.data import lm_cache_key
from detector.training.folds import split_indices
from detector.training.table import (
    build_table, english_judgeable, feature_matrix, fit_calibrated, fit_full_model, group_folds,
    out_of_domain_human_scores,
    style_scores)


# Above any probability: the cheap stage's band upper end when it must not flag alone.
CHEAP_NEVER_FLAGS = 1.5


def pool_holdout(table, pool_idx: np.ndarray) -> np.ndarray:
    """A quarter of the human pool (with LM features) kept out of fitting for threshold checks."""
    return pool_idx[(group_folds(table.rows, pool_idx, 4, seed=7) == 0) & table.has_lm[pool_idx]]


def fitting_split(table):
    """(indices per split, human_pool holdout, rows the models are fit on: train plus the rest of the pool)."""
    idx = split_indices(table)
    holdout = pool_holdout(table, idx["human_pool"])
    return idx, holdout, np.concatenate([idx["train"], np.setdiff1d(idx["human_pool"], holdout)])


@click.command()
@click.option("--target-fpr", default=0.01, show_default=True, help="False-positive rate on human text for `suspected`.")
@click.option("--target-miss", default=0.05, show_default=True, help="Miss rate on machine text for `grounded`.")
@click.option("--max-uncertain", default=0.16, show_default=True,
              help="Abstention budget: share of English dev documents allowed to end uncertain "
                   "(the too-short ones included).")
@click.option("--fpr-confidence", default=0.95, show_default=True,
              help="Confidence with which the false-positive target must hold on the validation humans.")
@click.option("--cheap-fpr", default=0.002, show_default=True, help="FPR allowed where the cheap stage flags alone.")
@click.option("--cheap-miss", default=0.01, show_default=True, help="Miss rate allowed where the cheap stage grounds alone.")
@click.option("--cascade-auroc-loss", default=0.005, show_default=True,
              help="AUROC the cheap stage may cost on dev where it decides alone.")
@click.option("--cascade-disagreement", default=0.02, show_default=True,
              help="Share of its own decisions the cheap stage may decide differently from the full model.")
@click.option("--full-kind", type=click.Choice(["boosted", "additive"]), default="boosted", show_default=True,
              help="Classifier over all features (boosted: the LM statistics interact).")
@click.option("--cheap-kind", type=click.Choice(["boosted", "additive"]), default="boosted", show_default=True,
              help="Classifier of the cascade's cheap stage.")
@click.option("--reference-model", default=None, help="Local HF causal-LM dir (default: shipped SmolLM2).")
@click.option("--token-cap", default=512, show_default=True)
@click.option("--out", "out_dir", default="models/default", show_default=True, type=click.Path(path_type=Path))
def main(target_fpr, target_miss, max_uncertain, fpr_confidence, cheap_fpr, cheap_miss, cascade_auroc_loss,
         cascade_disagreement, full_kind, cheap_kind, reference_model, token_cap, out_dir):
    started = time.time()
    source = resolve_reference_model(reference_model)
    table = build_table(lm_cache_key(source.sha256, token_cap))
    idx, holdout, train_all = fitting_split(table)
    fit_pool = np.setdiff1d(idx["human_pool"], holdout)
    scored = np.concatenate([train_all, holdout, idx["dev"]])
    print(f"rows: {len(table.rows)}; with LM features: {int(table.has_lm.sum())}", flush=True)

    style, style_model = style_scores(table, train_all, scored)
    X_cheap = feature_matrix(table, style, with_lm=False)
    X_full = feature_matrix(table, style, with_lm=True)
    cheap_model = fit_calibrated(X_cheap, table.y, table.rows, train_all, kind=cheap_kind)
    train_lm = train_all[table.has_lm[train_all]]
    full_model = fit_full_model(table, X_full, train_all, full_kind)

    dev_lm = idx["dev"][table.has_lm[idx["dev"]]]
    dev_en = english_judgeable(table, dev_lm)
    p_dev = full_model.predict_proba(X_full[dev_en])[:, 1]
    y_dev = table.y[dev_en]
    p_holdout = full_model.predict_proba(X_full[english_judgeable(table, holdout)])[:, 1]
    suspect_dev = threshold_for_fpr(p_dev[y_dev == 0], target_fpr)
    suspect_pool = threshold_for_fpr(p_holdout, target_fpr)
    p_validation_humans = np.concatenate([p_dev[y_dev == 0], p_holdout])
    suspect_bound = threshold_for_fpr_bound(p_validation_humans, target_fpr, fpr_confidence)
    # Unseen domains: human text scored by models refit without its domain. A crawl is mostly domains
    # the training data lacks, and in-domain validation humans understate how often those are flagged.
    unseen_rows, p_unseen = out_of_domain_human_scores(table, train_all, scored, full_kind)
    suspect_unseen = threshold_for_fpr_bound(p_unseen, target_fpr, fpr_confidence)
    suspect = max(suspect_dev, suspect_pool, suspect_bound, suspect_unseen)
    # Grounded below the miss-rate threshold, raised where needed so that `uncertain` stays an honest
    # abstention (at most max_uncertain of judgeable documents) rather than a hiding place.
    ground_miss = threshold_for_miss_rate(p_dev[y_dev == 1], target_miss)
    # Too-short English documents are uncertain by rule; they spend the budget first.
    dev_english = idx["dev"][table.has_lm[idx["dev"]] & (table.language[idx["dev"]] == "en")]
    short_share = float((table.n_tokens[dev_english] < 50).mean())
    band_budget = max(0.0, (max_uncertain - short_share) / (1.0 - short_share))
    ground = min(max(ground_miss, threshold_for_abstention(p_dev, suspect, band_budget)), suspect)

    # Cheap stage: it may decide alone only outside [low, high); both ends are stricter than the
    # full model's thresholds, so what the cheap stage decides, it decides with fewer errors.
    pc_dev = cheap_model.predict_proba(X_cheap[dev_en])[:, 1]
    pc_holdout = cheap_model.predict_proba(X_cheap[english_judgeable(table, holdout)])[:, 1]
    # Flagging removes text, so the cheap stage may flag alone only where its false-positive rate is
    # shown below cheap_fpr with confidence; with a few hundred validation humans that cannot be shown,
    # and the cut-off then lies above 1: the cheap stage grounds alone but never flags alone.
    cheap_humans = np.concatenate([pc_dev[y_dev == 0], pc_holdout])
    bound = threshold_for_fpr_bound(cheap_humans, cheap_fpr, fpr_confidence)
    shown = (cheap_humans >= bound).mean() <= cheap_fpr and bound <= cheap_humans.max()
    high = max(threshold_for_fpr(pc_dev[y_dev == 0], cheap_fpr), threshold_for_fpr(pc_holdout, cheap_fpr),
               bound, suspect) if shown else CHEAP_NEVER_FLAGS
    # Below `low` the cheap stage decides alone: the widest band where, on dev, its scores cost at most
    # cascade_auroc_loss of AUROC and change at most cascade_disagreement of its decisions; never lower
    # than the point where it misses only cheap_miss of machine text.
    low = max(min(threshold_for_miss_rate(pc_dev[y_dev == 1], cheap_miss), ground),
              cascade_cutoff(pc_dev, p_dev, y_dev, ground, suspect, cascade_auroc_loss, cascade_disagreement))

    unseen_domain = table.column("domain")[unseen_rows]
    unseen_by_domain = {d: {"n": int((unseen_domain == d).sum()),
                            "fpr": float((p_unseen[unseen_domain == d] >= suspect).mean())}
                        for d in sorted(set(unseen_domain))}
    rates = error_rates(p_dev[y_dev == 0], p_dev[y_dev == 1], suspect)
    metadata = {
        # Date and time: two models trained on one day must not share an id.
        "model_id": f"synthsieve-default-{time.strftime('%Y%m%dT%H%MZ', time.gmtime(started))}",
        "synthsieve_version": __version__,
        "features": list(FULL_FEATURE_NAMES),
        "cheap_features": list(CHEAP_FEATURE_NAMES),
        "lm_feature_version": LM_FEATURE_VERSION,
        "style_view": STYLE_VIEW_VERSION,
        "reference_model_id": source.model_id,
        "reference_model_hash": source.sha256,
        "token_cap": token_cap,
        "thresholds": {"suspect": suspect, "ground": ground, "overwhelming": max(0.995, suspect),
                       "min_tokens": 50, "supported_languages": ["en"],
                       "target_fpr": target_fpr, "target_miss_rate": target_miss},
        "threshold_sources": {"suspect_from_dev": suspect_dev, "suspect_from_human_pool_holdout": suspect_pool,
                              "suspect_from_fpr_upper_bound": suspect_bound, "fpr_confidence": fpr_confidence,
                              "suspect_from_unseen_domain_humans": suspect_unseen,
                              "unseen_domain_humans": int(len(p_unseen)),
                              "unseen_domain_human_fpr_at_suspect": float((p_unseen >= suspect).mean()),
                              "unseen_domain_human_fpr_by_domain": unseen_by_domain,
                              "validation_humans": int(len(p_validation_humans)),
                              "dev_english_short_share": short_share, "band_budget": band_budget,
                              "ground_from_miss_rate": ground_miss, "max_uncertain": max_uncertain,
                              "dev_miss_rate_at_ground": float((p_dev[y_dev == 1] < ground).mean()),
                              "dev_uncertain_share": float(((p_dev >= ground) & (p_dev < suspect)).mean())},
        "classifiers": {"full": full_kind, "cheap": cheap_kind},
        "cheap_stage": {"band": [low, high], "flags_alone": high <= 1.0, "target_fpr": cheap_fpr,
                        "target_miss_rate": cheap_miss, "max_auroc_loss": cascade_auroc_loss,
                        "max_disagreement": cascade_disagreement,
                        "dev_decided_alone_share": float(((pc_dev < low) | (pc_dev >= high)).mean())},
        # Measured where decisions use `suspect` (judgeable documents), so flagged = suspected there.
        "error_rates": {**rates, "threshold": suspect,
                        "measured_on": "dev.jsonl documents with cached LM features: English, >= 50 tokens"},
        "training": {
            "train_rows": int(len(idx["train"])), "human_pool_rows_fit": int(len(fit_pool)),
            "rows_with_lm_features": int(len(train_lm)), "dev_rows_with_lm_features": int(len(dev_lm)),
            "human_pool_holdout_rows": int(len(holdout)),
        },
        "dev_metrics": {
            "english_judgeable_auroc": auroc(y_dev, p_dev),
            "cheap_english_judgeable_auroc": auroc(y_dev, pc_dev),
            "human_pool_holdout_fpr": float((p_holdout >= suspect).mean()),
        },
        "seconds_to_train": round(time.time() - started, 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    full_model.save(out_dir, "full")
    cheap_model.save(out_dir, "cheap")
    style_model.save(out_dir / "style.ftz")
    # model.json last, with the SHA-256 of every artifact just saved: Detector.load refuses files
    # that differ from these (detector.detector.verify_artifacts).
    write_artifact_hashes(out_dir, metadata)
    print(json.dumps({k: metadata[k] for k in ("thresholds", "cheap_stage", "error_rates", "dev_metrics", "training")},
                     indent=1))


if __name__ == "__main__":
    main()
