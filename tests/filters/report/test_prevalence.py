"""The prevalence estimate: Rogan–Gladen correction and the coverage of its 95% interval.

Coverage is checked by simulation: corpora with a known machine share are drawn from two stored-score
distributions (one per origin), the detector's error rates are measured on a simulated development
set the way detector/thresholds.py:error_rates measures them, and the interval must contain the true
share in about 95% of corpora. No text is involved.
"""

from __future__ import annotations

import numpy as np
import pytest

from filters.report.prevalence import ErrorRates, adjusted_prevalence, difference_interval, rogan_gladen

CUTOFF = 0.8
MACHINE_BETA, HUMAN_BETA = (6.0, 1.5), (1.2, 3.0)  # TPR about 0.57 and FPR about 0.011 at the cut-off
CORPORA = 200


def simulate(machine_share: float, rng, n_corpus: int, n_machine: int, n_human: int, n_draws: int = 4000):
    """One corpus and one development set; returns the interval result and the corpus's raw share."""
    rates = ErrorRates(tpr=float((rng.beta(*MACHINE_BETA, n_machine) >= CUTOFF).mean()),
                       fpr=float((rng.beta(*HUMAN_BETA, n_human) >= CUTOFF).mean()),
                       n_machine=n_machine, n_human=n_human)
    machine = rng.random(n_corpus) < machine_share
    scores = np.where(machine, rng.beta(*MACHINE_BETA, n_corpus), rng.beta(*HUMAN_BETA, n_corpus))
    flagged = int((scores >= CUTOFF).sum())
    return adjusted_prevalence(flagged, n_corpus, rates, rng=rng, n_draws=n_draws), flagged / n_corpus


def coverage(machine_share: float, seed: int, **sizes) -> tuple[float, float, float]:
    """Share of corpora whose interval holds the true share; mean width; naive (uncorrected) coverage."""
    rng = np.random.default_rng(seed)
    hits, widths, naive_hits = 0, [], 0
    for _ in range(CORPORA):
        result, raw = simulate(machine_share, rng, **sizes)
        hits += result["ci_low"] <= machine_share <= result["ci_high"]
        widths.append(result["ci_high"] - result["ci_low"])
        half = 1.96 * np.sqrt(raw * (1 - raw) / sizes["n_corpus"])
        naive_hits += raw - half <= machine_share <= raw + half
    return hits / CORPORA, float(np.mean(widths)), naive_hits / CORPORA


@pytest.mark.parametrize("machine_share", [0.05, 0.25, 0.6])
def test_interval_covers_the_true_share_about_95_percent_of_the_time(machine_share):
    # Development-set sizes of ../shared/data/dev.jsonl; a 3,000-document corpus.
    covered, width, naive = coverage(machine_share, seed=int(machine_share * 1000), n_corpus=3000,
                                     n_machine=4292, n_human=2206)
    assert 0.90 <= covered <= 0.99, f"coverage {covered:.3f} at share {machine_share}"
    assert width < 0.12, "an interval this wide would cover anything"
    assert naive < 0.5, "the raw flagged share should miss the true share: that is why it is corrected"


def test_coverage_holds_when_the_error_rates_come_from_few_documents():
    # 150 development documents per class: the rates' own uncertainty dominates the interval.
    covered, width, _ = coverage(0.3, seed=7, n_corpus=3000, n_machine=150, n_human=150)
    assert 0.90 <= covered <= 0.995, f"coverage {covered:.3f}"
    _, wide_from_large_dev, _ = coverage(0.3, seed=8, n_corpus=3000, n_machine=4292, n_human=2206)
    assert width > 1.5 * wide_from_large_dev, "the rates' uncertainty must widen the interval"


def test_rogan_gladen_point_estimate():
    assert rogan_gladen(0.30, 0.9, 0.1) == pytest.approx(0.25)
    assert rogan_gladen(0.05, 0.9, 0.1) == 0.0  # fewer flags than false positives alone: clipped
    assert rogan_gladen(0.95, 0.9, 0.1) == 1.0
    result = adjusted_prevalence(300, 1000, ErrorRates(0.9, 0.1, 1000, 1000))
    assert result["estimate"] == pytest.approx(0.25) and result["raw_flagged_share"] == 0.3
    assert result["ci_low"] < 0.25 < result["ci_high"]


def test_zero_measured_false_positives_still_carry_uncertainty():
    few = adjusted_prevalence(100, 10_000, ErrorRates(0.8, 0.0, 2000, 40))
    many = adjusted_prevalence(100, 10_000, ErrorRates(0.8, 0.0, 2000, 40_000))
    # With FPR measured as 0 on only 40 human documents, a true FPR of a few percent is plausible,
    # so a machine share of 0 must stay inside the interval.
    assert few["ci_low"] == 0.0 and few["estimate"] == pytest.approx(0.0125)
    assert many["ci_low"] > 0.0


def test_weak_and_absent_separation_are_said_out_loud():
    weak = adjusted_prevalence(300, 1000, ErrorRates(0.45, 0.1, 1000, 1000))
    assert weak["estimate"] is not None and any("weak separation" in w for w in weak["warnings"])
    none = adjusted_prevalence(300, 1000, ErrorRates(0.1, 0.1, 1000, 1000))
    assert none["estimate"] is None and none["ci_low"] is None
    assert "no information" in none["warnings"][0]
    strong = adjusted_prevalence(300, 1000, ErrorRates(0.9, 0.05, 1000, 1000))
    assert strong["warnings"] == []


def test_change_between_runs_sharing_a_detector():
    rates = ErrorRates(0.7, 0.02, 500, 500)
    rng = np.random.default_rng(3)
    shared = rates.draws(20_000, rng)
    before = adjusted_prevalence(200, 2000, rates, rng=rng, rate_draws=shared)
    after = adjusted_prevalence(600, 2000, rates, rng=rng, rate_draws=shared)
    same = adjusted_prevalence(205, 2000, rates, rng=rng, rate_draws=shared)
    rise = difference_interval(after, before)
    assert rise["excludes_zero"] and rise["ci_low"] > 0
    assert not difference_interval(same, before)["excludes_zero"]
    # Independent rate draws double-count the detector's uncertainty: the change looks noisier.
    independent = adjusted_prevalence(600, 2000, rates, rng=np.random.default_rng(4))
    loose = difference_interval(independent, before)
    assert loose["ci_high"] - loose["ci_low"] > rise["ci_high"] - rise["ci_low"]
