"""Scoring throughput on this machine: the full feature pipeline next to a plain forward pass.

Both run in the same process on the same documents with the same batches: the plain pass is the
reference LM's batched forward pass and nothing else (tokenisation included in both); the pipeline is
Detector.score (normalisation, stylometry, style model, language ID, one LM pass that also keeps the
hidden states and token sequences, the hidden-state probe, the sequence model, classifier).

    python scripts/benchmark_throughput.py [--docs 48] [--repeats 2] [--json]
"""

from __future__ import annotations

import json
import platform
import time

import click


from detector import Detector
from detector.training.data import load_split


def documents_with_at_least(detector, n_docs: int, tokens: int) -> list[str]:
    texts = []
    for row in load_split("dev"):
        if row["language"] == "en" and len(row["text"]) > tokens * 3:
            texts.append(row["text"])
    counts = detector.lm.count_tokens(texts)  # counts are capped at token_cap
    chosen = [t for t, c in zip(texts, counts) if c >= tokens]
    if len(chosen) < n_docs:
        raise SystemExit(f"only {len(chosen)} dev documents reach {tokens} tokens")
    return chosen[:n_docs]


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


@click.command()
@click.option("--docs", default=48, show_default=True, help="Documents per measurement.")
@click.option("--repeats", default=2, show_default=True, help="Best of this many runs.")
@click.option("--batch-tokens", default=4096, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def main(docs, repeats, batch_tokens, as_json):
    import torch

    results = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                           "device": "cuda" if torch.cuda.is_available() else "cpu"}, "runs": []}
    for cap in (256, 512):
        detector = Detector.load(token_cap=cap, compile_statistics=True)
        results["model_id"] = detector.model_label
        detector.lm.batch_tokens = batch_tokens
        texts = documents_with_at_least(detector, docs, cap)
        detector.score(texts[:4])  # warm-up: compile, caches, thread pools
        plain_forward(detector, texts[:4])
        forward = min(plain_forward(detector, texts) for _ in range(repeats))
        pipeline = []
        for _ in range(repeats):
            started = time.perf_counter()
            detector.score(texts)
            pipeline.append(time.perf_counter() - started)
        full = min(pipeline)
        tokens = docs * cap
        run = {"token_cap": cap, "docs": docs, "forward_docs_per_s": docs / forward,
               "forward_tokens_per_s": tokens / forward, "pipeline_docs_per_s": docs / full,
               "pipeline_tokens_per_s": tokens / full, "pipeline_share_of_forward": forward / full}
        results["runs"].append(run)
        if not as_json:
            print(f"cap {cap}: forward {run['forward_tokens_per_s']:.0f} tok/s ({run['forward_docs_per_s']:.2f} docs/s); "
                  f"pipeline {run['pipeline_tokens_per_s']:.0f} tok/s ({run['pipeline_docs_per_s']:.2f} docs/s); "
                  f"pipeline at {100 * run['pipeline_share_of_forward']:.0f}% of the forward pass", flush=True)
    if as_json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
