"""Choosing the decision thresholds from held-out scores for target error rates."""

from __future__ import annotations

import math

import numpy as np

from detector.evaluation import auroc


def threshold_for_fpr(p_human, target_fpr: float) -> float:
    """Smallest threshold t with share(p_human >= t) <= target_fpr (flagged = at or above t)."""
    scores = np.sort(np.asarray(p_human, dtype=float))[::-1]
    if len(scores) == 0:
        raise ValueError("no human scores to set a false-positive threshold on")
    allowed = int(math.floor(target_fpr * len(scores) + 1e-9))
    if allowed >= len(scores):
        return 0.0
    return float(min(np.nextafter(scores[allowed], np.inf), 1.0))


def fpr_upper_bound(false_positives: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate observed as false_positives / n."""
    from scipy.stats import beta

    if false_positives >= n:
        return 1.0
    return float(beta.ppf(confidence, false_positives + 1, n - false_positives))


def threshold_for_fpr_bound(p_human, target_fpr: float, confidence: float = 0.95) -> float:
    """Smallest threshold whose false-positive rate is below target_fpr with the given confidence.

    With a few hundred human documents, a measured 1% is a noisy 1%; requiring the upper bound to meet
    the target keeps the real rate there on text like the validation set.
    """
    scores = np.sort(np.asarray(p_human, dtype=float))[::-1]
    n = len(scores)
    if n == 0:
        raise ValueError("no human scores to set a false-positive threshold on")
    allowed = 0
    while allowed < n and fpr_upper_bound(allowed + 1, n, confidence) <= target_fpr:
        allowed += 1
    if fpr_upper_bound(allowed, n, confidence) > target_fpr:  # even zero errors cannot show the target
        return float(min(np.nextafter(scores[0], np.inf), 1.0))
    return float(min(np.nextafter(scores[allowed], np.inf), 1.0)) if allowed < n else 0.0


def threshold_for_miss_rate(p_machine, target_miss: float) -> float:
    """Largest threshold t with share(p_machine < t) <= target_miss (grounded = below t)."""
    scores = np.sort(np.asarray(p_machine, dtype=float))
    if len(scores) == 0:
        raise ValueError("no machine scores to set a miss-rate threshold on")
    allowed = int(math.floor(target_miss * len(scores) + 1e-9))
    if allowed >= len(scores):
        return 1.0
    return float(scores[allowed])


def threshold_for_abstention(p_all, suspect: float, max_uncertain: float) -> float:
    """Smallest ground threshold g with share(g <= p < suspect) <= max_uncertain."""
    scores = np.asarray(p_all, dtype=float)
    if len(scores) == 0:
        raise ValueError("no scores to set an abstention budget on")
    below = np.sort(scores[scores < suspect])[::-1]
    allowed = int(math.floor(max_uncertain * len(scores) + 1e-9))
    if allowed >= len(below):
        return 0.0
    return float(min(np.nextafter(below[allowed], np.inf), suspect))


def error_rates(p_human, p_machine, threshold: float) -> dict:
    """Measured rates of the `suspected` rule at `threshold`, with the counts behind them."""
    p_human, p_machine = np.asarray(p_human), np.asarray(p_machine)
    return {"tpr": float((p_machine >= threshold).mean()), "fpr": float((p_human >= threshold).mean()),
            "n_machine": int(len(p_machine)), "n_human": int(len(p_human))}


def three_way(p, ground: float, suspect: float) -> np.ndarray:
    """Each score's decision as 0 grounded, 1 uncertain, 2 suspected_synthetic."""
    return np.where(p >= suspect, 2, np.where(p < ground, 0, 1))


def cascade_cutoff(p_cheap, p_full, y, ground: float, suspect: float, max_auroc_loss: float = 0.005,
                   max_disagreement: float = 0.02) -> float:
    """Largest cut-off c (at most `suspect`) below which the cheap stage may decide alone.

    Measured on documents scored by both stages: deciding every document with p_cheap < c by its cheap
    score must cost at most max_auroc_loss of the full model's AUROC, and change the three-way decision
    of at most max_disagreement of those documents. Capped at `suspect`: the cheap stage never flags
    through this rule.
    """
    p_cheap, p_full, y = (np.asarray(a, dtype=float) for a in (p_cheap, p_full, y))
    base = auroc(y, p_full)
    if base is None:
        raise ValueError("both classes are needed to choose the cascade cut-off")
    best = 0.0
    for c in np.unique(np.concatenate([p_cheap[p_cheap < suspect], [suspect]])):
        below = p_cheap < c
        if not below.any():
            continue
        loss = base - auroc(y, np.where(below, p_cheap, p_full))
        if loss <= max_auroc_loss and _decisions_changed(p_cheap, p_full, below, ground, suspect) <= max_disagreement:
            best = float(c)
    return best


def _decisions_changed(p_cheap, p_full, mask, ground: float, suspect: float) -> float:
    """Share of the documents in `mask` whose three-way decision differs between the two scores."""
    if not mask.any():
        return 0.0
    return float((three_way(p_cheap[mask], ground, suspect) != three_way(p_full[mask], ground, suspect)).mean())


def cascade_costs(p_cheap, p_full, y, decided_alone, ground: float, suspect: float, judged=None) -> dict:
    """What letting the cheap stage decide `decided_alone` documents costs against the full model.

    The cascade's score is the cheap one where it decides alone and the full one elsewhere; the
    return value holds the share the LM still reads, the AUROC of both, the loss in points, and the
    share of the alone-decided documents whose three-way decision changed. `judged` (a mask) limits
    that share to the documents the thresholds decide on: the others are uncertain either way.
    """
    p_cheap, p_full, y = (np.asarray(a, dtype=float) for a in (p_cheap, p_full, y))
    alone = np.asarray(decided_alone, dtype=bool)
    mixed = np.where(alone, p_cheap, p_full)
    full_auroc, cascade_auroc = auroc(y, p_full), auroc(y, mixed)
    if full_auroc is None:
        raise ValueError("both classes are needed to measure a cascade's cost")
    counted = alone if judged is None else alone & np.asarray(judged, dtype=bool)
    return {"decided_alone": float(alone.mean()), "lm_reads": float(1.0 - alone.mean()),
            "auroc_full": full_auroc, "auroc_cascade": cascade_auroc,
            "auroc_loss_points": 100.0 * (full_auroc - cascade_auroc),
            "decisions_changed": _decisions_changed(p_cheap, p_full, counted, ground, suspect)}


# p_machine is calibrated with equal class priors, so 0.5 is where the evidence leans neither way: a
# document is grounded only below it and flagged only at or above it, whatever the error targets give,
# so that the decision never contradicts the probability shown beside it.
NEUTRAL_P = 0.5


def promise_thresholds(p_machine_held_out, human_sets: dict, max_machine_grounded: float = 0.10,
                       max_human_flagged: float = 0.01, confidence: float = 0.95) -> dict:
    """The v2 decision rule, from held-out scores.

    ground: the largest cut-off that puts at most `max_machine_grounded` of the held-out machine scores
        in `grounded` (below it), capped at NEUTRAL_P.
    suspect: the smallest cut-off whose rate of flagged human text is below `max_human_flagged` with
        `confidence` (one-sided Clopper-Pearson) on every set of `human_sets` (name -> scores), at least
        NEUTRAL_P.
    Everything between is `uncertain`, as wide as the evidence makes it. Returns the two cut-offs and,
    per set, what was measured at them.
    """
    machine = np.asarray(p_machine_held_out, dtype=float)
    ground_rule = threshold_for_miss_rate(machine, max_machine_grounded)
    by_set = {name: threshold_for_fpr_bound(scores, max_human_flagged, confidence) for name, scores in human_sets.items()}
    suspect = max([NEUTRAL_P, *by_set.values()])
    ground = min(ground_rule, NEUTRAL_P, suspect)
    return {
        "ground": float(ground), "suspect": float(suspect),
        "ground_from_machine_rule": float(ground_rule), "suspect_by_human_set": {k: float(v) for k, v in by_set.items()},
        "machine_grounded": float((machine < ground).mean()), "machine_flagged": float((machine >= suspect).mean()),
        "human_flagged": {name: {"n": int(len(s)), "flagged": int((np.asarray(s) >= suspect).sum()),
                                 "rate": float((np.asarray(s) >= suspect).mean()),
                                 "upper_bound": fpr_upper_bound(int((np.asarray(s) >= suspect).sum()), len(s), confidence)}
                          for name, s in human_sets.items()},
        "targets": {"max_machine_grounded": max_machine_grounded, "max_human_flagged": max_human_flagged,
                    "confidence": confidence},
    }


# The fixed `overwhelming` cut-off models carried before overwhelming_threshold (max(0.995, suspect)):
# the rule never goes below it, since a kind with no held-out human text (a language only machine text
# came in, or one never seen) shows nothing, and the one cut-off serves every kind.
OVERWHELMING_FLOOR = 0.995


def overwhelming_threshold(suspect: float, unjudged_human_sets: dict, max_human_flagged: float = 0.01,
                           confidence: float = 0.95) -> tuple[float, dict]:
    """The cut-off at which a document the reference LM cannot judge (another language, too few tokens)
    is flagged all the same, and the cut-off each set asked for.

    The suspect rule applied to such documents: the smallest cut-off, never below `suspect` nor
    OVERWHELMING_FLOOR, whose flagged share of every set in `unjudged_human_sets` (name -> held-out
    human scores of one kind the LM cannot judge, e.g. one language) stays below max_human_flagged with
    `confidence`. A set too small to show the target even with none flagged puts the cut-off just
    above its highest score: on the scores it was set on it then flags none of that kind, though a new
    document of a kind of n can still pass it about once in n + 1. A human score of exactly 1 cannot be
    passed (the cut-off is capped at 1, and p >= 1 flags).
    """
    by_set = {}
    for name, scores in unjudged_human_sets.items():
        scores = np.asarray(scores, dtype=float)
        if not np.isfinite(scores).all():
            raise ValueError(f"human scores of {name!r} hold NaN or infinite values")
        if len(scores):
            by_set[name] = threshold_for_fpr_bound(scores, max_human_flagged, confidence)
    return float(max([suspect, OVERWHELMING_FLOOR, *by_set.values()])), by_set


def reference_flagged(p_reference, suspect: float, confidence: float = 0.95) -> dict:
    """How many of a human reference's scores a suspect cut-off flags, with the one-sided upper bound."""
    scores = np.asarray(p_reference, dtype=float)
    flagged = int((scores >= suspect).sum())
    return {"n": int(scores.size), "flagged": flagged, "rate": flagged / scores.size if scores.size else None,
            "upper_bound": fpr_upper_bound(flagged, int(scores.size), confidence) if scores.size else None}


def min_reference_size(target_fpr: float, confidence: float = 0.95) -> int:
    """The fewest human documents that can show a flagged rate below target_fpr with `confidence`,
    even when none is flagged (299 for 1% at 95%)."""
    n = 1
    while fpr_upper_bound(0, n, confidence) > target_fpr:
        n = n * 2
    low = n // 2
    while low + 1 < n:  # the bound falls as n grows: bisect between a failing and a passing size
        middle = (low + n) // 2
        low, n = (low, middle) if fpr_upper_bound(0, middle, confidence) <= target_fpr else (middle, n)
    return n


def corpus_suspect(p_reference, target_fpr: float, confidence: float = 0.95) -> float | None:
    """The suspect cut-off re-set on a corpus's own human reference (the judgeable reference documents'
    scores): the smallest cut-off whose flagged share of the reference is below target_fpr with
    `confidence` (one-sided Clopper-Pearson), as the model's own rule does on its human sets, and never
    below NEUTRAL_P, so that the decision still follows the probability. None when the reference is
    too small to show the target at all (fewer than min_reference_size documents)."""
    scores = np.asarray(p_reference, dtype=float)
    if scores.size < min_reference_size(target_fpr, confidence):
        return None
    return max(NEUTRAL_P, threshold_for_fpr_bound(scores, target_fpr, confidence))
