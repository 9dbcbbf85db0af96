"""synthsieve's detector: how likely one document is to be machine-generated, and why.

    from detector import Detector
    scores = Detector.load().score(["some text", "another"])
"""

__version__ = "0.1.0"

from .decision import DECISIONS, GROUNDED, SUSPECTED, UNCERTAIN, DocumentScore, Thresholds, decide  # noqa: E402
from .detector import Detector  # noqa: E402

__all__ = ["Detector", "DocumentScore", "Thresholds", "decide", "DECISIONS", "GROUNDED", "SUSPECTED",
           "UNCERTAIN", "__version__"]
