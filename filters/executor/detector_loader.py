"""How a worker gets its detector: a small picklable recipe, loaded once per worker process or actor."""

from __future__ import annotations

from dataclasses import dataclass

from detector.features.precision import DEFAULT_PRECISION


@dataclass(frozen=True)
class DetectorLoader:
    """Calls `detector.Detector.load` with these arguments (None = the shipped model / reference LM)."""

    model_dir: str | None = None
    reference_model: str | None = None
    token_cap: int | None = None  # None: the model's own
    device: str | None = None
    precision: str = DEFAULT_PRECISION  # the reference LM's arithmetic (detector/features/precision.py)

    def __call__(self):
        try:
            from detector import Detector
        except ImportError as error:  # the detector package is developed alongside the filter
            raise RuntimeError(f"the detector is not available: {error}") from error
        return Detector.load(model_dir=self.model_dir, reference_model=self.reference_model,
                             token_cap=self.token_cap, device=self.device, precision=self.precision)

    def stored_metadata(self) -> dict | None:
        """The model directory's model.json, read without loading the model, so that options can be
        checked in a second instead of after the model has loaded. None when it cannot be read:
        `Detector.load` then reports the problem in full."""
        import json
        from pathlib import Path

        from detector.detector import DEFAULT_MODEL_DIR

        try:
            metadata = json.loads((Path(self.model_dir or DEFAULT_MODEL_DIR) / "model.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return metadata if isinstance(metadata, dict) else None

    def stored_thresholds(self):
        from detector.decision import Thresholds

        try:
            return Thresholds.from_dict((self.stored_metadata() or {})["thresholds"])
        except (KeyError, TypeError, ValueError):
            return None

    def stored_token_cap(self) -> int | None:
        cap = (self.stored_metadata() or {}).get("token_cap")
        return cap if isinstance(cap, int) and cap > 0 else None

    def for_device(self, device: str | None) -> "DetectorLoader":
        # The Ray engine asks for CUDA where the cluster has GPUs: int8 cannot run there, say so now.
        from detector.features.precision import Int8PrecisionError, check_precision

        try:
            check_precision(self.precision, device)
        except Int8PrecisionError:
            raise Int8PrecisionError(f"int8 runs on the CPU only, and the engine puts the model on {device} "
                                     "(a Ray cluster with GPUs): use --precision bf16 there") from None
        return DetectorLoader(self.model_dir, self.reference_model, self.token_cap, device, self.precision)
