"""Filter throughput and what the cascade costs: documents per second on 1 and 2 workers, with and
without the cascade, on a corpus drawn from ../shared/data/dev.jsonl (labelled, so AUROC is measured
on the filter's own output).

    python scripts/benchmark_filter.py [--docs 5000] [--workers 1,2] [--json] [--report FILE]

Each configuration is a fresh `synthsieve filter` run (engine: local) into WORKDIR/<name>; docs/s is
documents over the run's wall time after the model is loaded in the parent (worker processes load
their own copy inside the timed part, as in real use). The goal the issue sets: the cascade at least 5x
faster than --full, at under 1 point of AUROC lost.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent

from detector.training.data import benchmark_rows

GOAL_SPEEDUP = 5.0
GOAL_AUROC_LOSS = 0.01


def build_corpus(path: Path, n_docs: int, seed: int) -> int:
    rows = benchmark_rows(n_docs, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: row[k] for k in ("id", "text", "label", "generator", "domain",
                                                          "language") if k in row}) + "\n")
    return len(rows)


def auroc_of(out: Path) -> tuple[float, int]:
    from sklearn.metrics import roc_auc_score

    from filters.document import SCORED_PARTITIONS
    from filters.store.output import iter_partition

    labels, scores = [], []
    for partition in SCORED_PARTITIONS:
        for row in iter_partition(out, partition):
            labels.append(1 if row["label"] == "machine" else 0)
            scores.append(row["synthsieve"]["p_machine"])
    return float(roc_auc_score(labels, scores)), len(labels)


def run_one(corpus: Path, out: Path, full: bool, workers: int, loader, detector, token_cap: int,
            shard_size: int) -> dict:
    from detector.progress import Progress
    from filters.executor.run import run_filter
    from filters.executor.settings import FilterSettings

    settings = FilterSettings(full=full, token_cap=token_cap, shard_size=shard_size)
    started = time.perf_counter()
    manifest = run_filter([str(corpus)], out, settings, detector_loader=loader, detector=detector,
                          workers=workers, restart=True, progress=Progress(log_every=60))
    seconds = time.perf_counter() - started
    auroc, n_scored = auroc_of(out)
    counts = manifest["counts"]
    return {"name": out.name, "cascade": not full, "workers": workers, "documents": counts["documents"],
            "seconds": round(seconds, 2), "docs_per_second": round(counts["documents"] / seconds, 3),
            "decided_by": counts["stages"], "partitions": counts["partitions"], "auroc": round(auroc, 4),
            "n_scored": n_scored, "shard_size": shard_size}


def summarise(results: list[dict]) -> dict:
    by_key = {(r["cascade"], r["workers"]): r for r in results}
    comparisons = []
    for workers in sorted({r["workers"] for r in results}):
        cascade, full = by_key.get((True, workers)), by_key.get((False, workers))
        if cascade and full:
            speedup = cascade["docs_per_second"] / full["docs_per_second"]
            loss = full["auroc"] - cascade["auroc"]
            comparisons.append({"workers": workers, "speedup": round(speedup, 2), "auroc_full": full["auroc"],
                                "auroc_cascade": cascade["auroc"], "auroc_loss_points": round(100 * loss, 2),
                                "meets_goal": speedup >= GOAL_SPEEDUP and loss < GOAL_AUROC_LOSS})
    return {"runs": results, "cascade_vs_full": comparisons}


def markdown(report: dict) -> str:
    lines = ["| run | workers | docs | seconds | docs/s | cheap / lm | AUROC |", "|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        stages = f"{r['decided_by'].get('cheap', 0)} / {r['decided_by'].get('lm', 0)}"
        lines.append(f"| {'cascade' if r['cascade'] else 'full'} | {r['workers']} | {r['documents']} | "
                     f"{r['seconds']} | {r['docs_per_second']} | {stages} | {r['auroc']:.4f} |")
    for c in report["cascade_vs_full"]:
        lines.append(f"\n{c['workers']} worker(s): cascade {c['speedup']}x faster than --full, AUROC "
                     f"{c['auroc_cascade']:.4f} vs {c['auroc_full']:.4f} ({c['auroc_loss_points']:+.2f} points "
                     f"lost); goal (>= {GOAL_SPEEDUP:g}x, < 1 point): {'met' if c['meets_goal'] else 'NOT met'}")
    return "\n".join(lines)


@click.command()
@click.option("--docs", default=5000, show_default=True, help="Corpus size (drawn from dev.jsonl).")
@click.option("--workers", default="1,2", show_default=True, help="Worker counts to measure, comma-separated.")
@click.option("--modes", default="cascade,full", show_default=True, help="cascade, full or both.")
@click.option("--workdir", default=".cache/benchmark-filter", show_default=True, type=click.Path(path_type=Path))
@click.option("--reference-model", default=None, help="Reference LM directory (default: shipped SmolLM2).")
@click.option("--token-cap", default=512, show_default=True)
@click.option("--shard-size", default=250, show_default=True,
              help="Records per shard. Shards are the unit of work: with fewer shards than workers, workers idle.")
@click.option("--seed", default=0, show_default=True)
@click.option("--report", "report_path", default=None, type=click.Path(path_type=Path),
              help="Also write the report as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a Markdown table.")
def main(docs, workers, modes, workdir, reference_model, token_cap, shard_size, seed, report_path, as_json):
    from filters.executor.detector_loader import DetectorLoader
    from filters.executor.local_engine import available_cpus

    corpus = workdir / f"dev-{docs}-{seed}.jsonl"
    n = build_corpus(corpus, docs, seed)
    loader = DetectorLoader(reference_model=reference_model, token_cap=token_cap)
    detector = loader()
    results = []

    def report_so_far() -> dict:
        report = summarise(results)
        report["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                             "cpus": available_cpus()}
        report["model"] = detector.provenance().get("model_id")
        report["command"] = " ".join(["python", "scripts/benchmark_filter.py", *sys.argv[1:]])
        return report

    for mode in [m.strip() for m in modes.split(",") if m.strip()]:
        for count in [int(w) for w in workers.split(",")]:
            name = f"{mode}-{count}w"
            print(f"benchmark: {name} on {n} documents", file=sys.stderr, flush=True)
            results.append(run_one(corpus, workdir / name, mode == "full", count, loader,
                                   detector, token_cap, shard_size))
            if report_path:  # after every run: hours of measurement survive an interruption
                report_path.write_text(json.dumps(report_so_far(), indent=2) + "\n")
    report = report_so_far()
    click.echo(json.dumps(report, indent=2) if as_json else markdown(report))


if __name__ == "__main__":
    main()
