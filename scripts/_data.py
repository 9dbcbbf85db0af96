"""Shared helpers for the scripts: reading ../shared/data by path and the LM feature cache."""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from pathlib import Path

from detector.perplexity import LM_FEATURE_VERSION

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SYNTHSIEVE_SHARED_DATA", ROOT.parent / "shared" / "data"))
FEATURE_CACHE = Path(os.environ.get("SYNTHSIEVE_FEATURE_CACHE", ROOT / ".cache" / "features"))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_split(name: str) -> list[dict]:
    """One of train, dev, human_pool, grounded_docs; fails with a clear message when absent."""
    path = SHARED_DATA / f"{name}.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} not found: set SYNTHSIEVE_SHARED_DATA to the shared data folder")
    rows = read_jsonl(path)
    for row in rows:
        row.setdefault("split", name)
    return rows


def stratified_sample(rows: list[dict], n: int, keys=("generator", "domain"), seed: int = 0) -> list[dict]:
    """Round-robin over strata so small generators and domains are not crowded out by big ones."""
    if n >= len(rows):
        return list(rows)
    rng = random.Random(seed)
    strata: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        strata[tuple(row.get(k) for k in keys)].append(row)
    for bucket in strata.values():
        rng.shuffle(bucket)
    buckets = sorted(strata.values(), key=len)
    picked: list[dict] = []
    depth = 0
    while len(picked) < n:
        for bucket in buckets:
            if depth < len(bucket) and len(picked) < n:
                picked.append(bucket[depth])
        depth += 1
    return picked


def lm_cache_key(reference_sha256: str, token_cap: int = 512) -> str:
    """The LM feature cache's key: feature version, reference-model hash, token cap."""
    return f"{LM_FEATURE_VERSION}-{reference_sha256[:12]}-cap{token_cap}"


class LMFeatureCache:
    """Append-only JSONL of LM features keyed by document id, for one (feature version, model, cap)."""

    def __init__(self, key: str):
        FEATURE_CACHE.mkdir(parents=True, exist_ok=True)
        self.path = FEATURE_CACHE / f"lm-{key}.jsonl"
        self.entries: dict[str, dict] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:  # a torn last line after a kill
                        continue
                    self.entries[entry["id"]] = entry

    def add(self, entries: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry) + "\n")
                self.entries[entry["id"]] = entry
            handle.flush()
            os.fsync(handle.fileno())
