"""Acceptance simulation of issue 21: how well each prevalence estimator recovers the machine share of
corpora built from real out-of-fold scores of sources the components never saw.

    python scripts/simulate_prevalence.py [--replicates 100] [--n-corpus 1000] [--seed 0]
        [--out models/prevalence_simulation.json] [--markdown FILE]

About 90 seconds on one core with the defaults (n_boot 200, the library's default, is plenty at that
cost; raise --replicates for tighter coverage figures: with 100 per share a coverage of 90% is known
to about +-3 points). Prints a Markdown table (for the README) and writes
the full results as JSON. Thin: the estimators are filters/report/quantification.py and
filters/report/prevalence.py; this file only builds corpora and scores the estimates.

Data: models/default/held_out_scores.npz, the shipped model's out-of-fold p_machine of human and
machine documents, each scored by models that never saw the document's source repository, with that
source stored beside each score. The suspect cut-off is thresholds.suspect of models/default/model.json.

One replicate (share pi, replicate r):
- Sources. A human "corpus source" s_h (any source with at least --min-human-source human scores)
  and a machine "corpus source" s_m (at least --min-machine-source machine scores; with
  --machine-sources-per-corpus k > 1, k such sources, each with the k - 1 after it in name order,
  sharing the machine part equally, and all k left out of the "unseen generator" component). All (s_h, s_m)
  pairs are shuffled once with --seed and replicate r uses pair r mod #pairs, the same pair at every
  share, so with 100 replicates and 10 x 10 eligible sources each pair is used once per share.
  s_h may equal s_m (a benchmark's own human and machine halves).
- Corpus. Every corpus document is a distinct stored score (drawn without replacement; nothing is
  duplicated, because duplicates would make every interval look too good). s_h's human scores are
  shuffled; the corpus may take its human part only from those left after setting aside
  min(R, n_h // 2) for the reference (R = the first --reference-sizes value), and its machine part
  from s_m's scores. Where a source is too small for N = --n-corpus documents at share pi, N is
  shrunk for that replicate until both parts fit: N_eff = min(N, floor(pool_h / (1 - pi)),
  floor(n_m / pi)). With the shipped scores only two human sources hold more than 1,000 scores, so
  corpora are often smaller than N, most at low shares (the JSON and the table give the mean N).
  The machine count is round(pi * N_eff) and the true share is that count / N_eff (which can differ
  slightly from pi for small N_eff).
- Human component. "with reference (R)": the first min(R, what is left) of s_h's shuffled human
  scores not in the corpus, i.e. the corpus's own human past, same source, disjoint documents. The
  first reference size gets at least min(R, n_h // 2) by the rule above; a larger one (default 1000)
  gets every remaining document up to R, so on small sources it is smaller than R (its mean size is
  reported). "without reference": every stored human score except source s_h (the model's
  out-of-fold human scores, which never saw this corpus's source).
- Machine component. "unseen generator": every stored machine score except source s_m (a new
  generator the component never saw; the main condition). "seen generator": every stored machine
  score except the corpus's own machine documents (s_m's other documents stay in): shows what
  generator shift costs. s_m is one source among ten in that pool, so "seen" means "in the stored
  pool", not "the component is this generator".
- Methods, on every (human, machine) component pair: the binned mixture MLE, HDy and Forman's
  median sweep, each with quantification.bootstrap_interval (--n-boot replicates, 200 by default,
  the library's default; resampling the corpus and both components); classify-and-count at the
  suspect cut-off corrected by Rogan-Gladen with TPR and FPR measured on the given components, its
  interval from prevalence.adjusted_prevalence (Jeffreys draws of the corpus's flagged share, TPR
  and FPR; --rg-draws draws). The three distribution methods are run twice: with the plain bootstrap,
  and with the machine component's sources resampled first ("source bootstrap", machine_groups of
  bootstrap_interval: a two-stage cluster bootstrap), which is what the report uses, since the
  corpus's generators are unknown. With a reference, also the model-free lower bound
  quantification.excess_over_reference at each --excess-quantiles quantile of the reference.

Summaries, per (method, human component, machine component, share) and overall (all shares pooled):
mean absolute error, bias (mean estimate - truth), coverage of the 95% interval (share of replicates
whose interval contains the true share), median interval width, and whether the issue's goals hold
(coverage >= 90%, MAE <= 5 points, median width <= 20 points; the issue sets them for "with a
reference"; the other rows show how far they fall short). The lower bound is judged one-sided: the
share of replicates where its estimate, and where its ci_low, is at or below the true share.

Every replicate draws its own generator from (--seed, share index, replicate), so results do not
depend on the order of work and the same seed gives the same JSON (apart from the run's timing).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import numpy as np

from filters.report.prevalence import ErrorRates, adjusted_prevalence
from filters.report.quantification import (
    bootstrap_interval, excess_over_reference, hdy_prevalence, median_sweep_prevalence, mixture_prevalence,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCORES = ROOT / "models" / "default" / "held_out_scores.npz"
DEFAULT_MODEL = ROOT / "models" / "default" / "model.json"
DEFAULT_OUT = ROOT / "models" / "prevalence_simulation.json"

GOAL_COVERAGE, GOAL_MAE, GOAL_WIDTH = 0.90, 0.05, 0.20

ESTIMATORS = {"mixture MLE": mixture_prevalence, "HDy": hdy_prevalence, "median sweep": median_sweep_prevalence}
# The same estimates with the machine component's sources resampled in the bootstrap (machine_groups):
# intervals that also cover not knowing which generators wrote the corpus.
SOURCE_BOOTSTRAP = " (source bootstrap)"
GROUPED = {name + SOURCE_BOOTSTRAP: estimator for name, estimator in ESTIMATORS.items()}
CLASSIFY_AND_COUNT = "classify-and-count (Rogan-Gladen)"
METHODS = (*ESTIMATORS, *GROUPED, CLASSIFY_AND_COUNT)
WITHOUT_REFERENCE = "without reference"
UNSEEN, SEEN = "unseen generator", "seen generator"
SOURCE_JOIN = "+"  # several machine sources of one corpus, in a pair's machine side
INTERVALS = {
    **{name: "percentile bootstrap (quantification.bootstrap_interval) over corpus, human and machine samples"
       for name in ESTIMATORS},
    **{name: "the same, the machine sample resampled by source first (two-stage cluster bootstrap, machine_groups)"
       for name in GROUPED},
    CLASSIFY_AND_COUNT: "prevalence.adjusted_prevalence: Jeffreys draws of flagged share, TPR and FPR "
                        "(TPR/FPR measured at the suspect cut-off on the components given)",
    "lower bound": "quantification.excess_over_reference percentile bootstrap over corpus and reference",
}


def reference_label(size: int) -> str:
    return f"with reference R={size}"


@dataclass(frozen=True)
class HeldOutScores:
    human: np.ndarray
    machine: np.ndarray
    human_source: np.ndarray
    machine_source: np.ndarray

    @classmethod
    def load(cls, path: Path) -> "HeldOutScores":
        with np.load(path, allow_pickle=False) as data:
            return cls(np.asarray(data["human"], float), np.asarray(data["machine"], float),
                       np.asarray(data["human_source"]).astype(str), np.asarray(data["machine_source"]).astype(str))

    def sources(self, side: str, minimum: int) -> list[str]:
        names, counts = np.unique(getattr(self, f"{side}_source"), return_counts=True)
        return [str(name) for name, count in zip(names, counts) if count >= minimum]


@dataclass(frozen=True)
class Settings:
    n_corpus: int = 1000
    shares: tuple[float, ...] = (0.0, 0.05, 0.10, 0.20, 0.40, 0.60)
    reference_sizes: tuple[int, ...] = (300, 1000)
    replicates: int = 100
    min_human_source: int = 150
    min_machine_source: int = 100
    n_boot: int = 200
    rg_draws: int = 4000
    excess_quantiles: tuple[float, ...] = (0.95, 0.99)
    level: float = 0.95
    seed: int = 0
    machine_sources_per_corpus: int = 1

    def __post_init__(self):
        if not self.reference_sizes or min(self.reference_sizes) < 2:
            raise ValueError("reference sizes must be at least 2")
        if any(not 0 <= share < 1 for share in self.shares):
            raise ValueError("shares must lie in [0, 1)")
        if self.n_corpus < 10 or self.replicates < 1:
            raise ValueError("need n_corpus >= 10 and at least one replicate")
        if self.machine_sources_per_corpus < 1:
            raise ValueError("a corpus needs at least one machine source")


@dataclass
class Record:
    method: str
    human: str
    machine: str
    share: float
    truth: float
    estimate: float | None
    low: float | None
    high: float | None
    n_corpus: int
    n_human_component: int
    pair: tuple[str, str] = field(default=("", ""))

    @property
    def pair0(self) -> str:  # the human corpus source
        return self.pair[0]

    @property
    def pair1(self) -> str:  # the machine corpus source
        return self.pair[1]


# --------------------------------------------------------------------------------------- corpora

def corpus_sizes(n_corpus: int, share: float, human_pool: int, machine_available: int) -> tuple[int, int]:
    """(human, machine) document counts: N shrunk until both parts fit without replacement."""
    n = n_corpus
    if share < 1:
        n = min(n, math.floor(human_pool / (1 - share)))
    if share > 0:
        n = min(n, math.floor(machine_available / share))
    while n > 0:
        machine = round(share * n)
        if n - machine <= human_pool and machine <= machine_available:
            return n - machine, machine
        n -= 1
    raise ValueError("a source is too small to build any corpus")


@dataclass(frozen=True)
class Corpus:
    scores: np.ndarray  # human part first, then machine part
    truth: float  # machine share
    human_index: np.ndarray  # indices into HeldOutScores.human of the corpus's human documents
    machine_index: np.ndarray  # indices into HeldOutScores.machine of its machine documents
    references: dict[int, np.ndarray]  # reference size -> indices into HeldOutScores.human


def machine_members(s_m: str) -> list[str]:
    """The machine sources of a corpus: one, or several joined by '+' (--machine-sources-per-corpus)."""
    return s_m.split(SOURCE_JOIN)


def build_corpus(scores: HeldOutScores, settings: Settings, share: float, pair: tuple[str, str],
                 rng: np.random.Generator) -> Corpus:
    """One corpus and its human references (disjoint from it), as the module docstring describes. With
    several machine sources, the machine part is split between them in equal parts (so the smallest
    one limits its size)."""
    s_h, s_m = pair
    human_index = np.flatnonzero(scores.human_source == s_h)
    human_order = human_index[rng.permutation(human_index.size)]
    members = [np.flatnonzero(scores.machine_source == m) for m in machine_members(s_m)]
    members = [index[rng.permutation(index.size)] for index in members]
    reserve = min(settings.reference_sizes[0], human_index.size // 2)
    n_human, n_machine = corpus_sizes(settings.n_corpus, share, human_index.size - reserve,
                                      len(members) * min(index.size for index in members))
    parts = [n_machine // len(members) + (j < n_machine % len(members)) for j in range(len(members))]
    machine_index = np.concatenate([index[:n] for index, n in zip(members, parts)])
    left = human_order[n_human:]
    return Corpus(scores=np.concatenate([scores.human[human_order[:n_human]], scores.machine[machine_index]]),
                  truth=n_machine / (n_human + n_machine), human_index=human_order[:n_human],
                  machine_index=machine_index, references={size: left[:size] for size in settings.reference_sizes})


def one_replicate(scores: HeldOutScores, suspect: float, settings: Settings, share: float, pair: tuple[str, str],
                  rng: np.random.Generator) -> tuple[list[Record], list[Record]]:
    """Estimates of every method and component pair on one corpus: (estimator records, lower-bound records)."""
    s_h, s_m = pair
    drawn = build_corpus(scores, settings, share, pair, rng)
    corpus, truth = drawn.scores, drawn.truth
    humans = {reference_label(size): scores.human[index] for size, index in drawn.references.items()}
    humans[WITHOUT_REFERENCE] = scores.human[scores.human_source != s_h]
    unseen = ~np.isin(scores.machine_source, machine_members(s_m))
    machines = {UNSEEN: scores.machine[unseen], SEEN: np.delete(scores.machine, drawn.machine_index)}
    machine_groups = {UNSEEN: scores.machine_source[unseen], SEEN: np.delete(scores.machine_source, drawn.machine_index)}
    flagged = int(np.sum(corpus >= suspect))

    def seed() -> int:
        return int(rng.integers(2 ** 32))

    records = []
    for human_name, human in humans.items():
        for machine_name, machine in machines.items():
            def record(method, estimate, low, high):
                records.append(Record(method, human_name, machine_name, share, truth, estimate, low, high,
                                      corpus.size, human.size, pair))
            if human.size == 0 or machine.size == 0:  # e.g. a single machine source: no unseen component
                for name in METHODS:
                    record(name, None, None, None)
                continue
            for name, estimator in ESTIMATORS.items():
                try:
                    record(name, *bootstrap_interval(estimator, corpus, human, machine, n_boot=settings.n_boot,
                                                     level=settings.level, seed=seed()))
                except ValueError:  # e.g. components all tied: no estimate, counted as a failure
                    record(name, None, None, None)
            for name, estimator in GROUPED.items():
                try:
                    record(name, *bootstrap_interval(estimator, corpus, human, machine, n_boot=settings.n_boot,
                                                     level=settings.level, seed=seed(),
                                                     machine_groups=machine_groups[machine_name]))
                except ValueError:
                    record(name, None, None, None)
            rates = ErrorRates(tpr=float(np.mean(machine >= suspect)), fpr=float(np.mean(human >= suspect)),
                               n_machine=machine.size, n_human=human.size, threshold=suspect)
            result = adjusted_prevalence(flagged, corpus.size, rates, rng=np.random.default_rng(seed()),
                                         n_draws=settings.rg_draws, level=settings.level)
            record(CLASSIFY_AND_COUNT, result["estimate"], result["ci_low"], result["ci_high"])

    bounds = []
    for size in settings.reference_sizes:
        reference = humans[reference_label(size)]
        for quantile in settings.excess_quantiles:
            bound = excess_over_reference(corpus, reference, quantile=quantile, n_boot=settings.n_boot,
                                          level=settings.level, seed=seed())
            bounds.append(Record(f"lower bound (reference q{quantile:g})", reference_label(size), "none", share,
                                 truth, bound.estimate, bound.ci_low, bound.ci_high, corpus.size, reference.size,
                                 pair))
    return records, bounds


def source_pairs(scores: HeldOutScores, settings: Settings) -> list[tuple[str, str]]:
    """Every (human source, machine source) pair in a seeded order. With k machine sources per corpus,
    the machine side is k sources joined by '+': each eligible source with the k - 1 after it, in name
    order, cyclically (as many machine sides as sources, each source in k of them)."""
    human_sources = scores.sources("human", settings.min_human_source)
    machine_sources = scores.sources("machine", settings.min_machine_source)
    k = settings.machine_sources_per_corpus
    if not human_sources or len(machine_sources) < k:
        raise ValueError("too few sources are large enough: lower --min-human-source / --min-machine-source"
                         + (" / --machine-sources-per-corpus" if k > 1 else ""))
    if k > 1:
        machine_sources = [SOURCE_JOIN.join(machine_sources[(i + j) % len(machine_sources)] for j in range(k))
                           for i in range(len(machine_sources))]
    pairs = [(h, m) for h in human_sources for m in machine_sources]
    order = np.random.default_rng([settings.seed, 2**31 - 1]).permutation(len(pairs))
    return [pairs[i] for i in order]


# ------------------------------------------------------------------------------------------ summaries

def summarise(records: list[Record], bound: bool = False) -> dict:
    done = [r for r in records if r.estimate is not None]
    summary = {"n_replicates": len(records), "n_failed": len(records) - len(done),
               "mean_truth": float(np.mean([r.truth for r in records])),
               "mean_n_corpus": float(np.mean([r.n_corpus for r in records])),
               "min_n_corpus": int(min(r.n_corpus for r in records)),
               "mean_n_human_component": float(np.mean([r.n_human_component for r in records]))}
    if not done:
        return summary
    truth = np.array([r.truth for r in done])
    estimate, low, high = (np.array([getattr(r, name) for r in done]) for name in ("estimate", "low", "high"))
    error = estimate - truth
    summary.update(mae=float(np.mean(np.abs(error))), bias=float(np.mean(error)),
                   rmse=float(np.sqrt(np.mean(error ** 2))),
                   coverage=float(np.mean((low <= truth + 1e-12) & (truth <= high + 1e-12))),
                   median_width=float(np.median(high - low)))
    if bound:
        summary.update(bound_holds=float(np.mean(estimate <= truth + 1e-12)),
                       ci_low_holds=float(np.mean(low <= truth + 1e-12)),
                       bound_holds_within_1pt=float(np.mean(estimate <= truth + 0.01)),
                       max_over_truth=float(np.max(error)))
    else:
        summary["goals"] = goals(summary)
    return summary


def goals(summary: dict) -> dict:
    checks = {"coverage": summary["coverage"] >= GOAL_COVERAGE, "mae": summary["mae"] <= GOAL_MAE,
              "median_width": summary["median_width"] <= GOAL_WIDTH}
    return {**checks, "all": all(checks.values())}


def group(records: list[Record], keys: tuple[str, ...]) -> dict[tuple, list[Record]]:
    groups: dict[tuple, list[Record]] = {}
    for r in records:
        groups.setdefault(tuple(getattr(r, k) for k in keys), []).append(r)
    return groups


def tables(records: list[Record], bounds: list[Record]) -> dict:
    cells, overall = [], []
    for (method, human, machine, share), rows in group(records, ("method", "human", "machine", "share")).items():
        cells.append({"method": method, "human_component": human, "machine_component": machine, "share": share,
                      **summarise(rows)})
    for (method, human, machine), rows in group(records, ("method", "human", "machine")).items():
        row = {"method": method, "human_component": human, "machine_component": machine, "share": "all",
               **summarise(rows)}
        per_share = [c for c in cells if (c["method"], c["human_component"], c["machine_component"])
                     == (method, human, machine) and "mae" in c]
        if per_share:
            row["worst_share"] = {"min_coverage": min(c["coverage"] for c in per_share),
                                  "max_mae": max(c["mae"] for c in per_share),
                                  "max_median_width": max(c["median_width"] for c in per_share)}
            row["goals_at_every_share"] = all(c["goals"]["all"] for c in per_share)
        overall.append(row)
    by_source = []
    for side, position in (("human_source", 0), ("machine_source", 1)):
        keys = ("method", "human", "machine", f"pair{position}")
        for (method, human, machine, source), rows in group(records, keys).items():
            by_source.append({"method": method, "human_component": human, "machine_component": machine,
                              side: source, **{k: v for k, v in summarise(rows).items() if k != "goals"}})
    bound_cells = [{"method": method, "human_component": human, "share": share, **summarise(rows, bound=True)}
                   for (method, human, share), rows in group(bounds, ("method", "human", "share")).items()]
    bound_overall = [{"method": method, "human_component": human, "share": "all", **summarise(rows, bound=True)}
                     for (method, human), rows in group(bounds, ("method", "human")).items()]
    return {"cells": cells, "overall": overall, "by_source": by_source,
            "lower_bound": {"cells": bound_cells, "overall": bound_overall}}


# ------------------------------------------------------------------------------------------ driver

def simulate(scores: HeldOutScores, suspect: float, settings: Settings = Settings(), progress=None) -> dict:
    """Run every replicate and summarise (the whole simulation, no I/O)."""
    pairs = source_pairs(scores, settings)
    records: list[Record] = []
    bounds: list[Record] = []
    for share_index, share in enumerate(settings.shares):
        started = time.perf_counter()
        for replicate in range(settings.replicates):
            rng = np.random.default_rng([settings.seed, share_index, replicate])
            new, new_bounds = one_replicate(scores, suspect, settings, share, pairs[replicate % len(pairs)], rng)
            records += new
            bounds += new_bounds
        if progress:
            progress(f"share {share:.0%}: {settings.replicates} replicates in {time.perf_counter() - started:.1f}s")
    human_counts = dict(zip(*(x.tolist() for x in np.unique(scores.human_source, return_counts=True))))
    machine_counts = dict(zip(*(x.tolist() for x in np.unique(scores.machine_source, return_counts=True))))
    return {
        "settings": asdict(settings),
        "suspect": suspect,
        "sources": {"human": {s: human_counts[s] for s in scores.sources("human", settings.min_human_source)},
                    "machine": {s: machine_counts[s] for s in scores.sources("machine", settings.min_machine_source)},
                    "pairs_in_order": [list(p) for p in pairs]},
        "intervals": INTERVALS,
        "goals": {"coverage_at_least": GOAL_COVERAGE, "mae_at_most": GOAL_MAE, "median_width_at_most": GOAL_WIDTH,
                  "applies_to": "with a reference (the other rows show how far they fall short)"},
        **tables(records, bounds),
    }


# ------------------------------------------------------------------------------------------ markdown

def _pts(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


def _verdict(row: dict) -> str:
    if "mae" not in row:
        return "no estimate"
    if row["goals"]["all"]:
        return "met" + ("" if row.get("goals_at_every_share", True) else " (not at every share)")
    short = []
    if not row["goals"]["coverage"]:
        short.append(f"coverage {GOAL_COVERAGE - row['coverage']:.0%} short")
    if not row["goals"]["mae"]:
        short.append(f"MAE {_pts(row['mae'] - GOAL_MAE)} pts over")
    if not row["goals"]["median_width"]:
        short.append(f"width {_pts(row['median_width'] - GOAL_WIDTH)} pts over")
    return "; ".join(short)


def _condition_order(result: dict) -> list[str]:
    return [reference_label(size) for size in result["settings"]["reference_sizes"]] + [WITHOUT_REFERENCE]


def markdown(result: dict) -> str:
    settings = result["settings"]
    humans = _condition_order(result)
    overall = {(r["method"], r["human_component"], r["machine_component"]): r for r in result["overall"]}
    lines = [
        f"Simulated corpora of up to {settings['n_corpus']:,} documents (mean "
        f"{np.mean([r['mean_n_corpus'] for r in result['overall']]):.0f}), {settings['replicates']} per machine "
        f"share ({', '.join(f'{s:.0%}' for s in settings['shares'])}), seed {settings['seed']}; "
        f"{len(result['sources']['human'])} human x {len(result['sources']['machine'])} machine held-out "
        "sources" + (f"; each corpus's machine text split equally between {k} machine sources, all held out of the "
                     "unseen component" if (k := settings.get("machine_sources_per_corpus", 1)) > 1 else "") + ". "
        "Errors and widths in percentage points; 95% intervals; goals: coverage >= 90%, MAE <= 5, "
        "median width <= 20 (set for \"with a reference\").",
        "",
        "| Machine component | Human component | Method | MAE | Bias | Coverage | Median width "
        "| Worst share (cov / MAE) | Goals (all shares pooled) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for machine in (UNSEEN, SEEN):
        for human in humans:
            for method in METHODS:
                row = overall.get((method, human, machine))
                if row is None or "mae" not in row:
                    continue
                worst = row.get("worst_share", {})
                lines.append(
                    f"| {machine} | {human} (mean {row['mean_n_human_component']:.0f}) | {method} | {_pts(row['mae'])} "
                    f"| {_pts(row['bias'], True)} | {row['coverage']:.0%} | {_pts(row['median_width'])} "
                    f"| {worst.get('min_coverage', float('nan')):.0%} / {_pts(worst.get('max_mae'))} "
                    f"| {_verdict(row)} |")
    lines += ["", f"By machine share ({UNSEEN}): MAE in points / coverage.", "",
              "| Human component | Method | " + " | ".join(f"{s:.0%}" for s in settings["shares"]) + " |",
              "|---|---|" + "---:|" * len(settings["shares"])]
    cells = {(c["method"], c["human_component"], c["machine_component"], c["share"]): c for c in result["cells"]}
    for human in humans:
        for method in METHODS:
            parts = []
            for share in settings["shares"]:
                cell = cells.get((method, human, UNSEEN, share))
                parts.append("n/a" if cell is None or "mae" not in cell
                             else f"{_pts(cell['mae'])} / {cell['coverage']:.0%}")
            lines.append(f"| {human} | {method} | " + " | ".join(parts) + " |")
    lines += ["", "Lower bound without a machine model (excess over the reference's quantile): how often it stays "
              "at or below the true share (one-sided), and how far below it sits.", "",
              "| Reference | Bound | Mean bound - truth | Estimate <= truth | ci_low <= truth "
              "| Estimate <= truth + 1 pt | MAE |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for row in result["lower_bound"]["overall"]:
        lines.append(f"| {row['human_component']} (mean {row['mean_n_human_component']:.0f}) | {row['method']} "
                     f"| {_pts(row['bias'], True)} | {row['bound_holds']:.0%} | {row['ci_low_holds']:.0%} "
                     f"| {row['bound_holds_within_1pt']:.0%} | {_pts(row['mae'])} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ command

def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _shown(path: Path) -> str:
    """A path relative to the repository when it is inside it (so the JSON does not name this machine)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def command_line(context: click.Context) -> str:
    """The command that reproduces this run, every option spelled out."""
    parts = ["python scripts/simulate_prevalence.py"]
    for parameter in context.command.params:
        value = context.params.get(parameter.name)
        if value is not None:
            parts.append(f"{parameter.opts[0]} {_shown(value) if isinstance(value, Path) else value}")
    return " ".join(parts)


@click.command()
@click.option("--scores", "scores_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=DEFAULT_SCORES, show_default=True, help="out-of-fold scores (npz)")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help=f"model.json holding thresholds.suspect [default: {DEFAULT_MODEL.relative_to(ROOT)}]")
@click.option("--suspect", type=float, default=None, help="override the suspect cut-off")
@click.option("--n-corpus", type=int, default=1000, show_default=True,
              help="corpus size (shrunk where sources are small)")
@click.option("--shares", default="0,0.05,0.1,0.2,0.4,0.6", show_default=True)
@click.option("--reference-sizes", default="300,1000", show_default=True,
              help="human reference sizes; the first one's rule decides the corpora")
@click.option("--replicates", type=int, default=100, show_default=True, help="corpora per share")
@click.option("--min-human-source", type=int, default=150, show_default=True)
@click.option("--min-machine-source", type=int, default=100, show_default=True)
@click.option("--n-boot", type=int, default=200, show_default=True, help="bootstrap replicates per interval")
@click.option("--rg-draws", type=int, default=4000, show_default=True,
              help="Monte Carlo draws for the classify-and-count interval")
@click.option("--excess-quantiles", default="0.95,0.99", show_default=True)
@click.option("--machine-sources-per-corpus", type=click.IntRange(1), default=1, show_default=True,
              help="machine sources each corpus's machine text comes from, in equal parts (1: one generator's "
                   "benchmark, the hardest case; a crawl's machine text usually comes from several)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the Markdown table here")
def main(scores_path, model_path, suspect, n_corpus, shares, reference_sizes, replicates, min_human_source,
         min_machine_source, n_boot, rg_draws, excess_quantiles, machine_sources_per_corpus, seed, out, markdown_path):
    """Simulate corpora from held-out scores and score every prevalence estimator (issue 21)."""
    model_path = model_path or DEFAULT_MODEL
    suspect_from = "--suspect" if suspect is not None else _shown(model_path)
    if suspect is None:
        suspect = float(json.loads(model_path.read_text())["thresholds"]["suspect"])
    settings = Settings(n_corpus=n_corpus, shares=_floats(shares), reference_sizes=_ints(reference_sizes),
                        replicates=replicates, min_human_source=min_human_source,
                        min_machine_source=min_machine_source, n_boot=n_boot, rg_draws=rg_draws,
                        excess_quantiles=_floats(excess_quantiles), seed=seed,
                        machine_sources_per_corpus=machine_sources_per_corpus)
    started = time.perf_counter()
    result = simulate(HeldOutScores.load(scores_path), suspect, settings,
                      progress=lambda line: click.echo(line, err=True))
    result["data"] = {"scores": _shown(scores_path),
                      "scores_sha256": hashlib.sha256(scores_path.read_bytes()).hexdigest(),
                      "suspect_from": suspect_from}
    result["run"] = {"seconds": round(time.perf_counter() - started, 1),
                     "command": command_line(click.get_current_context())}
    table = markdown(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(table)
    click.echo(table)
    click.echo(f"wrote {out} in {result['run']['seconds']}s", err=True)


if __name__ == "__main__":
    main()
