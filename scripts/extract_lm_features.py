"""Compute and cache LM features for a stratified sample of ../shared/data.

Resumable: features are appended per chunk to a cache keyed by document id, feature version,
reference-model hash and token cap; a rerun skips what is done. Splits are interleaved so that a
partial run is still a usable, balanced sample.

    python scripts/extract_lm_features.py --train 16000 --human-pool 1300 --dev 6498 --grounded 1700

The defaults are the sample the shipped model was trained and thresholded on (all of dev).
"""

from __future__ import annotations

import random

import click


from detector.features.lm import PerplexityFeatures
from detector.training.data import LMFeatureCache, extract_in_chunks, lm_cache_key, load_split, stratified_sample


def planned_documents(sizes: dict[str, int], seed: int) -> list[dict]:
    plan = []
    for split, n in sizes.items():
        if n:
            keys = ("domain",) if split in ("human_pool", "grounded_docs") else ("generator", "domain")
            plan.extend(stratified_sample(load_split(split), n, keys=keys, seed=seed))
    random.Random(seed).shuffle(plan)
    return plan


@click.command()
@click.option("--train", default=16000, show_default=True)
@click.option("--human-pool", default=1300, show_default=True)
@click.option("--dev", default=6498, show_default=True)
@click.option("--grounded", default=1700, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--chunk", default=64, show_default=True)
@click.option("--token-cap", default=512, show_default=True)
@click.option("--reference-model", default=None)
def main(train, human_pool, dev, grounded, seed, chunk, token_cap, reference_model):
    extractor = PerplexityFeatures(reference_model=reference_model, token_cap=token_cap,
                                   compile_statistics=True).load()
    cache = LMFeatureCache(lm_cache_key(extractor.source.sha256, extractor.token_cap))
    plan = planned_documents({"train": train, "human_pool": human_pool, "dev": dev,
                              "grounded_docs": grounded}, seed)
    todo = [row for row in plan if row["id"] not in cache.entries]
    print(f"{len(plan)} planned, {len(todo)} to compute -> {cache.path}", flush=True)
    extract_in_chunks(extractor, todo, chunk, lambda rows, results: cache.add([
        {"id": row["id"], "split": row["split"], "n_tokens": res.n_tokens,
         "lm": None if res.features is None else [round(float(v), 6) for v in res.features]}
        for row, res in zip(rows, results)]))

if __name__ == "__main__":
    main()
