"""Counts, partition shares and mean score per value of one column (language, source, length, ...)."""

from __future__ import annotations

import numpy as np

from filters.document import PARTITIONS, SUSPECTED, UNCERTAIN
from filters.report.load import RunData


def group_totals(run: RunData, keys: np.ndarray) -> tuple[np.ndarray, dict]:
    """Per distinct key: documents, partition counts, tokens and score sums, all vectorised."""
    labels, inverse = np.unique(keys.astype(str), return_inverse=True)
    size = len(labels)
    scored = run.scored & ~np.isnan(run.p_machine)
    totals = {
        "documents": np.bincount(inverse, minlength=size),
        "scored": np.bincount(inverse[scored], minlength=size),
        "tokens": np.bincount(inverse[run.scored], weights=run.n_tokens[run.scored], minlength=size),
        "score_sum": np.bincount(inverse[scored], weights=run.p_machine[scored], minlength=size),
    }
    for partition in PARTITIONS:
        totals[partition] = np.bincount(inverse[run.partition == partition], minlength=size)
    return labels, totals


def bucket(label: str, documents: int, counts: dict, tokens: float, scored: int, score_sum: float) -> dict:
    return {
        "key": label,
        "documents": int(documents),
        "tokens": int(tokens),
        "partitions": {p: int(counts[p]) for p in PARTITIONS},
        "shares": {p: (float(counts[p] / documents) if documents else None) for p in PARTITIONS},
        "mean_p_machine": (float(score_sum / scored) if scored else None),
    }


def buckets_for(run: RunData, keys: np.ndarray, order: list[str] | None = None,
                max_buckets: int | None = None) -> list[dict]:
    """Buckets sorted by size (or in `order`); past max_buckets the smallest are pooled into one."""
    labels, totals = group_totals(run, keys)
    rows = [bucket(str(label), totals["documents"][i], {p: totals[p][i] for p in PARTITIONS},
                   totals["tokens"][i], totals["scored"][i], totals["score_sum"][i])
            | {"_scored": int(totals["scored"][i]), "_score_sum": float(totals["score_sum"][i])}
            for i, label in enumerate(labels)]
    if order is not None:
        rank = {key: i for i, key in enumerate(order)}
        rows.sort(key=lambda r: rank.get(r["key"], len(rank)))
    else:
        rows.sort(key=lambda r: (-r["documents"], r["key"]))
    if max_buckets is not None and len(rows) > max_buckets:
        kept, rest = rows[: max_buckets - 1], rows[max_buckets - 1:]
        rows = kept + [pooled_bucket(rest, f"(other: {len(rest)} values)")]
    for row in rows:
        row.pop("_scored"), row.pop("_score_sum")
    return rows


def pooled_bucket(rows: list[dict], label: str) -> dict:
    documents = sum(r["documents"] for r in rows)
    counts = {p: sum(r["partitions"][p] for r in rows) for p in PARTITIONS}
    pooled = bucket(label, documents, counts, sum(r["tokens"] for r in rows), sum(r["_scored"] for r in rows),
                    sum(r["_score_sum"] for r in rows))
    pooled |= {"_scored": sum(r["_scored"] for r in rows), "_score_sum": sum(r["_score_sum"] for r in rows),
               "pooled_values": len(rows)}
    return pooled


def length_edges(min_tokens: int) -> list[int]:
    """Bucket edges in LM tokens; the first edge is the length below which the LM cannot judge."""
    return sorted({int(min_tokens), 200, 500, 1000, 2000} - {0})


def length_labels(n_tokens: np.ndarray, scored: np.ndarray, min_tokens: int) -> tuple[np.ndarray, list[str]]:
    edges = length_edges(min_tokens)
    names = [f"< {edges[0]} tokens"] + [f"{lo}–{hi - 1} tokens" for lo, hi in zip(edges, edges[1:])] + \
            [f"≥ {edges[-1]} tokens"]
    index = np.searchsorted(edges, n_tokens, side="right")
    labels = np.array([names[i] for i in index], dtype=object)
    labels[~scored] = "(quarantined: not tokenised)"
    return labels, names + ["(quarantined: not tokenised)"]


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def removal_row(dimension: str, label: str, documents: int, removed: int, uncertain: int,
                overall: float, min_documents: int, pooled: int | None = None) -> dict:
    share = removed / documents if documents else None
    ratio = share / overall if (share is not None and overall > 0) else None
    return {
        "dimension": dimension, "bucket": label, "documents": int(documents), "removed": int(removed),
        "removed_share": share, "removed_ci": wilson_interval(removed, documents),
        "overall_removed_share": overall, "ratio": ratio,
        "uncertain_share": uncertain / documents if documents else None,
        "warning": bool(ratio is not None and ratio > 2 and documents >= min_documents),
        "small": documents < min_documents, "pooled_values": pooled,
    }


def tail_rows(run: RunData, dimension: str, keys: np.ndarray, overall: float, min_documents: int,
              pool_rare: bool) -> list[dict]:
    """Removal share per bucket of scored documents; rare values are pooled into one tail bucket, since
    the long tail is made of exactly those values and one by one they are too small to judge."""
    scored = run.scored
    labels, inverse = np.unique(keys[scored].astype(str), return_inverse=True)
    size = len(labels)
    documents = np.bincount(inverse, minlength=size)
    removed = np.bincount(inverse[run.partition[scored] == SUSPECTED], minlength=size)
    uncertain = np.bincount(inverse[run.partition[scored] == UNCERTAIN], minlength=size)
    rows, rare = [], []
    for i, label in enumerate(labels):
        if pool_rare and documents[i] < min_documents:
            rare.append(i)
        else:
            rows.append(removal_row(dimension, str(label), documents[i], removed[i], uncertain[i], overall,
                                    min_documents))
    if len(rare) == 1:
        i = rare[0]
        rows.append(removal_row(dimension, str(labels[i]), documents[i], removed[i], uncertain[i], overall,
                                min_documents))
    elif rare:
        rows.append(removal_row(
            dimension, f"(long tail: {len(rare)} values with fewer than {min_documents} documents each)",
            documents[rare].sum(), removed[rare].sum(), uncertain[rare].sum(), overall, min_documents,
            pooled=len(rare)))
    return rows
