"""Scoring throughput on this machine: the full pipeline next to a plain forward pass, in each precision.

For every token cap and precision (bf16, int8) one worker process loads the detector and measures,
on the same documents with the same batches: the plain pass (tokenising and the reference LM's
batched forward pass, nothing else) and the pipeline (Detector.score: normalisation, stylometry,
style model, language ID, one LM pass that also keeps the hidden states and token sequences, the
hidden-state probe, the sequence model, the classifier). A fresh process per measurement, so that
its peak resident memory (ru_maxrss) is that of one worker scoring in that precision.

Core-hours per million documents = threads x 10^6 / (documents per second) / 3600: the CPU time one
worker with that many threads needs, taking every thread as a core it holds.

    python scripts/benchmark_throughput.py [--docs 48] [--repeats 2] [--caps 256,512]
        [--precisions bf16,int8] [--threads N] [--json]

`--json > models/benchmark.json` is what scripts/write_model_card.py reads: `runs` holds one entry
per cap and precision (`precision` names it; earlier files had bf16 only and no such key).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time

import click


def plain_forward(detector, texts) -> float:
    """Seconds for tokenising and the batched forward pass alone, batched as the pipeline batches."""
    import torch

    lm = detector.lm
    started = time.perf_counter()
    ids, _ = lm.tokenize(texts)
    per_batch = max(1, lm.batch_tokens // max(len(r) for r in ids))
    with torch.inference_mode():
        for begin in range(0, len(ids), per_batch):
            batch = torch.tensor(ids[begin : begin + per_batch])
            lm._model(input_ids=batch.to(lm.device)).logits
    return time.perf_counter() - started


def core_hours_per_million(docs_per_s: float, cores: int) -> float:
    return cores * 1e6 / docs_per_s / 3600


def measure(cap: int, precision: str, docs: int, repeats: int, batch_tokens: int, threads: int) -> dict:
    """One worker's measurement (run in its own process): forward pass and pipeline at one cap and precision."""
    import resource

    import torch

    from detector import Detector
    from detector.training.data import english_dev_texts

    torch.set_num_threads(threads)
    detector = Detector.load(token_cap=cap, compile_statistics=True, precision=precision)
    detector.lm.batch_tokens = batch_tokens
    texts = english_dev_texts(detector.lm, docs, cap)
    detector.score(texts[:4])  # warm-up: compile, caches, thread pools
    plain_forward(detector, texts[:4])
    forward = min(plain_forward(detector, texts) for _ in range(repeats))
    pipeline = []
    for _ in range(repeats):
        started = time.perf_counter()
        scores = detector.score(texts)
        pipeline.append(time.perf_counter() - started)
    full = min(pipeline)
    tokens = docs * cap
    return {
        "token_cap": cap, "precision": precision, "docs": docs, "threads": threads,
        "forward_docs_per_s": docs / forward, "forward_tokens_per_s": tokens / forward,
        "pipeline_docs_per_s": docs / full, "pipeline_tokens_per_s": tokens / full,
        "pipeline_share_of_forward": forward / full,
        "forward_core_hours_per_million_docs": core_hours_per_million(docs / forward, threads),
        "pipeline_core_hours_per_million_docs": core_hours_per_million(docs / full, threads),
        # Linux reports ru_maxrss in KiB: the worker's peak, model load and scoring included.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "documents_sha256": hashlib.sha256("\0".join(texts).encode()).hexdigest(),
        "model_id": detector.model_label,
        "p_machine": [round(s.p_machine, 6) for s in scores],
        "decisions": [s.decision for s in scores],
    }


def in_worker(*args) -> dict:
    """`measure` in a fresh process (spawned: nothing of this one's memory or threads carries over)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, *args).result()


def compare(runs: list[dict]) -> list[dict]:
    """Per cap, each other precision against bf16: speed ratios, and how far its scores moved."""
    import numpy as np

    out = []
    for base in (r for r in runs if r["precision"] == "bf16"):
        for other in (r for r in runs if r["token_cap"] == base["token_cap"] and r["precision"] != "bf16"):
            same_docs = other["documents_sha256"] == base["documents_sha256"]
            p, q = np.array(base["p_machine"]), np.array(other["p_machine"])
            out.append({
                "token_cap": base["token_cap"], "precision": other["precision"], "same_documents": same_docs,
                "forward_speedup": other["forward_tokens_per_s"] / base["forward_tokens_per_s"],
                "pipeline_speedup": other["pipeline_tokens_per_s"] / base["pipeline_tokens_per_s"],
                "p_machine_max_abs_difference": float(np.abs(p - q).max()) if same_docs else None,
                "decision_agreement": (float(np.mean([a == b for a, b in zip(base["decisions"], other["decisions"])]))
                                       if same_docs else None),
            })
    return out


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


@click.command()
@click.option("--docs", default=48, show_default=True, type=click.IntRange(4), help="Documents per measurement.")
@click.option("--repeats", default=2, show_default=True, type=click.IntRange(1), help="Best of this many runs.")
@click.option("--batch-tokens", default=4096, show_default=True)
@click.option("--caps", default="256,512", show_default=True, help="Token caps, comma-separated.")
@click.option("--precisions", default="bf16,int8", show_default=True,
              help="Reference LM precisions, comma-separated (int8: CPU only).")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch threads per worker (default: torch's own, the cores it sees).")
@click.option("--json", "as_json", is_flag=True)
def main(docs, repeats, batch_tokens, caps, precisions, threads, as_json):
    import torch

    from detector.features.precision import PRECISIONS

    chosen = [p.strip() for p in precisions.split(",") if p.strip()]
    bad = [p for p in chosen if p not in PRECISIONS]
    if bad or not chosen:
        raise click.BadParameter(f"{bad or precisions!r}: choose from {', '.join(PRECISIONS)}",
                                 param_hint="--precisions")
    threads = threads or torch.get_num_threads()
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": threads,
                           "device": "cuda" if torch.cuda.is_available() else "cpu"},
               "command": " ".join(["python", "scripts/benchmark_throughput.py", *sys.argv[1:]]), "runs": []}
    for cap in _ints(caps):
        for precision in chosen:
            run = in_worker(cap, precision, docs, repeats, batch_tokens, threads)
            results["model_id"] = run.pop("model_id")
            results["runs"].append(run)
            if not as_json:
                print(f"cap {cap} {precision}: forward {run['forward_tokens_per_s']:.0f} tok/s "
                      f"({run['forward_docs_per_s']:.2f} docs/s); pipeline {run['pipeline_tokens_per_s']:.0f} tok/s "
                      f"({run['pipeline_docs_per_s']:.2f} docs/s, {100 * run['pipeline_share_of_forward']:.0f}% of "
                      f"the forward pass); {run['pipeline_core_hours_per_million_docs']:.0f} core-hours per million "
                      f"documents; peak {run['peak_rss_mib']:.0f} MiB per worker", flush=True)
    results["precision_comparison"] = compare(results["runs"])
    for run in results["runs"]:  # kept for the comparison only
        del run["p_machine"], run["decisions"]
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        for c in results["precision_comparison"]:
            print(f"cap {c['token_cap']} {c['precision']} vs bf16: forward x{c['forward_speedup']:.2f}, pipeline "
                  f"x{c['pipeline_speedup']:.2f}; p_machine moved by at most {c['p_machine_max_abs_difference']}, "
                  f"decisions agree on {c['decision_agreement']}")


if __name__ == "__main__":
    main()
