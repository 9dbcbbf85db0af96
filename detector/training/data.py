"""Shared helpers for the scripts: reading ../shared/data by path, the extraction plan and the LM output cache."""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import defaultdict
from pathlib import Path

from detector.features.lm import LM_FEATURE_VERSION
from detector.features.precision import DEFAULT_PRECISION

ROOT = Path(__file__).resolve().parents[2]  # the repository (detector/training/data.py)
SHARED_DATA = Path(os.environ.get("SYNTHSIEVE_SHARED_DATA", ROOT.parent / "shared" / "data"))
FEATURE_CACHE = Path(os.environ.get("SYNTHSIEVE_FEATURE_CACHE", ROOT / ".cache" / "features"))
# Machine text generated for training (scripts/generate_continuations.py). It holds openings of the
# shared data's texts, so it lives outside the work tree and is never committed.
GENERATED_DATA = Path(os.environ.get("SYNTHSIEVE_GENERATED_DATA",
                                     Path.home() / ".cache" / "synthsieve" / "generated"))


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


def benchmark_rows(n_docs: int, seed: int) -> list[dict]:
    """The benchmark corpus: dev documents stratified by generator and domain."""
    return stratified_sample(load_split("dev"), n_docs, keys=("generator", "domain"), seed=seed)


def english_dev_texts(lm, n_docs: int, tokens: int) -> list[str]:
    """The first n_docs English dev documents that reach `tokens` tokens of `lm` (a PerplexityFeatures),
    so that every document fills the cap: the throughput benchmarks' documents, the same in every worker."""
    texts = [row["text"] for row in load_split("dev") if row["language"] == "en" and len(row["text"]) > tokens * 3]
    counts = lm.count_tokens(texts)  # counts are capped at the LM's token_cap
    chosen = [t for t, c in zip(texts, counts) if c >= tokens]
    if len(chosen) < n_docs:
        raise ValueError(f"only {len(chosen)} dev documents reach {tokens} tokens, {n_docs} asked for")
    return chosen[:n_docs]


def extract_in_chunks(extractor, todo: list[dict], chunk: int, store) -> None:
    """Runs the LM over `todo` rows `chunk` at a time, hands each chunk's (rows, results) to `store`
    (which must make them durable: an interrupted run resumes from what was stored), with progress."""
    import time

    from detector.features.hygiene import normalize_for_scoring

    start, done = time.time(), 0
    for begin in range(0, len(todo), chunk):
        rows = todo[begin:begin + chunk]
        store(rows, extractor.compute([normalize_for_scoring(row["text"]).text for row in rows]))
        done += len(rows)
        rate = done / (time.time() - start)
        print(f"{done}/{len(todo)} docs, {rate:.2f} docs/s, eta {(len(todo) - done) / rate / 3600:.2f} h",
              flush=True)


# What the LM outputs are extracted for: (file, split field value or None for all, how many at most).
# About 31,000 training rows (all of modern's and the learners' train splits, the human pool, a stratified
# 8,000 of train.jsonl) and 10,600 for checks (every human validation set whole, samples of dev.jsonl and
# polished_light's dev split); about 90 minutes on 2 otherwise idle CPU cores at a 256-token cap, minutes on a GPU.
PLAN = (
    ("modern", "train", None), ("learners", "train", None), ("train", None, 8000), ("human_pool", None, None),
    ("dev", None, 2500), ("modern", "dev", None), ("learners", "dev", None), ("grounded_docs", None, None),
    ("polished_light", "dev", 600),
)
# The extended plan (`--extended`): files whose other rows follow PLAN's (the rest of train.jsonl: 29,063
# rows, about two hours here), mixed by the same hash among themselves, so that any prefix of them is a
# proportional sample of the rest. They come after PLAN's documents rather than among them, so the first N
# of the extended plan are the plan's first N for every N up to its size (41,174). Their set is
# "<file>:extension", so a measurement can fit on them without scoring them (EvidenceTable.fit_only). Opt-in:
# the shipped model is trained on PLAN alone (the extension was measured and not adopted; README, "More rows
# of train.jsonl").
EXTENSION = ("train",)
EXTENSION_SETS = tuple(f"{name}:extension" for name in EXTENSION)


def planned_documents(seed: int = 0, extended: bool = False) -> list[dict]:
    files: dict[str, list[dict]] = {}  # each file read once: train.jsonl feeds the plan and its extension
    seen: set[str] = set()

    def new_rows(name: str, split: str | None, limit: int | None, part: str | None = None) -> list[dict]:
        if name not in files:
            files[name] = load_split(name)
        rows = [r for r in files[name] if split is None or r.get("split") == split]
        if limit is not None:
            rows = stratified_sample(rows, limit, seed=seed)
        out = []
        for row in rows:
            if row["id"] not in seen:
                seen.add(row["id"])
                out.append({**row, "set": f"{name}:{part or split or 'all'}"})
        return out

    def by_hash(row: dict) -> bytes:
        return hashlib.sha1(f"{seed}:{row['id']}".encode()).digest()

    plan = sorted((row for entry in PLAN for row in new_rows(*entry)), key=by_hash)
    if extended:
        plan += sorted((row for name in EXTENSION for row in new_rows(name, None, None, "extension")), key=by_hash)
    return plan


GENERATED_PREFIX = "generated:"  # the set of every generated document: generated:<name>


def generated_documents(names, opening_ids=None) -> list[dict]:
    """The generated machine documents of each name (GENERATED_DATA/<name>.jsonl, written by
    scripts/generate_continuations.py) as plan rows of the set generated:<name>; only those grown from
    an opening in `opening_ids` when given (so a prefix of the plan brings its own continuations)."""
    rows = []
    for name in names:
        path = GENERATED_DATA / f"{name}.jsonl"
        if not path.exists():
            raise SystemExit(f"{path} not found: run scripts/generate_continuations.py --name {name}")
        for row in read_jsonl(path):
            if row.get("label") != "machine" or not row.get("prefix_id") or not row.get("source"):
                # Without its opening's source a row would not be held out with it: a leak.
                raise SystemExit(f"{path}: every generated row must be machine text with its prefix_id and source")
            if opening_ids is None or row["prefix_id"] in opening_ids:
                rows.append({**row, "set": f"{GENERATED_PREFIX}{name}"})
    return rows


def lm_outputs_key(reference_sha256: str, token_cap: int = 512, precision: str = DEFAULT_PRECISION) -> str:
    """The LM output cache's key: outputs version, statistics version, reference-model hash, token cap,
    and the precision where it is not the default (the training data's; int8 outputs are only for
    measuring; caches written before the precision was in the key keep their name)."""
    from detector.features.lm import LM_OUTPUTS_VERSION

    suffix = "" if precision == DEFAULT_PRECISION else f"-{precision}"
    return f"{LM_OUTPUTS_VERSION}-{LM_FEATURE_VERSION}-{reference_sha256[:12]}-cap{token_cap}{suffix}"


class LMOutputCache:
    """Everything one LM pass gives per document (statistics, pooled hidden states, token sequences),
    keyed by document id, in chunk files under the user cache directory (outside the work tree, so a
    fresh checkout keeps it). Each chunk is written whole under a temporary name and renamed, so an
    interrupted extraction loses at most the chunk in progress and resumes where it stopped.
    """

    def __init__(self, key: str, root: Path | None = None):
        from detector.reference_lm import cache_dir

        self.directory = Path(root or cache_dir() / "lm-outputs") / key
        self.directory.mkdir(parents=True, exist_ok=True)
        self.index: dict[str, tuple[str, int]] = {}  # id -> (chunk file, row)
        for path in sorted(self.directory.glob("chunk-*.npz")):
            import numpy as np

            with np.load(path) as data:
                for row, doc_id in enumerate(data["ids"]):
                    self.index[str(doc_id)] = (path.name, row)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.index

    def arrays(self, ids: list[str]) -> dict:
        """`n_tokens`, `stats` (LM statistics, NaN where too short) and `hidden` (2, layers, size) of
        each id, in order; every id must be cached (check with `in`)."""
        import numpy as np

        by_chunk: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for position, doc_id in enumerate(ids):
            chunk, row = self.index[doc_id]
            by_chunk[chunk].append((position, row))
        out = {}
        for chunk, pairs in by_chunk.items():
            with np.load(self.directory / chunk) as data:
                for name in ("n_tokens", "stats", "hidden"):
                    values = data[name]
                    if name not in out:
                        out[name] = np.zeros((len(ids), *values.shape[1:]), dtype=values.dtype)
                    positions, rows = zip(*pairs)
                    out[name][list(positions)] = values[list(rows)]
        return out

    def token_sequences(self, ids: list[str]) -> list:
        """Each id's per-token sequences, (len(TOKEN_SEQUENCE_NAMES), n) float16, or None where the
        document was too short to score; every id must be cached."""
        import numpy as np

        by_chunk: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for position, doc_id in enumerate(ids):
            chunk, row = self.index[doc_id]
            by_chunk[chunk].append((position, row))
        out: list = [None] * len(ids)
        for chunk, pairs in by_chunk.items():
            with np.load(self.directory / chunk) as data:
                lengths, tokens = data["token_lengths"], data["tokens"]
                starts = np.concatenate([[0], np.cumsum(lengths)])
                for position, row in pairs:
                    if lengths[row]:
                        out[position] = tokens[:, starts[row]:starts[row + 1]]
        return out

    def add(self, ids: list[str], results) -> None:
        """Stores one chunk: `results` are detector.features.lm.LMResult with kept outputs."""
        import numpy as np

        from detector.features.lm import LM_FEATURE_NAMES, POOLED_LAYERS, TOKEN_SEQUENCE_NAMES

        width = len(LM_FEATURE_NAMES)
        hidden_shape = next((r.hidden.shape for r in results if r.hidden is not None), (2, len(POOLED_LAYERS), 0))
        stats = np.full((len(results), width), np.nan, dtype=np.float32)
        hidden = np.zeros((len(results), *hidden_shape), dtype=np.float16)
        lengths = np.array([0 if r.tokens is None else r.tokens.shape[1] for r in results], dtype=np.int32)
        tokens = np.zeros((len(TOKEN_SEQUENCE_NAMES), int(lengths.sum())), dtype=np.float16)
        at = 0
        for row, result in enumerate(results):
            if result.features is not None:
                stats[row] = result.features
                hidden[row] = result.hidden
                tokens[:, at:at + lengths[row]] = result.tokens
                at += lengths[row]
        # The ids' hash keeps two extractions writing to one cache at once from taking the same name.
        digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:8]
        name = f"chunk-{len(list(self.directory.glob('chunk-*.npz'))):06d}-{digest}.npz"
        temporary = self.directory / f".{name}.tmp.npz"
        np.savez(temporary, ids=np.array(ids), n_tokens=np.array([r.n_tokens for r in results], dtype=np.int32),
                 stats=stats, hidden=hidden, token_lengths=lengths, tokens=tokens)
        os.replace(temporary, self.directory / name)
        for row, doc_id in enumerate(ids):
            self.index[doc_id] = (name, row)
