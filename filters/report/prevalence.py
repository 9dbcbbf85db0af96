"""The machine-generated share of a corpus, corrected for the detector's measured error rates.

Method: adjusted classify-and-count (Rogan & Gladen, 1978). If q is the share of documents flagged,
TPR = P(flagged | machine) and FPR = P(flagged | human), then q = pi*TPR + (1-pi)*FPR, so
pi = (q - FPR) / (TPR - FPR), clipped to [0, 1].

Interval: Monte Carlo propagation of the three binomial uncertainties. q, TPR and FPR are each drawn
from the Jeffreys Beta posterior of their counts (flagged of n corpus documents, detected of n_machine,
flagged of n_human development documents), pushed through the formula and clipped; the 2.5th and
97.5th percentiles of the draws form the 95% interval. Jeffreys rather than a plain binomial
bootstrap because a measured FPR of exactly 0 would otherwise carry no uncertainty at all.

"Flagged" is p_machine at or above the cut-off the error rates were measured at (the `suspect`
threshold): that is how detector/thresholds.py:error_rates counts, and for every document the
reference LM can judge it is the same as decision == suspected_synthetic. Uncertain documents below
the cut-off count as not flagged, exactly as they did when TPR and FPR were measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
DRAWS = 20_000
# Below this TPR - FPR the correction divides by a small, noisy number: the estimate is fragile.
WEAK_SEPARATION = 0.5


@dataclass(frozen=True)
class ErrorRates:
    tpr: float
    fpr: float
    n_machine: int
    n_human: int
    threshold: float | None = None  # cut-off the rates were measured at, when the model records it

    @classmethod
    def from_manifest(cls, manifest: dict) -> "ErrorRates | None":
        rates = ((manifest.get("model") or {}).get("error_rates")) or {}
        try:
            tpr, fpr = float(rates["tpr"]), float(rates["fpr"])
            n_machine, n_human = int(rates["n_machine"]), int(rates["n_human"])
        except (KeyError, TypeError, ValueError):
            return None
        if not (0 <= tpr <= 1 and 0 <= fpr <= 1 and n_machine > 0 and n_human > 0):
            return None
        threshold = rates.get("threshold")
        return cls(tpr, fpr, n_machine, n_human, float(threshold) if threshold is not None else None)

    def draws(self, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return (jeffreys_draws(round(self.tpr * self.n_machine), self.n_machine, n_draws, rng),
                jeffreys_draws(round(self.fpr * self.n_human), self.n_human, n_draws, rng))


def jeffreys_draws(successes: int, trials: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    return rng.beta(successes + 0.5, trials - successes + 0.5, size=n_draws)


def rogan_gladen(q, tpr, fpr):
    """pi = (q - fpr) / (tpr - fpr) clipped to [0, 1]; with no separation the sign of q - fpr decides
    the side (the data cannot say more than that)."""
    q, tpr, fpr = np.broadcast_arrays(np.asarray(q, float), np.asarray(tpr, float), np.asarray(fpr, float))
    gap = np.maximum(tpr - fpr, 1e-12)
    return np.clip((q - fpr) / gap, 0.0, 1.0)


def adjusted_prevalence(flagged: int, n: int, rates: ErrorRates, rng: np.random.Generator | None = None,
                        rate_draws: tuple[np.ndarray, np.ndarray] | None = None, n_draws: int = DRAWS,
                        level: float = LEVEL) -> dict:
    """Estimate and interval for the machine share of n documents of which `flagged` were flagged.

    rate_draws: TPR/FPR draws to reuse, so that runs scored by the same detector share its error-rate
    uncertainty when they are compared. The returned dict holds the draws under "_draws" (not for JSON).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    raw = flagged / n if n else None
    result = {"estimate": None, "ci_low": None, "ci_high": None, "level": level, "flagged": int(flagged),
              "n": int(n), "raw_flagged_share": raw, "tpr": rates.tpr, "fpr": rates.fpr,
              "n_machine": rates.n_machine, "n_human": rates.n_human, "separation": rates.tpr - rates.fpr,
              "warnings": [], "_draws": None}
    if n == 0:
        result["warnings"].append("no scored documents: nothing to estimate")
        return result
    if rates.tpr - rates.fpr <= 0:
        result["warnings"].append(
            f"the detector's measured TPR ({rates.tpr:.3f}) does not exceed its FPR ({rates.fpr:.3f}): "
            "flags carry no information about machine origin and no prevalence can be estimated")
        return result
    tpr_draws, fpr_draws = rate_draws if rate_draws is not None else rates.draws(n_draws, rng)
    q_draws = jeffreys_draws(flagged, n, len(tpr_draws), rng)
    draws = rogan_gladen(q_draws, tpr_draws, fpr_draws)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    estimate = float(rogan_gladen(raw, rates.tpr, rates.fpr))
    result.update(estimate=estimate, ci_low=float(min(low, estimate)), ci_high=float(max(high, estimate)),
                  _draws=draws)
    if rates.tpr - rates.fpr < WEAK_SEPARATION:
        result["warnings"].append(
            f"weak separation: TPR - FPR is only {rates.tpr - rates.fpr:.2f}, so the correction divides by a "
            "small number; small errors in the measured rates move the estimate a lot")
    if raw < rates.fpr:
        result["warnings"].append(
            f"fewer documents were flagged ({raw:.1%}) than the false-positive rate alone predicts "
            f"({rates.fpr:.1%}): the estimate is clipped to 0, and the detector may be behaving differently "
            "on this corpus than on its development data")
    return result


def difference_interval(later: dict, earlier: dict, level: float = LEVEL) -> dict | None:
    """Interval for the change in machine share between two runs (later - earlier)."""
    if later.get("_draws") is None or earlier.get("_draws") is None:
        return None
    if (later.get("headline_method") != earlier.get("headline_method")
            or len(later["_draws"]) != len(earlier["_draws"])):
        return None  # two different estimators: their replicates do not pair up
    diff = later["_draws"] - earlier["_draws"]
    tail = (1 - level) / 2
    low, high = np.quantile(diff, [tail, 1 - tail])
    return {"estimate": later["estimate"] - earlier["estimate"], "ci_low": float(low), "ci_high": float(high),
            "level": level, "excludes_zero": bool(low > 0 or high < 0)}


def interval_meaning(result: dict) -> str:
    """What the interval means and assumes, in words, for the report."""
    if result.get("estimate") is None:
        return ("No corrected estimate: " + "; ".join(result.get("warnings") or ["error rates missing"]) + ".")
    return (
        f"If the detector flags machine-written documents at the rate measured on its development data "
        f"(TPR {result['tpr']:.3f}, from {result['n_machine']:,} machine documents) and human documents at "
        f"that rate too (FPR {result['fpr']:.3f}, from {result['n_human']:,} human documents), then intervals "
        f"built this way contain the true machine-generated share in about {result['level']:.0%} of corpora. "
        "The interval covers the sampling noise in this corpus's flagged share and in the two measured rates. "
        "It does not cover a detector that behaves differently here than on its development data (new "
        "generators, domains or languages, heavy editing of machine text), which can shift the estimate by "
        "more than the interval's width; it also counts near-duplicates as independent documents, which "
        "makes it too narrow when large clusters dominate."
    )
