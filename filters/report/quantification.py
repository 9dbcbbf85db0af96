"""The machine-generated share of a corpus from every document's score (quantification).

prevalence.py corrects the share of documents flagged at one cut-off with the TPR and FPR measured at
that cut-off (Rogan–Gladen). That throws away everything the scores say below and above the cut-off,
and when the TPR is small the correction divides by a small, noisy number. The estimators here use the
whole score distribution instead:

- `mixture_prevalence`: the corpus's score distribution is modelled as (1 - pi) * f_human +
  pi * f_machine, with f_human and f_machine estimated from samples of scores of known origin, and pi
  fitted by maximum likelihood (the fixed-component EM of Saerens, Latinne & Decaestecker 2002 solves
  the same 1-D concave problem; it is solved here directly).
- `hdy_prevalence`: the pi minimising the Hellinger distance between the corpus histogram and the
  mixture of the component histograms (HDy, González-Castro, Alaiz-Rodríguez & Alegre 2013).
- `median_sweep_prevalence`: adjusted classify-and-count at many cut-offs and the median of the
  estimates at cut-offs where TPR - FPR exceeds a floor (Forman 2008, "MS2").
- `bootstrap_interval`: percentile interval resampling the corpus and both component samples.
- `excess_over_reference`: a lower bound on the machine share that needs no machine model, only the
  corpus's own human reference.

What every method here assumes: the components are the same on the corpus as where they were
measured. Human documents of this corpus must score like the human sample (the corpus's own human
reference, or the model's out-of-fold human scores), and machine documents like the stored out-of-fold
machine scores. A new generator, a new domain or language, heavily edited machine text or a retrained
detector breaks that, and no interval here covers it: the intervals cover sampling noise in the corpus
and in the component samples only. Documents are treated as independent (near-duplicate clusters make
the intervals too narrow).

Binning. The component densities are histograms over bins whose edges are quantiles of the pooled
component samples, each component weighted equally (so a 100,000-score human reference does not take
all the bins from a 2,000-score machine sample). Why not fixed-width bins of [0, 1], or the logit:
- p_machine piles up near 0 and 1: fixed-width bins put most documents in two bins and leave the
  middle ones near-empty, and the logit only moves the problem (how far to clip, how wide the bins).
  Equal-mass bins spend their resolution where the component scores actually are.
- Quantile bins depend only on the order of the scores, so every estimate here is unchanged by any
  increasing transform of p_machine (logit, a recalibration, a different detector head's scale):
  there is no clipping constant to choose. (A test checks this.)
- Every bin holds about the same share of component scores, so no bin's density ratio rests on a
  handful of documents in both components at once; the light smoothing (a pseudocount of 0.5 per bin
  and component, the Jeffreys/Krichevsky–Trofimov prior) keeps a bin where one component has no
  scores from giving a log-likelihood of minus infinity.
- Binning is a data reduction, not an approximation of the model: if the corpus is a (1 - pi, pi)
  mixture of the components, its bin probabilities are exactly the same mixture of theirs, so the
  binned MLE is consistent for any fixed bins. Fewer bins cost some efficiency only.
The default number of bins is the cube root of the smaller component's size, between 5 and 40 (10 bins
for 1,000 scores, 17 for 5,000). Fewer bins than usual for a density histogram on purpose: the
component histograms are noisy, the fitted pi is a nonlinear function of them, and that noise turns
into bias of the order of bins / n_component which the bootstrap does not correct. In simulation
(1,000-score components overlapping heavily) the MLE's bias went from +0.002 at 5 bins to +0.05 at 34,
its interval's coverage from 93% to 73%, while the error's spread gained little past about 8 bins;
with 300-score components 34 bins gave 60% coverage. With well-separated components the number of
bins hardly matters.

Pure numpy; no I/O. Scores can be any finite real numbers (only their order matters).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from filters.report.prevalence import rogan_gladen

LEVEL = 0.95
N_BOOT = 200
PSEUDOCOUNT = 0.5
MIN_BINS, MAX_BINS = 5, 40
SWEEP_CUTOFFS = 100  # bins for the median sweep: up to 99 cut-offs
SWEEP_MIN_SEPARATION = 0.25
# How many machine sources unlike the stored ones a corpus's machine text is taken to come from, for the
# source bootstrap's interval (new_sources_widening): 1 is the most cautious, None trusts the pooled
# component. Measured with 3 (scripts/simulate_prevalence.py; README): coverage 89% at a median width of
# 17 points on corpora of one held-out source, 95% at 20 on corpora of three; 1 and 2 were wider.
CORPUS_SOURCES = 3
_BISECTIONS = 52  # pi to within 2^-52 of the root

Estimator = Callable[..., float]


# --------------------------------------------------------------------------------------------- binning

def _scores(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty: nothing to estimate from")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite scores; drop unscored documents first")
    return array


def default_n_bins(n_human: int, n_machine: int) -> int:
    """Cube root of the smaller component sample's size, between 5 and 40 bins (see the module docstring)."""
    n = max(1, min(int(n_human), int(n_machine)))
    return int(np.clip(round(n ** (1 / 3)), MIN_BINS, MAX_BINS))


def bin_edges(human_scores, machine_scores, n_bins: int | None = None) -> np.ndarray:
    """Interior edges of equal-mass bins of the pooled components, each component weighted equally.

    Edges are component scores (no interpolation), so bin membership depends only on the order of the
    scores. A score equal to an edge belongs to the bin above it ("at or above the cut-off", as in
    prevalence.py). Tied scores can merge bins: the result may hold fewer than n_bins - 1 edges.
    """
    human = _scores(human_scores, "human_scores")
    machine = _scores(machine_scores, "machine_scores")
    n_bins = default_n_bins(human.size, machine.size) if n_bins is None else int(n_bins)
    if n_bins < 2:
        raise ValueError("at least 2 bins are needed to tell the components apart")
    values = np.concatenate([human, machine])
    weights = np.concatenate([np.full(human.size, 0.5 / human.size), np.full(machine.size, 0.5 / machine.size)])
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.cumsum(weights[order])
    levels = np.arange(1, n_bins) / n_bins
    index = np.minimum(np.searchsorted(cumulative, levels - 1e-12), values.size - 1)  # inverted CDF
    edges = np.unique(values[index])
    return edges[edges > values[0]]  # an edge at the minimum would leave its lower bin empty by design


def _counts(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, scores, side="right"), minlength=edges.size + 1).astype(float)


def _binned(corpus_scores, human_scores, machine_scores, n_bins):
    corpus = _scores(corpus_scores, "corpus_scores")
    human = _scores(human_scores, "human_scores")
    machine = _scores(machine_scores, "machine_scores")
    edges = bin_edges(human, machine, n_bins)
    if edges.size == 0:
        raise ValueError("the component scores are all tied: the components cannot be told apart")
    return edges, _counts(corpus, edges), _counts(human, edges), _counts(machine, edges)


def _component_density(counts: np.ndarray, pseudocount: float) -> np.ndarray:
    smoothed = counts + pseudocount
    return smoothed / smoothed.sum(axis=-1, keepdims=True)


# -------------------------------------------------------------------------------------------- solvers

def _maximise_concave(gradient: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """argmax over pi in [0, 1] of a concave function, from its (decreasing) gradient, by bisection.

    Vectorised: `gradient` takes pi of shape `shape + (1,)` and returns `shape`. Where the gradient
    is not positive at 0 the maximum is at 0; where it is not negative at 1 it is at 1.
    """
    low, high = np.zeros(shape), np.ones(shape)
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        rising = gradient(middle[..., None]) > 0
        low, high = np.where(rising, middle, low), np.where(rising, high, middle)
    pi = (low + high) / 2
    pi = np.where(gradient(np.zeros(shape + (1,))) <= 0, 0.0, pi)
    pi = np.where(gradient(np.ones(shape + (1,))) >= 0, 1.0, pi)
    return np.clip(pi, 0.0, 1.0)


def _mle_from_counts(corpus: np.ndarray, human: np.ndarray, machine: np.ndarray,
                     pseudocount: float = PSEUDOCOUNT) -> np.ndarray:
    """Maximum-likelihood pi for binned counts; leading axes are replicates."""
    f_human, f_machine = _component_density(human, pseudocount), _component_density(machine, pseudocount)
    difference = f_machine - f_human
    # d/dpi sum_b c_b log(f_h + pi (f_m - f_h)) = sum_b c_b (f_m - f_h) / (f_h + pi (f_m - f_h)):
    # decreasing in pi, so the log-likelihood is concave and its maximum on [0, 1] is unique.
    return _maximise_concave(lambda pi: (corpus * difference / (f_human + pi * difference)).sum(axis=-1),
                             corpus.shape[:-1])


def _hdy_from_counts(corpus: np.ndarray, human: np.ndarray, machine: np.ndarray,
                     pseudocount: float = PSEUDOCOUNT) -> np.ndarray:
    """Hellinger-distance pi for binned counts; leading axes are replicates."""
    f_human, f_machine = _component_density(human, pseudocount), _component_density(machine, pseudocount)
    difference = f_machine - f_human
    root_p = np.sqrt(corpus / corpus.sum(axis=-1, keepdims=True))
    # Hellinger^2 = 2 - 2 * sum_b sqrt(p_b q_b(pi)); minimising it maximises the Bhattacharyya
    # coefficient, a sum of square roots of functions linear in pi: concave, with gradient
    # sum_b sqrt(p_b) (f_m - f_h) / (2 sqrt(q_b(pi))).
    return _maximise_concave(lambda pi: (root_p * difference / np.sqrt(f_human + pi * difference)).sum(axis=-1),
                             corpus.shape[:-1])


def _sweep_from_counts(corpus: np.ndarray, human: np.ndarray, machine: np.ndarray,
                       min_separation: float = SWEEP_MIN_SEPARATION) -> np.ndarray:
    """Median-sweep pi for binned counts; cut-offs are the interior bin edges; leading axes are replicates."""
    def above(counts):  # share at or above each interior edge: bins k..end for edge k-1
        tail = np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1]
        return tail[..., 1:] / counts.sum(axis=-1, keepdims=True)

    q, tpr, fpr = above(corpus), above(machine), above(human)
    separation = tpr - fpr
    estimates = rogan_gladen(q, tpr, fpr)
    usable = separation > min_separation
    # Forman's median sweep; where no cut-off separates the components by the floor, fall back to the
    # single cut-off that separates them most (his "MAX"), which is the most the data can offer.
    best = np.take_along_axis(estimates, np.argmax(separation, axis=-1)[..., None], axis=-1)[..., 0]
    masked = np.where(usable, estimates, np.nan)
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(usable.any(axis=-1, keepdims=True), masked, 0.0), axis=-1)
    return np.clip(np.where(usable.any(axis=-1), median, best), 0.0, 1.0)


# ------------------------------------------------------------------------------------------ estimators

def mixture_prevalence(corpus_scores, human_scores, machine_scores, *, n_bins: int | None = None,
                       pseudocount: float = PSEUDOCOUNT) -> float:
    """Maximum-likelihood machine share pi of a two-component mixture with fixed components.

    The corpus's scores are modelled as draws from (1 - pi) * f_human + pi * f_machine, f_human and
    f_machine being the smoothed histograms (see the module docstring for the bins) of human_scores and
    machine_scores; pi maximises the binned likelihood of corpus_scores. The log-likelihood is concave
    in pi, so the maximum on [0, 1] is unique and found by bisection on its derivative (the fixed-point
    EM of Saerens et al. 2002 converges to the same point, only more slowly).

    Every document counts, weighted by how much more likely its score is under one component than the
    other, which is why this stays usable when the machine component sits barely above the human one,
    where a single cut-off has a tiny TPR.

    Assumes the components transfer: this corpus's human documents score like human_scores (its own
    human reference when there is one, otherwise the model's out-of-fold human scores) and its machine
    documents like machine_scores (out-of-fold scores stored with the model). New generators, domains or
    languages, or edited machine text break that, and the estimate is then biased by an amount no
    interval here reflects. The components must differ somewhere; the more they overlap the less the
    corpus says about pi (bootstrap_interval shows how much).
    """
    _, corpus, human, machine = _binned(corpus_scores, human_scores, machine_scores, n_bins)
    return float(_mle_from_counts(corpus, human, machine, pseudocount))


def hdy_prevalence(corpus_scores, human_scores, machine_scores, *, n_bins: int | None = None,
                   pseudocount: float = PSEUDOCOUNT) -> float:
    """HDy: the pi whose mixture of component histograms is nearest the corpus histogram in Hellinger distance.

    Same bins, smoothing and assumptions as mixture_prevalence (the components must transfer to the
    corpus). A minimum-distance rather than a likelihood fit: slightly less efficient when the mixture
    model holds, less pulled by a few bins where it does not (e.g. a small cluster of documents scoring
    where neither component has mass). A large gap between this and the MLE is a sign of misfit.
    """
    _, corpus, human, machine = _binned(corpus_scores, human_scores, machine_scores, n_bins)
    return float(_hdy_from_counts(corpus, human, machine, pseudocount))


def median_sweep_prevalence(corpus_scores, human_scores, machine_scores, *,
                            min_separation: float = SWEEP_MIN_SEPARATION,
                            n_cutoffs: int = SWEEP_CUTOFFS) -> float:
    """Forman's median sweep: adjusted classify-and-count at many cut-offs, the median of the estimates.

    Cut-offs are the edges of n_cutoffs equal-mass bins of the pooled components. At each cut-off t,
    q = share of the corpus at or above t, TPR and FPR = shares of machine_scores and human_scores at or
    above t, and the estimate is Rogan–Gladen's (q - FPR) / (TPR - FPR) clipped to [0, 1]
    (prevalence.rogan_gladen). Only cut-offs with TPR - FPR > min_separation count, since below that the
    correction divides by a small, noisy number; if none qualifies the best-separated cut-off is used.
    The median makes a few badly measured cut-offs harmless. Assumes, like every estimator here, that the
    TPR and FPR measured on the component samples hold on the corpus.
    """
    _, corpus, human, machine = _binned(corpus_scores, human_scores, machine_scores, n_cutoffs)
    return float(_sweep_from_counts(corpus, human, machine, min_separation))


@dataclass(frozen=True)
class _Binned:
    from_counts: Callable[..., np.ndarray]
    bins_argument: str
    bins_default: int | None
    count_arguments: tuple[str, ...]


# Estimators whose corpus enters only through counts in bins fixed by the components: their bootstrap
# can resample counts instead of documents.
_BINNED_ESTIMATORS: dict[Callable, _Binned] = {
    mixture_prevalence: _Binned(_mle_from_counts, "n_bins", None, ("pseudocount",)),
    hdy_prevalence: _Binned(_hdy_from_counts, "n_bins", None, ("pseudocount",)),
    median_sweep_prevalence: _Binned(_sweep_from_counts, "n_cutoffs", SWEEP_CUTOFFS, ("min_separation",)),
}


# ------------------------------------------------------------------------------------------- intervals

def bootstrap_interval(estimator: Estimator, corpus_scores, human_scores, machine_scores, n_boot: int = N_BOOT,
                       level: float = LEVEL, seed: int = 0, *, vectorised: bool = True, machine_groups=None,
                       corpus_sources: float | None = CORPUS_SOURCES, **estimator_kwargs) -> tuple[float, float, float]:
    """(estimate, low, high): the estimate and a percentile bootstrap interval at `level`.

    Each replicate resamples, with replacement and independently, the corpus documents, the human
    sample and the machine sample: the corpus is a sample of the crawl, and the human reference and the
    stored out-of-fold scores are samples of their populations too, so all three noises enter the
    interval (with small component samples theirs dominates). The estimate is the estimator on the data
    as given; the interval is widened to contain it if the percentiles happen not to.

    For the estimators of this module (mixture_prevalence, hdy_prevalence, median_sweep_prevalence)
    the bins are fixed at those of the full component samples, and resampling documents is done exactly
    as multinomial resampling of the bin counts: the same bootstrap distribution for fixed bins, for the
    cost of three multinomial draws per replicate, whatever the sample sizes. Any other estimator, or
    vectorised=False, is called once per replicate on resampled score arrays.

    What it covers: sampling noise. What it does not: components that differ on this corpus from where
    they were measured (new generators or domains), which biases every replicate the same way, and
    dependence between documents (near-duplicates), which makes it too narrow.
    """
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    estimate, draws = bootstrap_draws(estimator, corpus_scores, human_scores, machine_scores, n_boot, seed,
                                      vectorised=vectorised, machine_groups=machine_groups, level=level,
                                      corpus_sources=corpus_sources, **estimator_kwargs)
    return (estimate, *percentile_interval(estimate, draws, level))


def few_groups_widening(n_groups: int, level: float = LEVEL) -> float:
    """t_{G-1} / z at `level`: how much wider an interval must be when its spread comes from G groups.

    Resampling G sources estimates the between-source variance as if it were known, and with G around
    ten it is not: the usual remedy with few clusters is to read the interval off Student's t with
    G - 1 degrees of freedom instead of the normal (Cameron, Gelbach & Miller 2008, "Bootstrap-based
    improvements for inference with clustered errors"). bootstrap_draws applies the ratio to the
    between-source part of the replicates' spread. 1 for fewer than 2 groups (nothing to correct with).
    """
    if n_groups < 2:
        return 1.0
    from scipy.stats import norm, t

    upper = (1 + level) / 2
    return float(t.ppf(upper, n_groups - 1) / norm.ppf(upper))


def new_sources_widening(group_sizes, corpus_sources: float | None = CORPUS_SOURCES) -> float:
    """sqrt(1 + G_eff / K): how much wider the sources' part of the spread must be for a corpus whose
    machine text comes from K sources that are not among the stored ones.

    The source bootstrap resamples the stored sources, so its between-source variance is that of their
    size-weighted pool: about s^2 * sum(w_i^2), with s^2 the variance between single sources and w_i
    their shares, i.e. s^2 / G_eff with G_eff = 1 / sum(w_i^2). But a corpus is not written by the
    pool: its machine text comes from a few generators, whose mean sits s^2 / K away from the pool
    besides. The interval for that corpus is a prediction interval, with variance s^2 (1/K + 1/G_eff):
    the bootstrap's times 1 + G_eff / K. K = None (or infinite) gives 1, the pool's own interval.
    """
    if corpus_sources is not None and corpus_sources <= 0:
        raise ValueError("corpus_sources must be positive")
    sizes = np.asarray(group_sizes, dtype=float)
    if corpus_sources is None or sizes.size < 2:
        return 1.0
    shares = sizes / sizes.sum()
    return float(np.sqrt(1 + 1 / np.sum(shares ** 2) / corpus_sources))


def percentile_interval(estimate: float, draws, level: float = LEVEL) -> tuple[float, float]:
    """(low, high): the percentile interval of bootstrap replicates at `level`, widened to contain the
    estimate if the percentiles happen not to."""
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(min(low, estimate)), float(max(high, estimate))


def bootstrap_draws(estimator: Estimator, corpus_scores, human_scores, machine_scores, n_boot: int = N_BOOT,
                    seed: int = 0, *, vectorised: bool = True, machine_groups=None, component_seed: int | None = None,
                    level: float = LEVEL, corpus_sources: float | None = CORPUS_SOURCES,
                    **estimator_kwargs) -> tuple[float, np.ndarray]:
    """(estimate, the n_boot bootstrap replicates) that bootstrap_interval takes its percentiles of; the
    replicates also give intervals for differences between corpora.

    machine_groups: a label per machine score (its source: a generator family, a dataset). Given, each
    replicate resamples the groups with replacement before the documents within them (a two-stage
    cluster bootstrap), so the interval also covers not knowing which generators wrote this corpus's
    machine text, as far as the spread between the groups shows it. Without it only document noise
    is covered, and a corpus whose generators score unlike the pooled sample is missed (measured by
    scripts/simulate_prevalence.py). With groups, the part of the replicates' spread that the sources
    add is widened (_widened_for_few_groups) by few_groups_widening(G, level), since a handful of
    sources shows their spread only roughly, and by new_sources_widening(sizes, corpus_sources), since
    the corpus's machine text comes from `corpus_sources` generators of its own, not from the pool.

    component_seed: resample the human and machine samples from their own generator with this seed (the
    corpus from `seed`'s). Corpora estimated against the same components with the same component_seed
    then share their component replicates, so the difference of two corpora's replicates carries the
    components' noise once, not twice (common random numbers). With groups, each corpus's replicates
    are stretched by their own widening, so such a difference is stretched too, shared noise included:
    its interval errs on the wide side.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    corpus = _scores(corpus_scores, "corpus_scores")
    human = _scores(human_scores, "human_scores")
    machine = _scores(machine_scores, "machine_scores")
    groups = None
    if machine_groups is not None:
        groups = np.asarray(machine_groups).ravel()
        if groups.size != machine.size:
            raise ValueError(f"machine_groups has {groups.size} labels for {machine.size} machine scores")
        groups = np.unique(groups, return_inverse=True)[1]
        group_sizes = np.bincount(groups)
    estimate = float(estimator(corpus, human, machine, **estimator_kwargs))
    rng = np.random.default_rng(seed)
    component_rng = np.random.default_rng(component_seed) if component_seed is not None else rng
    binned = _BINNED_ESTIMATORS.get(estimator) if vectorised else None
    if binned is not None:
        edges = bin_edges(human, machine, estimator_kwargs.get(binned.bins_argument, binned.bins_default))

        def resampled(counts, generator):
            return generator.multinomial(counts.sum().astype(int), counts / counts.sum(), size=n_boot).astype(float)

        corpus_draws = resampled(_counts(corpus, edges), rng)
        human_draws = resampled(_counts(human, edges), component_rng)
        pooled_counts = _counts(machine, edges)
        counts_kwargs = {name: estimator_kwargs[name] for name in binned.count_arguments if name in estimator_kwargs}
        if groups is None:
            machine_draws = resampled(pooled_counts, component_rng)
        else:
            per_group = np.stack([_counts(machine[groups == g], edges) for g in range(groups.max() + 1)])
            pooled = per_group[component_rng.integers(0, len(per_group), size=(n_boot, len(per_group)))].sum(axis=1)
            machine_draws = np.stack([component_rng.multinomial(int(row.sum()), row / row.sum())
                                      for row in pooled]).astype(float)
            # The same corpus and human replicates with the machine documents resampled as one pool:
            # the part of the spread that does not come from the sources.
            plain = binned.from_counts(corpus_draws, human_draws, resampled(pooled_counts, component_rng),
                                       **counts_kwargs)
        draws = binned.from_counts(corpus_draws, human_draws, machine_draws, **counts_kwargs)
    else:
        draws, plain = np.empty(n_boot), np.empty(n_boot)
        # The pooled machine resamples come from a generator of their own, so the grouped replicates
        # draw exactly the random numbers they drew before the widening existed.
        plain_rng = np.random.default_rng([seed, 0 if component_seed is None else component_seed + 1, 1])
        for replicate in range(n_boot):
            if groups is None:
                machine_sample = machine[component_rng.integers(0, machine.size, machine.size)]
            else:
                chosen = component_rng.integers(0, groups.max() + 1, groups.max() + 1)
                pool = np.concatenate([machine[groups == g] for g in chosen])
                machine_sample = pool[component_rng.integers(0, pool.size, pool.size)]
            corpus_sample = corpus[rng.integers(0, corpus.size, corpus.size)]
            human_sample = human[component_rng.integers(0, human.size, human.size)]
            draws[replicate] = estimator(corpus_sample, human_sample, machine_sample, **estimator_kwargs)
            if groups is not None:
                plain[replicate] = estimator(corpus_sample, human_sample,
                                             machine[plain_rng.integers(0, machine.size, machine.size)],
                                             **estimator_kwargs)
    draws = np.asarray(draws, dtype=float)
    if groups is not None:
        draws = _widened_for_few_groups(draws, np.asarray(plain, dtype=float), group_sizes, level, corpus_sources)
    return estimate, draws


def _widened_for_few_groups(draws: np.ndarray, plain: np.ndarray, group_sizes: np.ndarray, level: float,
                            corpus_sources: float | None = CORPUS_SOURCES) -> np.ndarray:
    """The source bootstrap's replicates with the between-source part of their spread widened.

    var(draws) = within + between, where `within` is the spread with the machine sample resampled as
    one pool (`plain`, the same corpus and human replicates) and `between` what resampling the sources
    adds. Only `between` rests on the G sources and stands for the corpus's own generators, so only it
    is scaled, by (few_groups_widening(G) * new_sources_widening(sizes, corpus_sources))^2; the
    replicates are stretched about their median to that variance and clipped to [0, 1].
    """
    total = float(np.var(draws))
    if total <= 0:
        return draws
    between = max(total - float(np.var(plain)), 0.0)
    factor = few_groups_widening(len(group_sizes), level) * new_sources_widening(group_sizes, corpus_sources)
    scale = np.sqrt((total + (factor ** 2 - 1) * between) / total)
    centre = float(np.median(draws))
    return np.clip(centre + scale * (draws - centre), 0.0, 1.0)


# ------------------------------------------------------------------------------- model-free lower bound

@dataclass(frozen=True)
class ExcessOverReference:
    """'At least `estimate` of this corpus is unlike its own human past' (with its interval)."""
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    threshold: float  # the reference's `quantile` score
    quantile: float
    corpus_share_above: float  # share of the corpus scoring strictly above the threshold
    reference_share_above: float  # share of the reference scoring strictly above it (about 1 - quantile)
    n_corpus: int
    n_reference: int

    def as_dict(self) -> dict:
        return asdict(self)


def _excess(corpus_above: np.ndarray, reference_above: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (corpus_above - reference_above) / (1 - reference_above)
    return np.clip(np.where(reference_above < 1, bound, 0.0), 0.0, 1.0)


def excess_over_reference(corpus_scores, reference_scores, quantile: float = 0.99, n_boot: int = N_BOOT,
                          level: float = LEVEL, seed: int = 0) -> ExcessOverReference:
    """A lower bound on the machine share that needs no machine model, only a human reference.

    t is the reference's `quantile` score (the reference: human documents of the same corpus and
    detector, e.g. a crawl from before machine text was common). With a = share of the corpus above t and
    b = share of the reference above t (about 1 - quantile; its empirical value is used, which is right
    under ties), if the corpus is (1 - pi) human scoring like the reference plus pi other documents, then
    a = (1 - pi) b + pi m with m <= 1 the other documents' share above t, so

        pi >= (a - b) / (1 - b)   (>= a - b).

    The estimate is that bound, clipped to [0, 1]; it equals the true share only if every machine
    document scores above t, and is lower otherwise. What it assumes: the human part of this corpus
    scores like the reference. It does not assume anything about machine text, so a new generator cannot
    break it; drift in the human writing (new topics, a new domain mix) or a changed detector can,
    and then the bound measures "unlike its own human past" rather than "machine-made".

    Interval: percentile bootstrap over both samples (threshold recomputed from each resampled
    reference). Given a replicate's threshold, the resampled corpus's count above it is drawn as
    Binomial(n_corpus, share of the corpus above it), which is exactly the bootstrap distribution of
    that count because the corpus and reference resamples are independent. The reference should hold
    enough documents above t (n_reference * (1 - quantile) of a few tens at least), or the threshold
    itself is noise.
    """
    if not 0 < quantile < 1:
        raise ValueError("quantile must be between 0 and 1")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    corpus = np.sort(_scores(corpus_scores, "corpus_scores"))
    reference = _scores(reference_scores, "reference_scores")

    def share_above(sorted_scores: np.ndarray, threshold) -> np.ndarray:
        return (sorted_scores.size - np.searchsorted(sorted_scores, threshold, side="right")) / sorted_scores.size

    threshold = float(np.quantile(reference, quantile))
    a, b = float(share_above(corpus, threshold)), float(np.mean(reference > threshold))
    estimate = float(_excess(np.asarray(a), np.asarray(b)))

    rng = np.random.default_rng(seed)
    thresholds, reference_above = np.empty(n_boot), np.empty(n_boot)
    for replicate in range(n_boot):
        resample = reference[rng.integers(0, reference.size, reference.size)]
        thresholds[replicate] = np.quantile(resample, quantile)
        reference_above[replicate] = np.mean(resample > thresholds[replicate])
    corpus_above = rng.binomial(corpus.size, share_above(corpus, thresholds)) / corpus.size
    draws = _excess(corpus_above, reference_above)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return ExcessOverReference(estimate=estimate, ci_low=float(min(low, estimate)),
                               ci_high=float(max(high, estimate)), level=level, threshold=threshold,
                               quantile=quantile, corpus_share_above=a, reference_share_above=b,
                               n_corpus=int(corpus.size), n_reference=int(reference.size))
