"""The reference LM's statistics read on their own (zero-shot) beside the learned model's held-out scores,
and saved held-out scores reused across evaluation runs (scripts/evaluate_languages.py,
scripts/evaluate_zero_shot.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from detector.features.lm import LM_FEATURE_NAMES
from detector.training.folds import statistic_aurocs

MIN_TOKENS = 50  # as the thresholds decide: documents shorter than this are not judged


def statistic_directions(table) -> np.ndarray:
    """+1 where a statistic is higher on machine text than on human text among the English-judgeable
    training rows (the shipped LM's), -1 where lower."""
    rows = table.judgeable(table.training)
    machine, human = rows[table.y[rows] == 1], rows[table.y[rows] == 0]
    gap = np.nanmean(table.stats[machine], axis=0) - np.nanmean(table.stats[human], axis=0)
    return np.where(gap >= 0, 1.0, -1.0)


def compare_statistics(table, other_cache, names: tuple[str, str], groups: dict[str, np.ndarray]) -> dict:
    """Per group (name -> table rows; groups may overlap: a source's human rows in each of its
    generators' groups), on its labelled rows that both LMs scored with at least MIN_TOKENS tokens: each
    statistic's AUROC under each LM, the best of them, and the median tokens per document. Groups with
    no labelled row the other LM scored are left out. The directions are the shipped LM's
    (statistic_directions) for both, so a statistic that flips shows below 0.5. The other LM's outputs
    are read once for all groups."""
    direction = statistic_directions(table)
    labelled = np.flatnonzero(table.y >= 0)  # polished-light text (NEITHER) is neither class
    wanted = np.intersect1d(labelled, np.concatenate([np.asarray(r, dtype=int) for r in groups.values()] or [[]]))
    both = np.array([i for i in wanted if table.rows[i]["id"] in other_cache], dtype=int)
    if not len(both):
        raise click.UsageError(f"no labelled document of the table is cached under {other_cache.directory}: "
                               "run scripts/extract_lm_outputs.py with that --reference-model first")
    other = other_cache.arrays([table.rows[i]["id"] for i in both])
    other_stats, other_tokens = other["stats"].astype(float), other["n_tokens"]
    long_enough = (table.n_tokens[both] >= MIN_TOKENS) & (other_tokens >= MIN_TOKENS)
    out = {}
    for group in sorted(groups, key=str):
        cached = np.isin(both, groups[group])
        if not cached.any():
            continue
        keep = cached & long_enough
        kept = both[keep]
        entry = {"n_human": int((table.y[kept] == 0).sum()), "n_machine": int((table.y[kept] == 1).sum())}
        for name, stats, tokens in ((names[0], table.stats[kept], table.n_tokens[kept]),
                                    (names[1], other_stats[keep], other_tokens[keep])):
            aurocs = statistic_aurocs(table.y[kept], stats, LM_FEATURE_NAMES, direction)
            known = {k: v for k, v in aurocs.items() if v is not None}
            best = max(known, key=known.get) if known else None
            entry[name] = {"median_tokens": float(np.median(tokens)) if len(tokens) else None,
                           "best_statistic": best, "best_auroc": known.get(best), "aurocs": aurocs}
        out[str(group)] = entry
    return out


def rows_by_value(values: np.ndarray, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """compare_statistics' groups from a value per table row (language, source): value -> its rows
    (of `rows` where given)."""
    rows = np.arange(len(values)) if rows is None else np.asarray(rows, dtype=int)
    return {str(v): rows[values[rows] == v] for v in set(values[rows])}


def standardised(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values centred and scaled by their mean and standard deviation over `rows` (NaN left out)."""
    return (values - np.nanmean(values[rows])) / np.nanstd(values[rows])


def blend_with_statistic(p: np.ndarray, statistic: np.ndarray, weight: float, rows: np.ndarray) -> np.ndarray:
    """The learned model's log-odds plus `weight` times a zero-shot statistic (already signed so that
    higher means machine), each standardised over `rows`, mapped into (0, 1) by the logistic function so
    that the threshold rules, written for probabilities (capped at 1, never below 0.5 for `suspect`),
    apply to it; NaN outside `rows`. A fixed blend, not a fit and not a calibrated probability: it shows
    what the statistic would add on the held-out rows, not a model to ship."""
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    log_odds = np.log(clipped / (1 - clipped))
    out = np.full(len(p), np.nan)
    total = standardised(log_odds, rows) + weight * standardised(statistic, rows)
    out[rows] = 1.0 / (1.0 + np.exp(-total[rows]))
    return out


def read_scores(path: Path, table, run: dict) -> np.ndarray:
    """Out-of-fold scores saved by an earlier run, which must be of the same documents in the same order
    and fit the same way (`run`: reference model, token cap, cross-fit folds, sequence epochs)."""
    with np.load(path, allow_pickle=False) as saved:
        ids, p = saved["ids"], saved["p"]
        saved_run = json.loads(str(saved["run"])) if "run" in saved.files else None
    if list(ids) != [r["id"] for r in table.rows]:
        raise click.BadParameter(f"{path} holds the scores of other documents ({len(ids)} against "
                                 f"{len(table.rows)}): remove it or give another path", param_hint="--scores")
    if saved_run != run:
        raise click.BadParameter(f"{path} was fit otherwise ({saved_run} against {run}): remove it or give "
                                 "another path", param_hint="--scores")
    return p


def saved_held_out_scores(path: Path | None, table, run: dict, fit) -> np.ndarray:
    """The held-out scores of `table` fit as `run` says: read from `path` when it exists (read_scores),
    else computed by `fit()` and written there (when a path is given), so that a rerun skips the refits."""
    if path is not None and path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")  # where np.savez writes it
    if path is not None and path.exists():
        return read_scores(path, table, run)
    p = fit()
    if path is not None:
        np.savez(path, ids=np.array([r["id"] for r in table.rows]), p=p, run=json.dumps(run))
    return p


def held_out_run(reference_hash: str, token_cap: int, k: int, sequence_epochs: int) -> dict:
    """How source_held_out_scores fits: what a saved scores file must have been fit with to be reused."""
    return {"reference_model_hash": reference_hash, "token_cap": token_cap, "cross_fit": k,
            "sequence_epochs": sequence_epochs, "weighting": "class"}


def source_held_out_scores(table, path: Path | None, run: dict, jobs: int, log=None) -> np.ndarray:
    """The stack's scores of every source group held out (evidence.held_out_scores, the shipped recipe
    with class weighting, fit as `run` from held_out_run says), through saved_held_out_scores: the
    evaluation scripts share one file."""
    from detector.training.evidence import held_out_scores

    return saved_held_out_scores(path, table, run, lambda: held_out_scores(
        table, "source", run["cross_fit"], 0, {"epochs": run["sequence_epochs"]}, jobs, log=log))
