"""How much AUROC the corpus filter's cascade would cost if its cheap stage decided more documents alone.

From cached features (no LM pass), with the shipped model (models/default) as it is: the cheap stage
decides alone every document the LM cannot judge (not English, < 50 tokens) plus every judgeable one
whose cheap score is below a cut-off; the rest takes the full model's score. Measured on all of
dev.jsonl and on the corpus scripts/benchmark_filter.py builds from it (stratified by generator and
domain, so small generators and domains weigh more), where the filter's 5x goal is judged. The speed-up
of a cascade is bounded by the share the LM still reads, so these tables say which speed-ups are
reachable at which accuracy cost.

    python scripts/cascade_tradeoff.py [--model-dir models/default] [--benchmark-docs 5000] [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np


from detector.classifier import load_classifier
from detector.decision import Thresholds, judgeable
from detector.evaluation import auroc
from detector.reference_lm import resolve_reference_model
from detector.features.style_model import StyleClassifier
from detector.thresholds import cascade_costs
from detector.training.data import benchmark_rows, lm_cache_key
from detector.training.table import build_table, feature_matrix

# Cut-offs on the cheap score, as shares of the judgeable documents decided alone.
JUDGEABLE_SHARES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)


def scored_dev(model_dir: Path):
    """Cheap and full scores of every dev document with cached LM features, from the shipped model."""
    metadata = json.loads((model_dir / "model.json").read_text())
    thresholds = Thresholds.from_dict(metadata["thresholds"])
    table = build_table(lm_cache_key(resolve_reference_model(None).sha256, metadata["token_cap"]))
    dev = np.flatnonzero((table.column("split") == "dev") & table.has_lm)
    style = np.full(len(table.rows), np.nan)
    style[dev] = StyleClassifier.load(model_dir / "style.ftz").predict_proba([table.rows[i]["text"] for i in dev])[:, 1]
    p_cheap = load_classifier(model_dir, "cheap").predict_proba(feature_matrix(table, style, False)[dev])[:, 1]
    p_full = load_classifier(model_dir, "full").predict_proba(feature_matrix(table, style, True)[dev])[:, 1]
    judge = np.array([judgeable(table.language[i], int(table.n_tokens[i]), thresholds) for i in dev])
    ids = np.array([table.rows[i]["id"] for i in dev])
    return metadata, thresholds, ids, table.y[dev], p_cheap, p_full, judge


def tradeoff(y, p_cheap, p_full, judge, thresholds, shipped_cut: float) -> dict:
    rows = []
    cuts = [(f"lowest {share:.0%} of judgeable", np.quantile(p_cheap[judge], share) if share else -np.inf)
            for share in JUDGEABLE_SHARES] + [("shipped cut-off", shipped_cut)]
    for label, cut in cuts:
        alone = ~judge | (p_cheap < cut)
        rows.append({"rule": label, "cut": float(cut) if np.isfinite(cut) else None,
                     **cascade_costs(p_cheap, p_full, y, alone, thresholds.ground, thresholds.suspect, judged=judge)})
    return {"n": int(len(y)), "non_judgeable_share": float((~judge).mean()), "auroc_cheap": auroc(y, p_cheap),
            "cascade": rows}


@click.command()
@click.option("--model-dir", default="models/default", show_default=True, type=click.Path(path_type=Path))
@click.option("--benchmark-docs", default=5000, show_default=True,
              help="Size of the benchmark corpus (as scripts/benchmark_filter.py --docs).")
@click.option("--seed", default=0, show_default=True, help="As scripts/benchmark_filter.py --seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def main(model_dir, benchmark_docs, seed, as_json):
    metadata, thresholds, ids, y, p_cheap, p_full, judge = scored_dev(model_dir)
    benchmark_ids = {r["id"] for r in benchmark_rows(benchmark_docs, seed)}
    in_benchmark = np.isin(ids, list(benchmark_ids))
    shipped_cut = metadata["cheap_stage"]["band"][0]
    out = {"model_id": metadata["model_id"],
           "command": " ".join(["python", "scripts/cascade_tradeoff.py", *sys.argv[1:]]),
           "dev": tradeoff(y, p_cheap, p_full, judge, thresholds, shipped_cut),
           "benchmark_corpus": tradeoff(y[in_benchmark], p_cheap[in_benchmark], p_full[in_benchmark],
                                        judge[in_benchmark], thresholds, shipped_cut)}
    if as_json:
        print(json.dumps(out, indent=1))
        return
    for name in ("dev", "benchmark_corpus"):
        part = out[name]
        print(f"\n{name}: n={part['n']}, not judgeable {part['non_judgeable_share']:.1%}, full model AUROC "
              f"{part['cascade'][0]['auroc_full']:.4f}, cheap model {part['auroc_cheap']:.4f}")
        print(f"{'cheap stage decides alone':40s} {'alone':>6s} {'LM reads':>8s} {'AUROC':>7s} {'lost':>6s} {'changed':>7s}")
        for r in part["cascade"]:
            label = r["rule"] if r["cut"] is None else f"{r['rule']} (< {r['cut']:.3f})"
            print(f"{label:40s} "
                  f"{r['decided_alone']:6.1%} {r['lm_reads']:8.1%} {r['auroc_cascade']:.4f} "
                  f"{r['auroc_loss_points']:6.2f} {r['decisions_changed']:7.1%}")


if __name__ == "__main__":
    main()
