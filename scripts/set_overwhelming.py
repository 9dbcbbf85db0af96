"""Give a model trained before the `overwhelming` rule the rule's cut-off, from its held-out scores.

Training sets `overwhelming` (the cut-off past which a document the reference LM cannot judge is
flagged all the same) by detector.thresholds.overwhelming_threshold on the held-out refits' scores.
Models trained before that carry max(0.995, suspect). scripts/evaluate_languages.py, run over the
model's whole extraction plan, refits the same held-out folds the way training does and records the
rule's cut-off; this writes it into the model's model.json (with the sets that asked for it and the
command that measured it) and re-hashes the model, which changes no other artifact. The model keeps
its id; its hash, which every manifest records, changes. It refuses a report made with another
reference LM, token cap, weighting or target, or over other documents than the model was trained on,
and a model that already has the rule's cut-off (unless --force).

    python scripts/evaluate_languages.py --first 41174 --out models/languages_held_out_full.json
    python scripts/set_overwhelming.py --report models/languages_held_out_full.json
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from detector.decision import Thresholds
from detector.detector import DEFAULT_MODEL_DIR, read_model_json, verify_artifacts, write_artifact_hashes


def overwhelming_from_report(metadata: dict, report: dict, force: bool = False) -> tuple[dict, str]:
    """model.json's metadata with the report's rule cut-off as `overwhelming`, and a line saying what
    changed; click.UsageError where the report does not describe this model's training."""
    training = metadata.get("training") or {}
    run = report.get("run") or {}
    targets = report.get("targets") or {}
    model_targets = (metadata.get("threshold_rule") or {}).get("targets") or {}
    checks = {"reference model": (report.get("reference_model_hash"), metadata.get("reference_model_hash")),
              "token cap": (report.get("token_cap"), metadata.get("token_cap")),
              "weighting": (run.get("weighting"), training.get("weighting", "class")),
              "human-flagged target": (targets.get("max_human_flagged"), model_targets.get("max_human_flagged")),
              "confidence": (targets.get("confidence"), model_targets.get("confidence")),
              "documents": (report.get("n_documents"), training.get("documents_with_lm_outputs"))}
    for what, (reported, model) in checks.items():
        if reported != model:
            hint = (f": run scripts/evaluate_languages.py over the model's whole plan (--first {model})"
                    if what == "documents" else "")
            raise click.UsageError(f"the report's {what} ({reported}) is not the model's ({model}){hint}")
    if "overwhelming_by_set" in (metadata.get("threshold_rule") or {}) and not force:
        raise click.UsageError("the model's overwhelming already comes from the rule (threshold_rule."
                               "overwhelming_by_set); pass --force to replace it")
    unjudged = report.get("unjudged") or {}
    cut = (unjudged.get("cutoffs") or {}).get("rule")
    if cut is None:
        raise click.UsageError("the report holds no rule cut-off (unjudged.cutoffs.rule): made by an older "
                               "scripts/evaluate_languages.py; rerun it")
    thresholds = dict(metadata["thresholds"])
    old = thresholds.get("overwhelming")
    # The rule never goes below the report's own suspect; never below the model's either.
    thresholds["overwhelming"] = max(float(cut), float(thresholds["suspect"]))
    Thresholds.from_dict(thresholds)  # refuses an out-of-order result before anything is written
    rule = {**(metadata.get("threshold_rule") or {}), "overwhelming_by_set": unjudged.get("rule_by_set"),
            "overwhelming_measured_by": report.get("command")}
    updated = {**metadata, "thresholds": thresholds, "threshold_rule": rule}
    return updated, f"overwhelming {old} -> {thresholds['overwhelming']:.6f}"


@click.command()
@click.option("--report", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The JSON of scripts/evaluate_languages.py, run over the model's whole extraction plan.")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_MODEL_DIR,
              show_default=True)
@click.option("--force", is_flag=True, help="Replace a cut-off that already comes from the rule.")
def main(report: Path, model_dir: Path, force: bool) -> None:
    metadata, _ = read_model_json(model_dir)
    verify_artifacts(model_dir, metadata)  # vouch only for files that are as training left them
    updated, change = overwhelming_from_report(metadata, json.loads(report.read_text()), force)
    write_artifact_hashes(model_dir, updated)
    click.echo(f"{model_dir}: {change}")


if __name__ == "__main__":
    main()
