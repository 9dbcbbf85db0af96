"""Quantification of the machine share from every document's score (filters/report/quantification.py).

All scores are synthetic numbers drawn with numpy from Beta distributions standing in for the detector's
p_machine on human and machine documents; no text is involved. A corpus with a known machine share is
a mix of the two, and the component samples (human reference / out-of-fold scores) are separate draws.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from filters.report.prevalence import ErrorRates, adjusted_prevalence, rogan_gladen
from filters.report.quantification import (
    ExcessOverReference, bin_edges, bootstrap_interval, excess_over_reference, hdy_prevalence,
    median_sweep_prevalence, mixture_prevalence,
)

HUMAN, MACHINE = (1.2, 8.0), (5.0, 1.5)  # well separated
OVERLAP_HUMAN, OVERLAP_MACHINE = (2.0, 5.0), (2.6, 5.0)  # heavy overlap
# A machine component barely above the humans: at the humans' 99th percentile (FPR 0.01) it has a TPR
# of about 0.07, the setting where single-cut-off correction blew up in practice.
LOW_TPR_MACHINE = (2.0, 6.5)
ESTIMATORS = [mixture_prevalence, hdy_prevalence, median_sweep_prevalence]


def draw(rng, share, n_corpus, n_component, human=HUMAN, machine=MACHINE):
    """(corpus, human sample, machine sample) with `share` of the corpus drawn from the machine component."""
    n_machine = rng.binomial(n_corpus, share)
    corpus = np.concatenate([rng.beta(*machine, n_machine), rng.beta(*human, n_corpus - n_machine)])
    return corpus, rng.beta(*human, n_component), rng.beta(*machine, n_component)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("share", [0.0, 0.05, 0.2, 0.6])
def test_estimators_recover_known_mixtures(estimator, share):
    tolerance = 0.02 if estimator is not median_sweep_prevalence else 0.025
    for seed in range(3):
        corpus, human, machine = draw(np.random.default_rng(seed), share, 20_000, 5_000)
        assert estimator(corpus, human, machine) == pytest.approx(share, abs=tolerance)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_estimators_recover_an_overlapping_mixture_less_precisely(estimator):
    errors = []
    for seed in range(5):
        corpus, human, machine = draw(np.random.default_rng(seed), 0.3, 20_000, 5_000,
                                      OVERLAP_HUMAN, OVERLAP_MACHINE)
        errors.append(estimator(corpus, human, machine) - 0.3)
    assert np.mean(np.abs(errors)) < 0.1


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("share", [0.0, 1.0])
def test_estimators_are_robust_at_the_extremes(estimator, share):
    rng = np.random.default_rng(11)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for human_beta, machine_beta in [(HUMAN, MACHINE), (OVERLAP_HUMAN, OVERLAP_MACHINE)]:
            corpus, human, machine = draw(rng, share, 5_000, 1_000, human_beta, machine_beta)
            estimate = estimator(corpus, human, machine)
            assert np.isfinite(estimate) and 0.0 <= estimate <= 1.0
            estimate, low, high = bootstrap_interval(estimator, corpus, human, machine, n_boot=50)
            assert all(np.isfinite([estimate, low, high])) and 0.0 <= low <= estimate <= high <= 1.0
        # Scores piled exactly at 0 and 1 (saturated probabilities): ties merge bins, nothing breaks.
        human = np.concatenate([np.zeros(500), rng.beta(*HUMAN, 500)])
        machine = np.concatenate([np.ones(500), rng.beta(*MACHINE, 500)])
        corpus = machine if share == 1.0 else human
        assert 0.0 <= estimator(corpus, human, machine) <= 1.0
    if share == 0.0:
        corpus, human, machine = draw(rng, 0.0, 5_000, 1_000)
        assert estimator(corpus, human, machine) < 0.01
    else:
        corpus, human, machine = draw(rng, 1.0, 5_000, 1_000)
        assert estimator(corpus, human, machine) > 0.99


def test_mle_interval_covers_the_true_share_in_most_draws():
    covered = 0
    for seed in range(20):
        corpus, human, machine = draw(np.random.default_rng(100 + seed), 0.2, 20_000, 5_000)
        _, low, high = bootstrap_interval(mixture_prevalence, corpus, human, machine, seed=seed)
        covered += low <= 0.2 <= high
    assert covered >= 17, f"covered the true share in {covered} of 20 draws"


@pytest.mark.parametrize("estimator", [hdy_prevalence, median_sweep_prevalence], ids=lambda e: e.__name__)
def test_other_intervals_cover_the_true_share_in_most_draws(estimator):
    covered = sum(
        low <= 0.2 <= high
        for seed in range(20)
        for _, low, high in [bootstrap_interval(estimator, *draw(np.random.default_rng(200 + seed), 0.2,
                                                                 20_000, 5_000), seed=seed)])
    assert covered >= 16, f"covered the true share in {covered} of 20 draws"


def test_interval_narrows_with_more_data():
    rng = np.random.default_rng(3)
    _, small_low, small_high = bootstrap_interval(mixture_prevalence, *draw(rng, 0.2, 2_000, 500))
    _, large_low, large_high = bootstrap_interval(mixture_prevalence, *draw(rng, 0.2, 50_000, 10_000))
    assert large_high - large_low < 0.5 * (small_high - small_low)
    # Small component samples widen it too: the reference and the stored scores are samples as well.
    corpus, human, machine = draw(rng, 0.2, 50_000, 10_000, OVERLAP_HUMAN, OVERLAP_MACHINE)
    _, big_low, big_high = bootstrap_interval(mixture_prevalence, corpus, human, machine)
    _, few_low, few_high = bootstrap_interval(mixture_prevalence, corpus, human[:300], machine[:300])
    assert few_high - few_low > 1.5 * (big_high - big_low)


def test_heavy_overlap_gives_a_wide_interval_not_a_falsely_narrow_one():
    widths, covered = [], 0
    for seed in range(10):
        corpus, human, machine = draw(np.random.default_rng(300 + seed), 0.3, 5_000, 1_000,
                                      OVERLAP_HUMAN, OVERLAP_MACHINE)
        _, low, high = bootstrap_interval(mixture_prevalence, corpus, human, machine, seed=seed)
        widths.append(high - low)
        covered += low <= 0.3 <= high
    corpus, human, machine = draw(np.random.default_rng(1), 0.3, 5_000, 1_000)
    _, low, high = bootstrap_interval(mixture_prevalence, corpus, human, machine)
    assert np.mean(widths) > 0.2 and np.mean(widths) > 5 * (high - low)
    assert covered >= 7


def test_bootstrap_is_fast_on_a_large_corpus():
    corpus, human, machine = draw(np.random.default_rng(5), 0.2, 100_000, 5_000)
    for estimator in ESTIMATORS:
        start = time.perf_counter()
        estimate, low, high = bootstrap_interval(estimator, corpus, human, machine, n_boot=200)
        assert time.perf_counter() - start < 3.0, estimator.__name__
        assert low <= estimate <= high and high - low < 0.02


def test_counts_bootstrap_agrees_with_resampling_documents():
    # The vectorised path resamples bin counts with the bins fixed; the generic path resamples score
    # arrays and recomputes the bins. Same estimate, intervals of about the same place and width.
    corpus, human, machine = draw(np.random.default_rng(6), 0.2, 5_000, 1_000, OVERLAP_HUMAN, MACHINE)
    for estimator in ESTIMATORS:
        fast = bootstrap_interval(estimator, corpus, human, machine, n_boot=100)
        slow = bootstrap_interval(estimator, corpus, human, machine, n_boot=100, vectorised=False)
        assert fast[0] == slow[0]
        width_fast, width_slow = fast[2] - fast[1], slow[2] - slow[1]
        assert 0.6 < width_fast / width_slow < 1.6, estimator.__name__
        assert abs(fast[1] - slow[1]) < 0.5 * width_slow and abs(fast[2] - slow[2]) < 0.5 * width_slow


def test_bootstrap_accepts_any_estimator_and_passes_its_options():
    corpus, human, machine = draw(np.random.default_rng(7), 0.2, 3_000, 600)
    mean_share = lambda c, h, m: float(np.clip((c.mean() - h.mean()) / (m.mean() - h.mean()), 0, 1))
    estimate, low, high = bootstrap_interval(mean_share, corpus, human, machine, n_boot=50)
    assert low <= 0.2 <= high and 0.0 <= low <= estimate <= high <= 1.0
    coarse = bootstrap_interval(mixture_prevalence, corpus, human, machine, n_boot=50, n_bins=5)
    assert coarse[0] == mixture_prevalence(corpus, human, machine, n_bins=5)
    strict = bootstrap_interval(median_sweep_prevalence, corpus, human, machine, n_boot=50, min_separation=0.6)
    assert strict[0] == median_sweep_prevalence(corpus, human, machine, min_separation=0.6)


def test_estimates_depend_only_on_the_order_of_the_scores():
    # Quantile bins: the logit (or any recalibration) of p_machine gives exactly the same estimates.
    corpus, human, machine = draw(np.random.default_rng(8), 0.2, 5_000, 1_000, OVERLAP_HUMAN, MACHINE)
    logit = lambda p: np.log(p) - np.log1p(-p)
    for estimator in ESTIMATORS:
        assert estimator(corpus, human, machine) == estimator(logit(corpus), logit(human), logit(machine))


def test_bins_share_the_components_equally():
    rng = np.random.default_rng(9)
    human, machine = rng.beta(*HUMAN, 50_000), rng.beta(*MACHINE, 1_000)
    edges = bin_edges(human, machine, n_bins=20)
    assert len(edges) == 19
    # About half the edges sit in the machine component's range although it has 2% of the scores.
    assert 7 <= np.sum(edges > np.quantile(human, 0.99)) <= 11


def test_mle_beats_single_cutoff_correction_when_the_tpr_is_low():
    # Development-like sizes: 2,000 scores per component, a 5,000-document corpus, 20% machine.
    mle_errors, cutoff_errors, tprs, mle_widths, cutoff_widths = [], [], [], [], []
    for seed in range(30):
        corpus, human, machine = draw(np.random.default_rng(400 + seed), 0.2, 5_000, 2_000,
                                      HUMAN, LOW_TPR_MACHINE)
        cutoff = np.quantile(human, 0.99)
        tpr, fpr = float((machine >= cutoff).mean()), float((human >= cutoff).mean())
        tprs.append(tpr)
        cutoff_errors.append(abs(float(rogan_gladen((corpus >= cutoff).mean(), tpr, fpr)) - 0.2))
        mle_errors.append(abs(mixture_prevalence(corpus, human, machine) - 0.2))
        if seed < 5:  # the intervals too: the report's current one against the bootstrap's
            current = adjusted_prevalence(int((corpus >= cutoff).sum()), corpus.size,
                                          ErrorRates(tpr, fpr, machine.size, human.size),
                                          rng=np.random.default_rng(seed), n_draws=4_000)
            cutoff_widths.append(current["ci_high"] - current["ci_low"])
            _, low, high = bootstrap_interval(mixture_prevalence, corpus, human, machine, seed=seed)
            mle_widths.append(high - low)
    assert 0.04 < np.mean(tprs) < 0.10, "the setting should have the low TPR that motivated the change"
    # About half the error over many seeds (0.48 over 200); 0.75 leaves room for 30 seeds' noise.
    assert np.mean(mle_errors) < 0.75 * np.mean(cutoff_errors)
    assert np.mean(mle_errors) < 0.04
    assert np.mean(mle_widths) < 0.75 * np.mean(cutoff_widths)


def test_excess_over_reference_is_about_zero_without_machine_text():
    rng = np.random.default_rng(10)
    for seed in range(5):
        corpus, reference = rng.beta(*HUMAN, 20_000), rng.beta(*HUMAN, 5_000)
        bound = excess_over_reference(corpus, reference, seed=seed)
        assert isinstance(bound, ExcessOverReference)
        assert bound.estimate < 0.006 and bound.ci_low == 0.0
        assert bound.reference_share_above == pytest.approx(0.01, abs=0.001)
        assert bound.quantile == 0.99 and bound.threshold == pytest.approx(np.quantile(reference, 0.99))


@pytest.mark.parametrize("machine_beta", [MACHINE, OVERLAP_MACHINE, LOW_TPR_MACHINE])
@pytest.mark.parametrize("share", [0.05, 0.2, 0.6])
def test_excess_over_reference_is_a_lower_bound(machine_beta, share):
    for seed in range(3):
        corpus, reference, _ = draw(np.random.default_rng(500 + seed), share, 20_000, 5_000,
                                    HUMAN, machine_beta)
        bound = excess_over_reference(corpus, reference, seed=seed)
        assert bound.ci_low <= share and bound.estimate <= share + 0.005
        assert 0.0 <= bound.ci_low <= bound.estimate <= bound.ci_high <= 1.0
    if machine_beta == MACHINE:  # machine text far above the humans: the bound is nearly the share
        assert bound.estimate > 0.9 * share
    if machine_beta == LOW_TPR_MACHINE:  # barely above them: a true but weak bound, yet above zero
        assert 0 < bound.estimate and bound.ci_low < 0.2 * share


def test_excess_over_reference_as_dict_and_extremes():
    rng = np.random.default_rng(12)
    reference = rng.beta(*HUMAN, 2_000)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        everything = excess_over_reference(rng.beta(*MACHINE, 2_000), reference, quantile=0.95)
        tied = excess_over_reference(np.zeros(100), np.zeros(100))
    assert everything.estimate > 0.95 and everything.ci_high <= 1.0
    assert tied.estimate == 0.0 and tied.ci_high == 0.0
    fields = everything.as_dict()
    assert set(fields) >= {"estimate", "ci_low", "ci_high", "threshold", "quantile"}


@pytest.mark.parametrize("bad", [[], [0.1, np.nan], [0.2, np.inf]])
def test_rejects_empty_or_non_finite_scores(bad):
    good = np.linspace(0.01, 0.99, 50)
    with pytest.raises(ValueError):
        mixture_prevalence(bad, good, good)
    with pytest.raises(ValueError):
        excess_over_reference(good, bad)


def test_rejects_components_that_cannot_be_told_apart():
    with pytest.raises(ValueError):
        mixture_prevalence([0.1, 0.5], np.full(10, 0.3), np.full(10, 0.3))


@pytest.mark.parametrize("vectorised", [True, False])
def test_source_bootstrap_widens_the_interval_when_machine_sources_score_differently(vectorised):
    """Machine sources that score differently: a corpus written by one of them sits off the pooled
    component. Resampling the sources widens the interval by what the spread between them shows;
    resampling documents alone does not. With sources that all score alike, both are about the same."""
    rng = np.random.default_rng(11)
    shapes = [(5.0, 1.5), (2.5, 2.5), (8.0, 1.2), (3.0, 1.5), (1.8, 1.6)]
    machine = np.concatenate([rng.beta(*shape, 400) for shape in shapes])
    groups = np.repeat(np.arange(len(shapes)), 400)
    human = rng.beta(*HUMAN, 1000)
    corpus = np.concatenate([rng.beta(*shapes[1], 600), rng.beta(*HUMAN, 1400)])  # 30%, by the second source
    kwargs = {"n_boot": 100 if not vectorised else 200, "vectorised": vectorised}
    plain = bootstrap_interval(mixture_prevalence, corpus, human, machine, **kwargs)
    by_source = bootstrap_interval(mixture_prevalence, corpus, human, machine, machine_groups=groups, **kwargs)
    assert by_source[0] == plain[0]
    assert by_source[2] - by_source[1] > 1.8 * (plain[2] - plain[1])
    alike = np.concatenate([rng.beta(*MACHINE, 400) for _ in shapes])
    plain = bootstrap_interval(mixture_prevalence, corpus, human, alike, **kwargs)
    by_source = bootstrap_interval(mixture_prevalence, corpus, human, alike, machine_groups=groups, **kwargs)
    assert by_source[2] - by_source[1] < 1.4 * (plain[2] - plain[1])
    with pytest.raises(ValueError, match="labels"):
        bootstrap_interval(mixture_prevalence, corpus, human, alike, machine_groups=groups[:10])


def test_few_groups_widening_is_students_t_over_the_normal_and_fades_with_more_groups():
    from scipy.stats import norm, t

    from filters.report.quantification import few_groups_widening

    assert few_groups_widening(10) == pytest.approx(t.ppf(0.975, 9) / norm.ppf(0.975))
    factors = [few_groups_widening(g) for g in (2, 3, 5, 10, 30, 1000)]
    assert all(a > b for a, b in zip(factors, factors[1:])) and factors[0] > 6 and factors[-1] < 1.01
    assert few_groups_widening(1) == 1.0
    assert few_groups_widening(10, level=0.8) < few_groups_widening(10, level=0.95)


@pytest.mark.parametrize("vectorised", [True, False])
def test_only_the_spread_the_sources_add_is_widened(vectorised, monkeypatch):
    """With the widening switched off (factor 1) the replicates are the plain two-stage bootstrap's;
    switched on, their deviations from the median grow by sqrt((total + (f^2 - 1) between) / total),
    where between is what resampling sources adds to resampling the pooled documents."""
    import filters.report.quantification as quantification

    rng = np.random.default_rng(4)
    shapes = [(5.0, 1.5), (2.5, 2.5), (8.0, 1.2), (3.0, 1.5)]
    machine = np.concatenate([rng.beta(*shape, 300) for shape in shapes])
    groups = np.repeat(np.arange(len(shapes)), 300)
    human = rng.beta(*HUMAN, 800)
    corpus = np.concatenate([rng.beta(*shapes[1], 300), rng.beta(*HUMAN, 700)])
    kwargs = {"n_boot": 60 if not vectorised else 200, "vectorised": vectorised, "machine_groups": groups,
              "corpus_sources": None}  # the pool's own interval: only the few-groups stretch
    _, widened = quantification.bootstrap_draws(mixture_prevalence, corpus, human, machine, **kwargs)
    _, pooled_only = quantification.bootstrap_draws(mixture_prevalence, corpus, human, machine,
                                                    **{**kwargs, "machine_groups": None})
    monkeypatch.setattr(quantification, "few_groups_widening", lambda n_groups, level=0.95: 1.0)
    _, unwidened = quantification.bootstrap_draws(mixture_prevalence, corpus, human, machine, **kwargs)
    monkeypatch.undo()
    centre = np.median(unwidened)
    moved = (np.abs(unwidened - centre) > 1e-3) & (widened > 0) & (widened < 1)  # not clipped
    scale = (widened - centre)[moved] / (unwidened - centre)[moved]
    # One stretch for every replicate: more than 1, at most the full t / z for 4 sources (reached only
    # if all the spread came from the sources).
    assert np.ptp(scale) < 1e-9
    assert 1.1 < scale[0] < quantification.few_groups_widening(4)
    # Sources that score differently add spread: the source bootstrap is wider than the pooled one.
    assert np.std(unwidened) > 1.5 * np.std(pooled_only)


def test_new_sources_widening_is_the_prediction_interval_for_k_unseen_sources():
    from filters.report.quantification import new_sources_widening

    assert new_sources_widening([100] * 10, 1) == pytest.approx(np.sqrt(11))
    assert new_sources_widening([100] * 10, 5) == pytest.approx(np.sqrt(3))
    # Unequal sources count as fewer: G_eff = 1 / sum of squared shares (shares 1/2, 1/4, 1/4: 1 / 0.375).
    assert new_sources_widening([200, 100, 100], 2) == pytest.approx(np.sqrt(1 + (1 / 0.375) / 2))
    assert new_sources_widening([500, 500], None) == 1.0 and new_sources_widening([500], 1) == 1.0
    with pytest.raises(ValueError):
        new_sources_widening([1, 2], 0)


@pytest.mark.parametrize("vectorised", [True, False])
def test_fewer_corpus_sources_stretch_the_sources_part_more(vectorised):
    """The same replicates (same seed) stretched for K = 1, 3 and the pool (None): each stretch follows
    sqrt((total + (f^2 - 1) between) / total) with f = t/z * new_sources_widening(sizes, K), so the
    between-source share found from the pool's stretch predicts the others'."""
    import filters.report.quantification as quantification

    rng = np.random.default_rng(5)
    shapes = [(5.0, 1.5), (2.5, 2.5), (8.0, 1.2), (3.0, 1.5)]
    sizes = [500, 300, 200, 200]
    machine = np.concatenate([rng.beta(*shape, n) for shape, n in zip(shapes, sizes)])
    groups = np.repeat(np.arange(len(shapes)), sizes)
    human = rng.beta(*HUMAN, 800)
    corpus = np.concatenate([rng.beta(*shapes[1], 200), rng.beta(*HUMAN, 800)])
    kwargs = {"n_boot": 60 if not vectorised else 200, "vectorised": vectorised, "machine_groups": groups}
    draws = {k: quantification.bootstrap_draws(mixture_prevalence, corpus, human, machine, corpus_sources=k,
                                               **kwargs)[1] for k in (None, 3, 1)}
    centre = np.median(draws[None])
    spread = {k: np.median(np.abs(d - centre)) for k, d in draws.items()}
    assert spread[1] > spread[3] > spread[None]
    t_over_z = quantification.few_groups_widening(4)
    f = {k: t_over_z * quantification.new_sources_widening(sizes, k) for k in draws}
    # Where none is clipped at 0 or 1, scale_K^2 = 1 + (f_K^2 - 1) b with b = between / total.
    moved = (np.abs(draws[None] - centre) > 1e-3) & (draws[1] > 0) & (draws[1] < 1)
    ratio = {k: np.median((draws[k] - centre)[moved] / (draws[None] - centre)[moved]) for k in (3, 1)}
    # Unwidened replicates u: draws[K] - c = s_K (u - c), so ratio_K = s_K / s_None. Solve b from K = 3
    # and predict K = 1.
    b = (ratio[3] ** 2 - 1) / ((f[3] ** 2 - 1) - ratio[3] ** 2 * (f[None] ** 2 - 1))
    assert 0 < b < 1
    predicted = np.sqrt((1 + (f[1] ** 2 - 1) * b) / (1 + (f[None] ** 2 - 1) * b))
    assert ratio[1] == pytest.approx(predicted, rel=1e-6)
