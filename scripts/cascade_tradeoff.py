"""How much AUROC the corpus filter's cascade would cost if its cheap stage decided more documents alone.

From cached features (no LM pass): the cheap and full models are fit as scripts/train_default_model.py
fits them, then, on the cached dev sample, the cheap stage is let decide alone every document the LM
cannot judge (not English, < 50 tokens) plus the lowest-scoring share of the rest. The speed-up of a
cascade is bounded by the share the LM still reads, so this table says which speed-ups are reachable
at which accuracy cost.

    python scripts/cascade_tradeoff.py [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.evaluation import auroc  # noqa: E402
from detector.reference_lm import resolve_reference_model  # noqa: E402
from scripts._data import lm_cache_key  # noqa: E402
from scripts._training import (build_table, english_judgeable, feature_matrix, fit_calibrated,  # noqa: E402
                               fit_full_model, style_scores)
from scripts.train_default_model import fitting_split  # noqa: E402


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def main(as_json):
    source = resolve_reference_model(None)
    table = build_table(lm_cache_key(source.sha256))
    idx, _, train_all = fitting_split(table)
    dev = idx["dev"][table.has_lm[idx["dev"]]]
    style, _ = style_scores(table, train_all, np.concatenate([train_all, dev]))
    X_cheap, X_full = feature_matrix(table, style, with_lm=False), feature_matrix(table, style, with_lm=True)
    cheap = fit_calibrated(X_cheap, table.y, table.rows, train_all, kind="boosted")
    full = fit_full_model(table, X_full, train_all, "boosted")
    pc, pf, y = cheap.predict_proba(X_cheap[dev])[:, 1], full.predict_proba(X_full[dev])[:, 1], table.y[dev]
    judgeable = np.isin(dev, english_judgeable(table, dev))
    rows = []
    for share in (0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9):
        cut = np.quantile(pc[judgeable], share) if share else -np.inf
        alone = ~judgeable | (pc < cut)
        rows.append({"judgeable_share_decided_alone": share, "decided_alone": float(alone.mean()),
                     "lm_reads": float(1 - alone.mean()), "auroc": auroc(y, np.where(alone, pc, pf))})
    out = {"n": int(len(dev)), "auroc_full": auroc(y, pf), "auroc_cheap": auroc(y, pc), "cascade": rows}
    if as_json:
        print(json.dumps(out, indent=1))
        return
    print(f"dev sample n={out['n']}: full model AUROC {out['auroc_full']:.4f}, cheap model {out['auroc_cheap']:.4f}")
    print("decided alone  LM reads  AUROC   lost")
    for r in rows:
        print(f"{r['decided_alone']:12.1%}  {r['lm_reads']:8.1%}  {r['auroc']:.4f}  {out['auroc_full'] - r['auroc']:+.4f}")


if __name__ == "__main__":
    main()
