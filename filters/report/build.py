"""Assembling the report of one or more runs: sections, comparison, summary and plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from filters.report import plots as plotting
from filters.report.comparison import comparison_section, run_labels
from filters.report.load import RunData, load_run
from filters.report.prevalence import DRAWS, ErrorRates
from filters.report.sections import run_sections
from filters.report.summary import summary

SCHEMA = "synthsieve.report/1"
SEED = 20221130  # fixed: the same output directory always gives the same interval


@dataclass
class Report:
    data: dict  # what report.json holds
    labels: list[str]
    run_plots: list[list[plotting.Plot]] = field(default_factory=list)  # one list per run, in order
    comparison_plots: list[plotting.Plot] = field(default_factory=list)


def public(value):
    """Drop internal keys (leading underscore, e.g. Monte Carlo draws) before anything is written."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [public(v) for v in value]
    return value


def shared_rate_draws(runs: list[RunData], rng: np.random.Generator):
    """One set of TPR/FPR draws when every run was scored by the same model with the same rates, so
    that comparisons between runs do not count the detector's own uncertainty as corpus change."""
    if len(runs) < 2:
        return None
    rates = [ErrorRates.from_manifest(r.manifest) for r in runs]
    hashes = {(r.manifest.get("model") or {}).get("model_hash") for r in runs}
    if rates[0] is None or any(r != rates[0] for r in rates) or len(hashes) != 1:
        return None
    return rates[0].draws(DRAWS, rng)


def build_report(out_dirs, with_plots: bool = True) -> Report:
    paths = [Path(p) for p in out_dirs]
    if not paths:
        raise ValueError("need at least one filter output directory")
    runs = [load_run(p) for p in paths]
    labels = run_labels(paths)
    rate_draws = shared_rate_draws(runs, np.random.default_rng(SEED))
    all_sections = [run_sections(run, np.random.default_rng([SEED, i]), rate_draws) for i, run in enumerate(runs)]
    comparison = comparison_section(labels, all_sections, rate_draws is not None) if len(runs) > 1 else None
    data = {
        "schema": SCHEMA,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": labels[0],
        "summary": summary(all_sections[0], comparison),
        **all_sections[0],
        "comparison": comparison,
        "other_runs": [{"label": label, "sections": sections, "summary": summary(sections)}
                       for label, sections in zip(labels[1:], all_sections[1:])],
    }
    report = Report(data=public(data), labels=labels)
    if with_plots:
        report.run_plots = [plotting.run_plots(run, sections) for run, sections in zip(runs, all_sections)]
        if comparison:
            report.comparison_plots = [plotting.trend(comparison["runs"])]
    return report
