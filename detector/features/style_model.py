"""A supervised fastText classifier over a topic-free view of the text.

Word n-gram classifiers learn subjects (a code-documentation page looks "machine" because the training
machine text had more of that topic). The view below keeps function words and punctuation and
replaces every content word by its shape, length and frequency class, so the n-grams describe how
sentences are built and how common their words are, not what they are about. The frequency class
(Zipf scale of general English, from wordfreq) carries word choice without the words: models favour
mid-frequency vocabulary, people use more of both the very common and the rare.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from detector.evaluation import auroc
from detector.features.stylometry import FUNCTION_WORDS

_TOKEN = re.compile(r"\n|[\u3400-\u4dbf\u4e00-\u9fff]|[^\W\d_]+(?:['’][^\W\d_]+)?|\d+|[^\w\s]")
_KEEP = frozenset(FUNCTION_WORDS) | frozenset(
    ["not", "no", "only", "just", "then", "than", "because", "while", "when", "where", "who", "what",
     "how", "why", "some", "any", "each", "other", "into", "about", "through", "after", "before",
     "should", "could", "must", "might", "do", "does", "did", "had", "were", "his", "her", "them",
     "your", "us", "here", "overall", "additionally", "furthermore", "moreover", "thus", "therefore",
     "的", "了", "是", "在", "和", "也", "就", "都", "而", "与", "着", "或", "我", "你", "他", "这", "那"])
# Recorded in model.json: a style model only reads the view it was trained on.
STYLE_VIEW_VERSION = "shape-length-zipf1"
# Style scores cached by scripts are keyed by it: fits made before each ran in a fresh process differ.
STYLE_FIT_VERSION = "fresh-process-1"
LABEL_MACHINE = "__label__machine"
LABEL_HUMAN = "__label__human"


class StyleModelFileError(ValueError):
    """A saved style model cannot be loaded; the message names the file and the problem."""


def _zipf_class(frequency: float) -> str:
    zipf = math.log10(frequency) + 9
    return "0" if zipf < 1 else "1" if zipf < 3 else "3" if zipf < 4 else "4" if zipf < 5 else "5"


@functools.cache
def _english_frequency_classes() -> dict[str, str]:
    """Word -> class, computed once: the view looks up every content word of every document."""
    from wordfreq import get_frequency_dict

    return {word: _zipf_class(f) for word, f in get_frequency_dict("en", wordlist="best").items() if f > 0}


def frequency_class(word: str) -> str:
    """Zipf class (log10 of uses per billion words) in general English: 0 unknown or rarer than 1,
    then <3, 3-4, 4-5, >=5 (the most common few thousand words)."""
    return _english_frequency_classes().get(word.lower().replace("\u2019", "'"), "0")


def _shape(word: str) -> str:
    if word.isdigit():
        return "<num>"
    length = "s" if len(word) <= 3 else "m" if len(word) <= 7 else "l"
    if word.isupper() and len(word) > 1:
        case = "U"
    elif word[0].isupper():
        case = "C"
    else:
        case = "w"
    if not word.isascii():
        case += "*"
    return f"<{case}{length}{frequency_class(word)}>"


# fastText cuts lines at 1024 tokens and treats the rest as unlabelled examples; stay below that.
MAX_VIEW_TOKENS = 1000


def topic_free_view(text: str, max_chars: int = 6000) -> str:
    """One line of function words, punctuation and word shapes; newlines become <nl>."""
    out = []
    for token in _TOKEN.findall(text[:max_chars])[:MAX_VIEW_TOKENS]:
        lower = token.lower()
        if token == "\n":
            out.append("<nl>")
        elif lower in _KEEP or not token[0].isalnum():
            out.append(lower)
        elif "\u3400" <= token[0] <= "\u9fff":
            out.append("<han>")
        else:
            out.append(_shape(token))
    return " ".join(out)


def _fit_to_file(input_path: str, model_path: str, params: dict) -> None:
    """Runs in a fresh process: train, quantise and save one model."""
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    model = fasttext.train_supervised(input=input_path, **params)
    # Quantised here, not at save time, so that the scores the classifier is trained on are the scores
    # the saved model gives (norm quantisation once cost 4 AUROC points of the style score between
    # training and scoring; product quantisation alone costs none).
    model.quantize(retrain=False, qnorm=False)
    model.save_model(model_path)


class StyleClassifier:
    """fastText supervised model on `topic_free_view`; `fit` / `predict_proba` / `save` / `load`.

    The saved file is fastText's own binary format (parsed by its C++ loader, not unpickled).
    """

    def __init__(self, dim: int = 16, epoch: int = 10, word_ngrams: int = 3, lr: float = 0.05,
                 bucket: int = 200_000, min_count: int = 3, seed: int = 0, min_fit_auroc: float = 0.6):
        self.dim, self.epoch, self.word_ngrams, self.lr = dim, epoch, word_ngrams, lr
        self.bucket, self.min_count, self.seed = bucket, min_count, seed
        self.min_fit_auroc = min_fit_auroc
        self._model = None
        self.fit_auroc_: float | None = None

    def fit(self, texts: list[str], labels: list[int]) -> "StyleClassifier":
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
            for text, label in zip(texts, labels):
                handle.write(f"{LABEL_MACHINE if label else LABEL_HUMAN} {topic_free_view(text)}\n")
            path = handle.name
        # A fit that ranks its own training data badly is retried with another seed, then at half the
        # learning rate. The first attempt is the configured one, so a fit that succeeds first time is
        # unchanged by the retries.
        check = list(range(0, len(texts), max(1, len(texts) // 2000)))
        attempts = [(lr, seed) for lr in (self.lr, self.lr / 2) for seed in (self.seed, self.seed + 1)]
        tried = []
        try:
            for lr, seed in attempts:
                try:
                    self._model = self._train(path, lr, seed)
                except RuntimeError as exc:  # fastText 0.9.3 sometimes diverges ("Encountered NaN")
                    if "NaN" not in str(exc):
                        raise
                    tried.append(f"learning rate {lr:g}, seed {seed}: diverged")
                    continue
                self.fit_auroc_ = auroc([labels[i] for i in check], self.predict_proba([texts[i] for i in check])[:, 1])
                if self.fit_auroc_ is None or self.fit_auroc_ >= self.min_fit_auroc:
                    return self
                tried.append(f"learning rate {lr:g}, seed {seed}: AUROC {self.fit_auroc_:.3f}")
        finally:
            os.unlink(path)
        raise RuntimeError("style classifier did not learn: on its own training data, " + "; ".join(tried))

    def _params(self, lr: float, seed: int) -> dict:
        # One thread: fastText's training is only reproducible single-threaded.
        return dict(dim=self.dim, epoch=self.epoch, wordNgrams=self.word_ngrams, lr=lr, bucket=self.bucket,
                    minCount=self.min_count, thread=1, seed=seed, verbose=0)

    def _train(self, path: str, lr: float, seed: int):
        """One fit, in a fresh process.

        fastText 0.9.3 does not fit reliably in a process that has already fit models: in a held-out
        refit, a training set that learned to AUROC 0.82 as a process's first fit ranked its own
        training data at 0.30-0.32 as its third, at every seed and learning rate tried, and fits in
        such processes sometimes diverge ("Encountered NaN"). In a fresh process a fit depends only on
        its data and parameters, which also makes it reproducible (seconds of start-up against a fit
        of tens of seconds on real data).
        """
        import multiprocessing

        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None
        model_path = path + ".ftz"
        try:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                pool.apply(_fit_to_file, (path, model_path, self._params(lr, seed)))
            return fasttext.load_model(model_path)
        finally:
            if os.path.exists(model_path):
                os.unlink(model_path)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(n, 2): P(human), P(machine) for each text, as every classifier here answers."""
        machine = np.zeros(len(texts))
        for row, text in enumerate(texts):
            predictions = self._model.f.predict(topic_free_view(text) + "\n", 2, 0.0, "strict")
            scores = {label: prob for prob, label in predictions}
            machine[row] = min(max(scores.get(LABEL_MACHINE, 0.0), 0.0), 1.0)
        return np.column_stack([1.0 - machine, machine])

    def save(self, path: str | os.PathLike) -> None:
        """Saved as fit: quantised (.ftz), about 2 MB instead of the bucket table's 13."""
        self._model.save_model(str(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "StyleClassifier":
        """A file that is not a style model raises StyleModelFileError (a ValueError) naming it.

        fastText's loader reports a bad file as ValueError ("wrong file format"), MemoryError
        (std::bad_alloc from a header cut short) or RuntimeError, none naming the file. A file cut
        short inside its tables can still load and score wrongly: only the artifact hash that
        Detector.load checks first catches that.
        """
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None
        if not Path(path).is_file():
            raise FileNotFoundError(f"style model {path} not found")
        try:
            model = fasttext.load_model(str(path))
        except Exception as exc:
            raise StyleModelFileError(f"{path} is not a readable fastText model "
                                      f"({type(exc).__name__}: {exc})") from exc
        labels = sorted(model.get_labels())
        if labels != sorted([LABEL_MACHINE, LABEL_HUMAN]):
            shown = labels[:4] + (["..."] if len(labels) > 4 else [])
            raise StyleModelFileError(f"{path} is not a synthsieve style model: its labels are {shown}, "
                                      f"not {LABEL_MACHINE} and {LABEL_HUMAN}")
        instance = cls()
        instance._model = model
        return instance
