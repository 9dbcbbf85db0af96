"""Held-out folds' figures: when a fold's AUROC means something, per fold and summarised."""

from __future__ import annotations

import numpy as np

from detector.evaluation import auroc
from detector.thresholds import fpr_upper_bound, promise_thresholds

# A fold's AUROC is reported only where each class has this many documents: a few say nothing.
MIN_PER_CLASS = 20


def auroc_if_enough(y, p):
    """AUROC where each class has MIN_PER_CLASS documents, else None (a few documents say nothing)."""
    n_machine = int(np.sum(y))
    return auroc(y, p) if min(n_machine, len(y) - n_machine) >= MIN_PER_CLASS else None


def fold_figures(table, p: np.ndarray, groups: np.ndarray, human_reference: np.ndarray) -> dict:
    """Per group (source or family): AUROC of its held-out rows, all and English-judgeable. A group of
    one class only (a machine-only source, a family) is ranked against `human_reference`, the held-out
    human rows of every source."""
    figures = {}
    scored = np.flatnonzero(~np.isnan(p))
    for name in sorted(set(groups[scored])):
        rows = scored[groups[scored] == name]
        if len(set(table.y[rows])) < 2:
            if table.y[rows][0] == 0:  # human only: no ranking, only the flagged share (in the checks)
                continue
            rows = np.union1d(rows, human_reference)
        en = table.judgeable(rows)
        figures[name] = {"n": int(len(rows)), "n_machine": int(table.y[rows].sum()),
                         "auroc": auroc_if_enough(table.y[rows], p[rows]), "english_judgeable_n": int(len(en)),
                         "english_judgeable_auroc": auroc_if_enough(table.y[en], p[en])}
    return figures


def summarise_folds(folds: dict) -> dict:
    """Mean and worst AUROC over the folds that have one, all documents and English-judgeable."""
    out = {}
    for key in ("auroc", "english_judgeable_auroc"):
        values = {n: f[key] for n, f in folds.items() if f[key] is not None}
        worst = min(values, key=values.get) if values else None
        out[key] = {"mean": float(np.mean(list(values.values()))) if values else None,
                    "worst": worst, "worst_value": values.get(worst), "n_folds": len(values)}
    return out


def held_out_figures(table, p: np.ndarray, max_machine_grounded: float, max_human_flagged: float,
                     confidence: float) -> dict:
    """Held-out figures of one training recipe's out-of-fold scores p (NaN where not scored): per source
    AUROC and its summary, pooled AUROC, and the decisions at thresholds set by the shipped rule on
    these scores (held-out human text as the only human set: the check sets need a final model)."""
    scored = np.flatnonzero(~np.isnan(p))
    human_rows = scored[table.y[scored] == 0]
    folds = fold_figures(table, p, table.sources, human_rows)
    judged = table.judgeable(scored)
    machine, human = p[judged[table.y[judged] == 1]], p[judged[table.y[judged] == 0]]
    rule = promise_thresholds(machine, {"held_out_sources": human}, max_machine_grounded, max_human_flagged,
                              confidence)
    flagged = int((human >= rule["suspect"]).sum())
    return {"summary": summarise_folds(folds), "folds": folds,
            "pooled_auroc": auroc_if_enough(table.y[scored], p[scored]),
            "pooled_english_judgeable_auroc": auroc_if_enough(table.y[judged], p[judged]),
            "thresholds": {"ground": rule["ground"], "suspect": rule["suspect"]},
            "machine": {"n": int(machine.size), "flagged": float((machine >= rule["suspect"]).mean()),
                        "grounded": float((machine < rule["ground"]).mean())},
            "human": {"n": int(human.size), "flagged": flagged,
                      "flagged_upper_bound": fpr_upper_bound(flagged, int(human.size), confidence),
                      "grounded": float((human < rule["ground"]).mean())}}


def generator_figures(table, p: np.ndarray, sources) -> dict:
    """Within each of `sources` (that have both classes scored): each generator's out-of-fold machine
    rows ranked against the source's own human rows, English-judgeable only. Shows which kinds of
    machine text a held-out source's AUROC is lost on (the minimum of MIN_PER_CLASS per class is not
    applied: a generator has tens of rows; n says how many)."""
    figures = {}
    scored = np.flatnonzero(~np.isnan(p))
    judged = table.judgeable(scored)
    generators = table.column("generator")
    for source in sources:
        rows = judged[table.sources[judged] == source]
        human = rows[table.y[rows] == 0]
        machine = rows[table.y[rows] == 1]
        if not len(human) or not len(machine):
            continue
        figures[source] = {}
        for g in sorted(set(generators[machine])):
            own = machine[generators[machine] == g]
            figures[source][str(g)] = {"n": int(len(own)), "auroc": auroc(
                np.r_[np.zeros(len(human)), np.ones(len(own))], np.r_[p[human], p[own]])}
    return figures


def summary_line(name: str, figures: dict) -> str:
    """One progress line of a recipe's held-out figures (held_out_figures): mean and worst source."""
    summary = figures["summary"]["english_judgeable_auroc"]
    shown = {key: "n/a" if summary[key] is None else f"{summary[key]:.3f}" for key in ("mean", "worst_value")}
    return f"{name}: English-judgeable mean AUROC {shown['mean']}, worst {summary['worst']} {shown['worst_value']}"


def held_out_run_options(command):
    """The click options every held-out comparison script shares (scripts/evaluate_weighting.py,
    scripts/evaluate_generated.py): how the folds are fit and the decision targets."""
    import click

    options = [
        click.option("--cross-fit", "k", default=2, show_default=True, help="Folds for the cross-fitted evidence scores."),
        click.option("--sequence-epochs", default=4, show_default=True),
        click.option("--jobs", default=2, show_default=True, help="Held-out folds fit at once, in worker processes."),
        click.option("--max-machine-grounded", default=0.10, show_default=True),
        click.option("--max-human-flagged", default=0.01, show_default=True),
        click.option("--confidence", default=0.95, show_default=True),
        click.option("--token-cap", default=256, show_default=True),
        click.option("--reference-model", default=None, help="Local HF causal-LM dir (default: shipped SmolLM2)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def write_held_out_report(out, script: str, table, reference_hash: str, token_cap: int, targets: dict,
                          started: float, **fields) -> dict:
    """Write the JSON report of a held-out comparison script (and return it): the command that made it,
    the documents and training rows of `table`, the reference model and cap, the decision targets and
    the run time, then the script's own `fields`."""
    import json
    import sys
    import time
    from pathlib import Path

    report = {"command": " ".join(["python", script, *sys.argv[1:]]), "n_documents": len(table.rows),
              "n_training_rows": int(len(table.training)), "reference_model_hash": reference_hash,
              "token_cap": token_cap, "targets": targets, **fields, "seconds": round(time.time() - started, 1)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return report
