"""The reference LM's arithmetic: bf16 (the default, what the shipped model was trained on) or int8
(CPU only, detector/features/int8.py). Importable without torch, so options are checked at once."""

from __future__ import annotations

PRECISIONS = ("bf16", "int8")
DEFAULT_PRECISION = "bf16"


class Int8PrecisionError(ValueError):
    """int8 asked for where it cannot run: a CUDA device, or a model without nn.Linear layers."""


def precision_of(provenance: dict) -> str:
    """The precision a provenance record (a run's manifest `model`, a detector's provenance) names;
    records written before the precision was recorded were all bf16."""
    precision = provenance.get("precision")
    return precision if isinstance(precision, str) and precision else DEFAULT_PRECISION


def check_precision(precision: str, device: str | None) -> str:
    """The precision, checked against the device the caller named (None: none named; int8 then takes
    the CPU, even where CUDA is present).

    int8 on a GPU device is refused rather than run in bf16 behind the caller's back: the run's
    provenance and fingerprint would name a precision it did not use. On a GPU bf16 is the fast path
    anyway; the int8 kernels here are the CPU's (oneDNN).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "int8" and device is not None and not str(device).startswith("cpu"):
        raise Int8PrecisionError(
            f"int8 runs on the CPU only, not on {device}: use --precision bf16 (the default, and the "
            "fast path on a GPU), or --device cpu")
    return precision
