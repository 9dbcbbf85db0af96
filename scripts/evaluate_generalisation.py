"""Held-out generalisation of the detector, from cached features.

For each held-out domain, generator family and task the whole model is refit without it (the style
fastText model included, so nothing learned saw the held-out part) and tested on it:
  - leave-one-domain-out: test on the domain's documents (both classes) from train and dev;
  - leave-one-generator-family-out: test on that family's machine texts against dev's human texts;
  - leave-one-task-out: test on that task's machine texts against dev's human texts.
Then the shipped model (models/default) is checked on grounded_docs.jsonl (flag rate overall and per
domain) and on the uncertain share of English documents.

    python scripts/evaluate_generalisation.py --out models/generalisation.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np


from detector.classifier import load_classifier
from detector.decision import SUSPECTED, UNCERTAIN, Thresholds, decide, judgeable
from detector.reference_lm import resolve_reference_model
from detector.features.style_model import StyleClassifier
from detector.evaluation import auroc
from detector.training.data import lm_cache_key
from detector.training.folds import auroc_if_enough, held_out_test, split_indices
from detector.training.table import (
    build_table, english_judgeable, feature_matrix, generator_family, refit_and_score)


FOLD_KEYS = {"domain": "leave_one_domain_out", "family": "leave_one_family_out", "task": "leave_one_task_out"}


def leave_one_out(table, idx, key_of, conditions, test_builder, kind):
    results = {}
    for name in conditions:
        held = np.array([key_of(table.rows[i]) == name for i in range(len(table.rows))])
        fit_idx = idx["fit"][~held[idx["fit"]]]
        test_idx = test_builder(held)
        test_idx = test_idx[table.has_lm[test_idx]]
        if len(test_idx) == 0 or table.y[test_idx].min() == table.y[test_idx].max():
            continue
        started = time.time()
        p = refit_and_score(table, fit_idx, test_idx, kind)
        # The documents the thresholds decide on; the rest are uncertain by rule whatever their score.
        # Measured only where both classes have MIN_PER_CLASS documents: a held-out language domain holds
        # a handful of English documents, whose AUROC says nothing.
        judged = np.isin(test_idx, english_judgeable(table, test_idx))
        results[name] = {"auroc": auroc(table.y[test_idx], p), "n": int(len(test_idx)),
                         "n_machine": int(table.y[test_idx].sum()),
                         "english_judgeable_auroc": auroc_if_enough(table.y[test_idx][judged], p[judged]),
                         "english_judgeable_n": int(judged.sum()),
                         "english_judgeable_n_machine": int(table.y[test_idx][judged].sum())}
        print(f"  {name}: AUROC {results[name]['auroc']:.3f} (n={len(test_idx)}), English judgeable "
              f"{results[name]['english_judgeable_auroc'] or float('nan'):.3f} (n={int(judged.sum())}), "
              f"{time.time() - started:.0f}s", flush=True)
    return {"folds": results, **_summary(results, "auroc"), **_summary(results, "english_judgeable_auroc")}


def _summary(results: dict, key: str) -> dict:
    """Mean and worst fold of one AUROC column; folds where it was not measured are left out."""
    defined = {name: r[key] for name, r in results.items() if r.get(key) is not None}
    prefix = "" if key == "auroc" else "english_judgeable_"
    worst = min(defined, key=defined.get) if defined else None
    return {f"{prefix}mean_auroc": float(np.mean(list(defined.values()))) if defined else None,
            f"{prefix}worst": worst, f"{prefix}worst_auroc": defined[worst] if worst else None,
            f"{prefix}n_folds": len(defined)}


def shipped_model_checks(table, idx, model_dir: Path) -> dict:
    """The shipped model on grounded_docs and the abstention rate, from cached features."""
    metadata = json.loads((model_dir / "model.json").read_text())
    thresholds = Thresholds.from_dict(metadata["thresholds"])
    full = load_classifier(model_dir, "full")
    cheap = load_classifier(model_dir, "cheap")
    low, high = metadata["cheap_stage"]["band"]
    style = StyleClassifier.load(model_dir / "style.ftz")
    style_p = np.full(len(table.rows), np.nan)
    scored = np.concatenate([idx["dev"], idx["grounded_docs"]])
    scored = scored[table.has_lm[scored]]
    style_p[scored] = style.predict_proba([table.rows[i]["text"] for i in scored])[:, 1]
    X = feature_matrix(table, style_p, with_lm=True)
    p = full.predict_proba(X[scored])[:, 1]
    decisions = np.array([decide(pi, table.language[i], int(table.n_tokens[i]), thresholds)
                          for pi, i in zip(p, scored)])
    # The corpus filter's cascade: the cheap model decides alone outside its band, or where the LM
    # cannot judge; the rest takes the full model's score.
    p_cheap = cheap.predict_proba(feature_matrix(table, style_p, with_lm=False)[scored])[:, 1]
    judge = np.array([judgeable(table.language[i], int(table.n_tokens[i]), thresholds) for i in scored])
    by_cheap = ~judge | (p_cheap < low) | (p_cheap >= high)
    p_cascade = np.where(by_cheap, p_cheap, p)
    cascade_decisions = np.array([decide(pi, table.language[i], int(table.n_tokens[i]), thresholds)
                                  for pi, i in zip(p_cascade, scored)])
    domain = table.column("domain")[scored]
    split = table.column("split")[scored]
    english = table.language[scored] == "en"
    out = {"thresholds": thresholds.to_dict()}
    grounded = split == "grounded_docs"
    out["grounded_docs"] = {
        "n": int(grounded.sum()),
        "suspected_share": float((decisions[grounded] == SUSPECTED).mean()),
        "uncertain_share_english": float((decisions[grounded & english] == UNCERTAIN).mean()),
        "by_domain": {d: {"n": int(((domain == d) & grounded).sum()),
                          "suspected_share": float((decisions[(domain == d) & grounded] == SUSPECTED).mean()),
                          "uncertain_share": float((decisions[(domain == d) & grounded] == UNCERTAIN).mean())}
                      for d in sorted(set(domain[grounded]))},
    }
    out["grounded_docs"]["cascade_suspected_share"] = float((cascade_decisions[grounded] == SUSPECTED).mean())
    dev = split == "dev"
    y = table.y[scored]
    out["cascade_on_dev"] = {
        "decided_by_cheap_share": float(by_cheap[dev].mean()),
        "decided_by_cheap_share_english": float(by_cheap[dev & english].mean()),
        "auroc_full": auroc(y[dev], p[dev]), "auroc_cascade": auroc(y[dev], p_cascade[dev]),
        "auroc_full_english": auroc(y[dev & english], p[dev & english]),
        "auroc_cascade_english": auroc(y[dev & english], p_cascade[dev & english]),
        "human_flagged_share_cascade": float((cascade_decisions[dev & (y == 0)] == SUSPECTED).mean()),
    }
    out["dev"] = {
        "n": int(dev.sum()), "auroc": auroc(y[dev], p[dev]),
        "auroc_english": auroc(y[dev & english], p[dev & english]),
        "uncertain_share_english": float((decisions[dev & english] == UNCERTAIN).mean()),
        "human_flagged_share": float((decisions[dev & (y == 0)] == SUSPECTED).mean()),
        "machine_detected_share": float((decisions[dev & (y == 1)] == SUSPECTED).mean()),
    }
    student = dev & (domain == "student_essay") & (y == 0)
    if student.any():  # OUTFOX essays: student writing, a stand-in for non-native and novice English
        out["dev"]["student_essay_human_flagged_share"] = float((decisions[student] == SUSPECTED).mean())
    return out


@click.command()
@click.option("--model-dir", default="models/default", type=click.Path(path_type=Path), show_default=True)
@click.option("--out", "out_path", default="models/generalisation.json", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--folds", default="all", show_default=True,
              help="Which held-out refits to run: all, or a comma list of domain, family, task. Fold tables not "
                   "run are kept from --out, labelled with the model they were measured on.")
@click.option("--skip-folds", is_flag=True, help="Only the shipped-model checks (overrides --folds).")
def main(model_dir, out_path, folds, skip_folds):
    wanted = set() if skip_folds else set(FOLD_KEYS) if folds == "all" else set(folds.split(","))
    if wanted - set(FOLD_KEYS):
        raise click.BadParameter(f"unknown fold kind(s) {sorted(wanted - set(FOLD_KEYS))}; use {', '.join(FOLD_KEYS)}",
                                 param_hint="--folds")
    source = resolve_reference_model(None)
    table = build_table(lm_cache_key(source.sha256))
    idx = split_indices(table)
    metadata = json.loads((model_dir / "model.json").read_text())
    report = {"model_id": metadata["model_id"], "shipped_model": shipped_model_checks(table, idx, model_dir)}
    kind = metadata["classifiers"]["full"]
    print(json.dumps(report["shipped_model"], indent=1), flush=True)
    if out_path.exists():
        # Fold tables not re-run are kept from the earlier run, labelled with the model they were measured on.
        previous = json.loads(out_path.read_text())
        for name, key in FOLD_KEYS.items():
            if name not in wanted and key in previous:
                report[key] = {"model_id": previous[key].get("model_id", previous.get("model_id")), **previous[key]}
    def machine_vs_dev_humans(held):
        return held_out_test(table, idx, held, machine_only=True)

    runs = {
        "domain": (lambda r: r.get("domain"), sorted({table.rows[i]["domain"] for i in idx["train"]}),
                   lambda held: held_out_test(table, idx, held, machine_only=False)),
        "family": (lambda r: generator_family(r.get("generator")),
                   ["GPT", "Claude", "Gemini", "Llama", "other open models"], machine_vs_dev_humans),
        "task": (lambda r: r.get("task") if r.get("label") == "machine" else None,
                 ["continuation", "generation", "rewrite", "polish", "expand"], machine_vs_dev_humans),
    }
    for name in ("domain", "family", "task"):
        if name in wanted:
            print(f"leave-one-{name}-out", flush=True)
            key_of, conditions, test_builder = runs[name]
            report[FOLD_KEYS[name]] = {"model_id": metadata["model_id"],
                                       **leave_one_out(table, idx, key_of, conditions, test_builder, kind)}
    out_path.write_text(json.dumps(report, indent=1))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
