"""The machine-generated share of a run from every judged document's score (the report's headline).

A run's OUT/calibration holds what the estimate needs besides the corpus (filters/executor/reference.py):
- the model's out-of-fold scores of held-out human and machine documents (held_out_scores.npz: scored by
  models that never saw their source), the machine component always, and the human component when the
  run has no reference;
- the scores of the run's own human reference, when it has one: the human component then comes from the
  same crawl as the corpus, which is what makes the estimate trustworthy (human text of an unseen
  domain can score far from the model's held-out human scores; scripts/simulate_prevalence.py measures
  how far).

The corpus is the documents the components describe: scored, in a supported language, with at least
`min_tokens` tokens (the documents the thresholds decide on). Estimators: filters/report/quantification.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.decision import Thresholds, judgeable
from detector.features.precision import precision_of
from detector.reference_lm import sha256_file
from filters.report import quantification as q
from filters.report.load import RunData
from filters.store.state import CALIBRATION_DIR

# The headline method and its interval, chosen by scripts/simulate_prevalence.py (README, "How good is the
# estimate"): on corpora of held-out sources with a generator the components never saw, the median sweep
# with the machine sources resampled in the bootstrap had the lowest error and the best coverage of the
# methods (with model synthsieve-v2-20261202T1658Z and a 300-document reference: MAE 8.2 points, coverage
# 82%, median width 14 points; the mixture MLE and HDy 8.5, 78-79%, 13.5).
HEADLINE = "median_sweep"
METHODS = {
    "mixture": (q.mixture_prevalence, "maximum-likelihood mixture of the human and machine score distributions "
                                      "(fixed components, binned; Saerens et al. 2002)"),
    "hdy": (q.hdy_prevalence, "HDy: the mixture nearest the corpus's score histogram in Hellinger distance "
                              "(González-Castro et al. 2013)"),
    "median_sweep": (q.median_sweep_prevalence, "Forman's median sweep: adjusted classify-and-count at many "
                                                "cut-offs, the median of the estimates"),
}
# The reference's upper quantile for the model-free lower bound: 0.95 where the reference holds at least
# MIN_ABOVE documents above it, otherwise lower so that it does (the threshold is noise otherwise). In
# the simulation its ci_low stayed at or below the true share in 100% of corpora at 0.95 (98-99% at
# 0.99) and sat closer to it (8.4 points below on average, against 10.4).
UPPER_QUANTILE = 0.95
MIN_ABOVE = 30
MIN_COMPONENT = 50
# One seed for resampling the components, whatever the run: runs compared against the same components
# share their component replicates, so a change between them is not blurred by that noise twice.
COMPONENT_SEED = 20221130


@dataclass
class Components:
    human: np.ndarray | None = None
    machine: np.ndarray | None = None
    machine_groups: np.ndarray | None = None  # the source of each machine score, for the bootstrap
    reference: np.ndarray | None = None  # the run's own human reference (judged documents), if any
    described: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return (self.human is not None and self.machine is not None
                and min(self.human.size, self.machine.size) >= MIN_COMPONENT)


def _checked_file(run: RunData, entry: dict | None, what: str, warnings: list[str]):
    if not entry or not entry.get("path"):
        return None
    # Only a file name taken from the manifest, under the run's own calibration folder: a path in a
    # manifest (absolute, or with "..") must not make the report read a file outside the run.
    path = run.path / CALIBRATION_DIR / Path(str(entry["path"])).name
    if not path.is_file():
        warnings.append(f"{what} ({entry['path']}) is missing from the run: the estimate cannot use it")
        return None
    digest = sha256_file(path)
    if entry.get("sha256") and digest != entry["sha256"]:
        warnings.append(f"{what} ({entry['path']}) differs from the file the manifest names (SHA-256 "
                        f"{digest[:12]}… against {entry['sha256'][:12]}…): not used")
        return None
    return path


def load_components(run: RunData, thresholds: Thresholds) -> Components:
    """The run's components; `thresholds` decide which reference documents are judged."""
    calibration = run.manifest.get("calibration") or {}
    components = Components()
    model_path = _checked_file(run, calibration.get("model_scores"), "the model's held-out scores", components.warnings)
    if model_path is not None:
        with np.load(model_path, allow_pickle=False) as stored:
            components.human = np.asarray(stored["human"], dtype=float)
            components.machine = np.asarray(stored["machine"], dtype=float)
            if "machine_source" in stored.files:
                components.machine_groups = np.asarray(stored["machine_source"]).astype(str)
        components.warnings.extend(scoring_mismatch(run.manifest.get("model") or {},
                                                    calibration["model_scores"].get("measured_with") or {}))
    reference = calibration.get("reference") or {}
    reference_path = _checked_file(run, reference.get("scores"), "the human reference's scores", components.warnings)
    if reference_path is not None:
        documents = json.loads(reference_path.read_text(encoding="utf-8"))["documents"]
        components.reference = np.array([d["p_machine"] for d in documents
                                         if judgeable(d["language"], d["n_tokens"], thresholds)], dtype=float)
        if components.reference.size >= MIN_COMPONENT:
            components.human = components.reference
        else:
            components.warnings.append(f"the human reference holds only {components.reference.size} judged "
                                       f"documents (fewer than {MIN_COMPONENT}): the human component is the "
                                       "model's held-out human scores instead")
    human_from = ("reference" if components.reference is not None and components.human is components.reference
                  else "model" if components.human is not None else None)
    components.described = {
        "human": {"from": human_from, "n": int(components.human.size) if components.human is not None else 0,
                  "what": {"reference": "the run's own human reference",
                           "model": "the model's out-of-fold scores of human documents of held-out sources",
                           None: "none"}[human_from]},
        "machine": {"from": "model" if components.machine is not None else None,
                    "n": int(components.machine.size) if components.machine is not None else 0,
                    "what": "the model's out-of-fold scores of machine documents of held-out sources"
                            if components.machine is not None else "none"},
    }
    return components


def scoring_mismatch(run_model: dict, measured_with: dict) -> list[str]:
    """Why the model's held-out scores may not describe this run's scores: it was scored at another token
    cap, in another precision or with another reference LM than they were (each shifts the score
    distributions, so the machine component, and the human one without a reference, would not match)."""
    differences = []
    for what, ran, measured in (("token cap", run_model.get("token_cap"), measured_with.get("token_cap")),
                                ("precision", precision_of(run_model), measured_with.get("precision"))):
        if ran is not None and measured is not None and ran != measured:
            differences.append(f"{what} {ran} (the held-out scores: {measured})")
    ran_lm, measured_lm = run_model.get("reference_model_hash"), measured_with.get("reference_model_hash")
    if ran_lm and measured_lm and ran_lm != measured_lm:
        differences.append(f"reference LM {str(ran_lm)[:12]}… (the held-out scores: {str(measured_lm)[:12]}…)")
    if not differences:
        return []
    return [f"this run was scored with {', '.join(differences)}: the model's held-out score distributions may "
            "not match its scores, so the whole-distribution estimate may be biased; a human reference "
            "scored in the same run removes that doubt for the human component"]


def upper_quantile(n_reference: int) -> float:
    return min(UPPER_QUANTILE, max(0.5, 1 - MIN_ABOVE / max(n_reference, 1)))


def whole_distribution(corpus: np.ndarray, components: Components, seed: int, n_boot: int = q.N_BOOT) -> dict:
    """Every method's estimate and interval, the headline's bootstrap draws (for run comparisons), and
    the lower bound when there is a reference."""
    methods, draws = {}, None
    for name, (estimator, description) in METHODS.items():
        estimate, replicates = q.bootstrap_draws(estimator, corpus, components.human, components.machine, n_boot, seed,
                                                 machine_groups=components.machine_groups,
                                                 component_seed=COMPONENT_SEED)
        low, high = q.percentile_interval(estimate, replicates)
        methods[name] = {"estimate": estimate, "ci_low": low, "ci_high": high, "level": q.LEVEL, "method": description}
        if name == HEADLINE:
            draws = replicates
    spread = max(m["estimate"] for m in methods.values()) - min(m["estimate"] for m in methods.values())
    return {"methods": methods, "draws": draws, "lower_bound": lower_bound(corpus, components, seed, n_boot),
            "spread": spread}


def lower_bound(corpus: np.ndarray, components: Components, seed: int, n_boot: int = q.N_BOOT) -> dict | None:
    """The model-free lower bound, when the run has a human reference of at least MIN_COMPONENT judged
    documents (it needs no machine component, so it is there even when the run has none)."""
    if components.reference is None or components.reference.size < MIN_COMPONENT or corpus.size == 0:
        return None
    bound = q.excess_over_reference(corpus, components.reference, upper_quantile(components.reference.size),
                                    n_boot=n_boot, seed=seed).as_dict()
    bound["meaning"] = (f"at least {bound['ci_low']:.1%} of the judged documents (point estimate "
                        f"{bound['estimate']:.1%}; the lower end of its 95% interval is the claim) score above "
                        f"the top {1 - bound['quantile']:.0%} of the run's own human reference, beyond what the "
                        "reference itself puts there: that share of the corpus is unlike its own human past, "
                        "whatever model made it")
    return bound
