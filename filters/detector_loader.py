"""How a worker gets its detector: a small picklable recipe, loaded once per worker process or actor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorLoader:
    """Calls `detector.Detector.load` with these arguments (None = the shipped model / reference LM)."""

    model_dir: str | None = None
    reference_model: str | None = None
    token_cap: int = 512
    device: str | None = None

    def __call__(self):
        try:
            from detector import Detector
        except ImportError as error:  # the detector package is developed alongside the filter
            raise RuntimeError(f"the detector is not available: {error}") from error
        return Detector.load(model_dir=self.model_dir, reference_model=self.reference_model,
                             token_cap=self.token_cap, device=self.device)

    def stored_thresholds(self):
        """The model directory's thresholds, read from its model.json without loading the model, so
        that threshold options can be checked in a second instead of after the model has loaded.
        None when they cannot be read: `Detector.load` then reports the problem in full."""
        import json
        from pathlib import Path

        from detector.decision import Thresholds
        from detector.detector import DEFAULT_MODEL_DIR

        path = Path(self.model_dir or DEFAULT_MODEL_DIR) / "model.json"
        try:
            return Thresholds.from_dict(json.loads(path.read_text(encoding="utf-8"))["thresholds"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def for_device(self, device: str | None) -> "DetectorLoader":
        return DetectorLoader(self.model_dir, self.reference_model, self.token_cap, device)
