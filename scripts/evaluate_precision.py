"""What the reference LM's precision and token cap cost in accuracy, on a labelled sample of dev.

Scores one sample (dev.jsonl stratified by generator and domain: detector.training.data.benchmark_rows)
with the shipped model at every token cap and precision asked for, and reports per setting: AUROC
(all, and English documents the LM can judge), the grounded / uncertain / suspected_synthetic shares
of each class, and how often its decisions agree with the reference setting (bf16 at the model's own
cap, 256 for the shipped model) on the same documents, with the largest change in p_machine.

    python scripts/evaluate_precision.py --n 2000 --out /tmp/precision.json
    python scripts/evaluate_precision.py --data ../shared/data/learners.jsonl --split dev --out /tmp/learners.json
    python scripts/evaluate_precision.py --n 20 --caps 256 --out /tmp/smoke.json   (a quick check)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def score_setting(rows: list[dict], cap: int, precision: str, batch_docs: int) -> dict:
    """p_machine and decisions of every row under one cap and precision, and the time it took."""
    from detector import Detector

    detector = Detector.load(token_cap=cap, precision=precision, compile_statistics=True)
    detector.score([rows[0]["text"]])  # warm-up: the one-off compile is not part of the time
    started = time.perf_counter()
    scores = []
    for begin in range(0, len(rows), batch_docs):
        scores.extend(detector.score([r["text"] for r in rows[begin : begin + batch_docs]]))
    seconds = time.perf_counter() - started
    return {"model_id": detector.model_label, "seconds": seconds, "p_machine": [s.p_machine for s in scores],
            "decisions": [s.decision for s in scores], "languages": [s.language for s in scores],
            "n_tokens": [s.n_tokens for s in scores], "thresholds": detector.thresholds}


def summarise(rows: list[dict], setting: dict, reference: dict | None) -> dict:
    from detector.decision import DECISIONS, judgeable
    from detector.evaluation import auroc

    y = np.array([1 if r["label"] == "machine" else 0 for r in rows])
    p = np.array(setting["p_machine"])
    decisions = np.array(setting["decisions"])
    judged = np.array([judgeable(lang, n, setting["thresholds"])
                       for lang, n in zip(setting["languages"], setting["n_tokens"])])
    shares = {label: {d: (float((decisions[y == value] == d).mean()) if (y == value).any() else None)
                      for d in DECISIONS}
              for label, value in (("human", 0), ("machine", 1))}
    out = {"n": int(len(y)), "n_human": int((y == 0).sum()), "n_machine": int((y == 1).sum()),
           "auroc": auroc(y, p), "auroc_judgeable": auroc(y[judged], p[judged]) if judged.any() else None,
           "n_judgeable": int(judged.sum()), "shares": shares,
           # Indicative only (one pass, batches of --batch-docs): benchmark_throughput.py measures speed.
           "docs_per_s": len(y) / setting["seconds"] if setting["seconds"] > 0 else None}
    if reference is not None:
        base = np.array(reference["decisions"])
        out["decision_agreement_with_reference"] = float((decisions == base).mean())
        out["decision_agreement_by_class"] = {label: (float((decisions == base)[y == value].mean())
                                                      if (y == value).any() else None)
                                              for label, value in (("human", 0), ("machine", 1))}
        out["p_machine_max_abs_difference"] = float(np.abs(p - np.array(reference["p_machine"])).max())
        out["p_machine_mean_abs_difference"] = float(np.abs(p - np.array(reference["p_machine"])).mean())
    return out


@click.command()
@click.option("--n", "n_docs", default=2000, show_default=True, type=click.IntRange(2),
              help="Documents of dev.jsonl (or --data), stratified by generator and domain.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Another labelled JSON Lines file (text, label human|machine), e.g. ../shared/data/modern.jsonl "
                   "or learners.jsonl (human only: AUROC is then n/a, the flagged share is the point).")
@click.option("--split", default=None, help="With --data: only rows whose `split` field is this (e.g. dev).")
@click.option("--seed", default=0, show_default=True)
@click.option("--caps", default="128,256,512", show_default=True, help="Token caps, comma-separated.")
@click.option("--precisions", default="bf16,int8", show_default=True, help="Precisions, comma-separated.")
@click.option("--reference", "reference_setting", default="bf16@256", show_default=True,
              help="The setting decisions are compared with, PRECISION@CAP (scored too if not in the grid).")
@click.option("--batch-docs", default=64, show_default=True, type=click.IntRange(1))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON written here.")
def main(n_docs, seed, caps, precisions, reference_setting, batch_docs, out, data, split):
    from detector.features.precision import PRECISIONS
    from detector.training.data import benchmark_rows, read_jsonl, stratified_sample

    grid = [(p.strip(), cap) for cap in _ints(caps) for p in precisions.split(",") if p.strip()]
    try:
        ref_precision, ref_cap = reference_setting.split("@")
        reference_key = (ref_precision, int(ref_cap))
    except ValueError:
        raise click.BadParameter(f"{reference_setting!r} is not PRECISION@CAP", param_hint="--reference") from None
    for precision, _ in [*grid, reference_key]:
        if precision not in PRECISIONS:
            raise click.BadParameter(f"{precision!r}: choose from {', '.join(PRECISIONS)}")
    if data is None:
        rows, sample = benchmark_rows(n_docs, seed), "dev.jsonl, stratified by generator and domain"
    else:
        rows = [r for r in read_jsonl(data) if split is None or r.get("split") == split]
        rows = stratified_sample(rows, n_docs, keys=("generator", "domain"), seed=seed)
        sample = f"{data.name}{f' (split {split})' if split else ''}, stratified by generator and domain"
    rows = [r for r in rows if r.get("label") in ("human", "machine") and isinstance(r.get("text"), str)]
    if not rows:
        raise click.UsageError("no labelled rows (text, label human|machine) to score")
    order = [reference_key] + [key for key in grid if key != reference_key]
    scored, results = {}, {"command": " ".join(["python", "scripts/evaluate_precision.py", *sys.argv[1:]]),
                           "n_docs": len(rows), "seed": seed, "sample": sample,
                           "reference": f"{reference_key[0]}@{reference_key[1]}", "settings": []}
    for precision, cap in order:
        click.echo(f"scoring {len(rows)} documents: {precision} at cap {cap}", err=True)
        scored[(precision, cap)] = setting = score_setting(rows, cap, precision, batch_docs)
        results["model_id"] = setting["model_id"]
        summary = summarise(rows, setting, None if (precision, cap) == reference_key else scored[reference_key])
        results["settings"].append({"precision": precision, "token_cap": cap,
                                    "in_grid": (precision, cap) in grid, **summary})
        out.write_text(json.dumps(results, indent=1))  # after every setting: a partial run still says something
    for s in results["settings"]:
        click.echo(f"{s['precision']}@{s['token_cap']}: AUROC {s['auroc']}, human flagged "
                   f"{s['shares']['human']['suspected_synthetic']}, machine grounded "
                   f"{s['shares']['machine']['grounded']}, decisions agree with {results['reference']} on {s.get('decision_agreement_with_reference', 1.0)}")
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
