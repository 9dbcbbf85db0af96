"""Held-out folds' figures: when a fold's AUROC means something, per fold and summarised."""

from __future__ import annotations

import numpy as np

from detector.evaluation import auroc
from detector.thresholds import fpr_upper_bound, min_reference_size, promise_thresholds, threshold_for_miss_rate

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


def family_held_out_figures(table, p_source: np.ndarray, p_family: np.ndarray) -> dict:
    """Per generator family: AUROC of its machine text scored by stacks fit without the family (p_family)
    against the held-out human text of every source, scored without its source (p_source: a family
    fold holds no human text out)."""
    oof = np.flatnonzero(~np.isnan(p_source))
    human_rows = oof[table.y[oof] == 0]
    p = p_family.copy()
    p[human_rows] = p_source[human_rows]
    return fold_figures(table, p, table.families, human_rows)


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


def language_figures(table, p: np.ndarray, suspect: float, ground: float, max_human_flagged: float,
                     max_machine_grounded: float, confidence: float, min_tokens: int = 50) -> dict:
    """Per detected language (the language gate's own input), the out-of-fold scores p of rows with at
    least min_tokens LM tokens: AUROC, and what the given (English) thresholds would do were the gate
    open for it: human text flagged (with its one-sided upper bound, per source too) and machine text
    flagged and grounded. `gate_may_open` holds only where the human bound meets max_human_flagged and
    the machine share in `grounded` meets max_machine_grounded: the rule the shipped thresholds meet
    on English text. A language with fewer human documents than min_reference_size cannot show the
    bound at all, whatever its scores. `own_ground` is the cut-off that would ground only
    max_machine_grounded of the language's own machine text (never above `ground`), and
    `human_grounded_at_own_ground` what share of its human text would still be grounded there: what
    opening it with a cut-off of its own would buy."""
    scored = np.flatnonzero(~np.isnan(p) & (table.n_tokens >= min_tokens) & (table.y >= 0))  # not NEITHER
    figures = {}
    for language in sorted(set(table.language[scored]), key=str):
        rows = scored[table.language[scored] == language]
        human, machine = rows[table.y[rows] == 0], rows[table.y[rows] == 1]
        flagged = int((p[human] >= suspect).sum())
        upper = fpr_upper_bound(flagged, len(human), confidence) if len(human) else None
        grounded = float((p[machine] < ground).mean()) if len(machine) else None
        own_ground = min(ground, threshold_for_miss_rate(p[machine], max_machine_grounded)) if len(machine) else None
        by_source = {}
        for source in sorted(set(table.sources[human])):
            own = human[table.sources[human] == source]
            own_flagged = int((p[own] >= suspect).sum())
            by_source[source] = {"n": int(len(own)), "flagged": own_flagged,
                                 "upper_bound": fpr_upper_bound(own_flagged, len(own), confidence)}
        figures[str(language)] = {
            "n_human": int(len(human)), "n_machine": int(len(machine)),
            "auroc": auroc_if_enough(table.y[rows], p[rows]),
            "human_flagged": flagged, "human_flagged_upper_bound": upper,
            "human_grounded": float((p[human] < ground).mean()) if len(human) else None,
            "machine_flagged": float((p[machine] >= suspect).mean()) if len(machine) else None,
            "machine_grounded": grounded, "own_ground": own_ground,
            "human_grounded_at_own_ground": (float((p[human] < own_ground).mean())
                                             if own_ground is not None and len(human) else None),
            "human_by_source": by_source,
            "enough_human_for_the_bound": bool(len(human) >= min_reference_size(max_human_flagged, confidence)),
            "gate_may_open": bool(upper is not None and upper <= max_human_flagged and grounded is not None
                                  and grounded <= max_machine_grounded),
        }
    return figures


def _unjudged_kinds(table, rows: np.ndarray, min_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Those of rows the LM cannot judge, and the kind of each: its detected language, or
    `en<min_tokens` for English too short."""
    rows = np.setdiff1d(rows, table.judgeable(rows, min_tokens))  # the complement of what the thresholds decide
    return rows, np.where(table.language[rows] == "en", f"en<{min_tokens}", table.language[rows]).astype(str)


def unjudged_human_sets(table, p: np.ndarray, min_tokens: int = 50) -> dict[str, np.ndarray]:
    """The scored (not NaN) human rows' scores the LM cannot judge, by kind: each detected language but
    English, and `en<min_tokens` for English rows too short (the sets overwhelming_threshold reads)."""
    rows, kinds = _unjudged_kinds(table, np.flatnonzero(~np.isnan(p) & (table.y == 0)), min_tokens)
    return {kind: p[rows[kinds == kind]] for kind in sorted(set(kinds))}


def unjudged_figures(table, p: np.ndarray, cutoffs: dict[str, float], min_tokens: int = 50) -> dict:
    """Per kind of scored labelled row the LM cannot judge (see unjudged_human_sets): how many human and
    machine rows it has and how many each `overwhelming` cut-off in `cutoffs` (name -> value) flags."""
    labelled = np.flatnonzero(~np.isnan(p) & (table.y >= 0))
    rows, kinds = _unjudged_kinds(table, labelled, min_tokens)
    out = {}
    for kind in sorted(set(kinds)):
        own = rows[kinds == kind]
        human, machine = own[table.y[own] == 0], own[table.y[own] == 1]
        out[kind] = {"n_human": int(len(human)), "n_machine": int(len(machine)),
                     **{name: {"human_flagged": int((p[human] >= cut).sum()),
                               "machine_flagged": int((p[machine] >= cut).sum())} for name, cut in cutoffs.items()}}
    return out


def statistic_aurocs(y: np.ndarray, stats: np.ndarray, names, direction: np.ndarray) -> dict:
    """Zero-shot: the AUROC of each statistic (a column of stats) on its own, its sign fixed by
    `direction` (+1 where higher means machine, -1 where lower does), decided elsewhere (on other
    rows), so that a statistic that flips on these rows shows below 0.5. Rows with a NaN are left out
    of that statistic; None where a class has fewer than MIN_PER_CLASS rows."""
    out = {}
    for column, name in enumerate(names):
        ok = ~np.isnan(stats[:, column])
        out[name] = auroc_if_enough(y[ok], direction[column] * stats[ok, column])
    return out


def summary_line(name: str, figures: dict) -> str:
    """One progress line of a recipe's held-out figures (held_out_figures): mean and worst source."""
    summary = figures["summary"]["english_judgeable_auroc"]
    shown = {key: "n/a" if summary[key] is None else f"{summary[key]:.3f}" for key in ("mean", "worst_value")}
    return f"{name}: English-judgeable mean AUROC {shown['mean']}, worst {summary['worst']} {shown['worst_value']}"


def held_out_run_options(command):
    """The click options every held-out comparison script shares (scripts/evaluate_weighting.py,
    scripts/evaluate_added_rows.py): how the folds are fit and the decision targets."""
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
