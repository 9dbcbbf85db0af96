"""synthsieve's detector: how likely one document is to be machine-generated, and why.

    from detector import Detector
    scores = Detector.load().score(["some text", "another"])
"""

__version__ = "0.1.0"

from detector.decision import DECISIONS, GROUNDED, SUSPECTED, UNCERTAIN, DocumentScore, Thresholds, decide  # noqa: E402


def __getattr__(name):
    # Lazy: `Detector` pulls in torch and transformers (seconds), which workers that only need the
    # decision rule or the normaliser should not pay for.
    if name == "Detector":
        from detector.detector import Detector

        return Detector
    raise AttributeError(f"module 'detector' has no attribute {name!r}")

__all__ = ["Detector", "DocumentScore", "Thresholds", "decide", "DECISIONS", "GROUNDED", "SUSPECTED",
           "UNCERTAIN", "__version__"]
