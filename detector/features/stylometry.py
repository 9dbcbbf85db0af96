"""Stylometric features: how the text is written, measured without any model.

Counts are normalised (per word, per sentence, per 1,000 characters) so that document length does not
stand in for style; the type-token ratio is the moving-average variant for the same reason.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

# Words in scripts without spaces (CJK) count one character each, so sentence and word statistics
# stay meaningful there.
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W\d_]+(?:['’][^\W\d_]+)?|\d+")
# Sentences end at terminal punctuation, blank lines and list items, not at single newlines: hard-wrapped
# plain text (mail, RFCs, old web pages, reStructuredText) would otherwise look like short sentences.
_SENTENCE = re.compile(r"(?<=[.!?。！？؟])[\"'”’)\]]*\s+|\n\s*\n\s*|\n(?=\s*(?:[-*•·]|\d+[.)])\s)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+", re.MULTILINE)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|\*\*[^*]+\*\*\s*$)", re.MULTILINE)

FUNCTION_WORDS = (
    "the", "of", "and", "to", "a", "in", "is", "that", "it", "for", "as", "with", "was", "on", "be",
    "this", "by", "are", "or", "not", "but", "from", "at", "an", "which", "have", "i", "you", "we",
    "they", "he", "she", "can", "will", "would", "also", "however", "more", "their", "its", "these",
    "such", "may", "there", "been", "has", "so", "if", "all", "one", "my", "me", "our", "very",
)
_FUNCTION_SET = frozenset(FUNCTION_WORDS)
# A profile of the commonest function words; the full list feeds the aggregate share.
_PROFILE_WORDS = ("the", "of", "and", "to", "a", "in", "is", "that", "it", "i", "you", "we",
                  "this", "also", "however", "can", "will")
_PUNCTUATION = {",": "comma", ".": "period", ";": "semicolon", ":": "colon", "!": "exclaim",
                "?": "question", '"': "dquote", "'": "squote", "-": "hyphen", "—": "dash", "(": "paren",
                "…": "ellipsis", "*": "asterisk"}

STYLOMETRY_FEATURE_NAMES = (
    "sty_sentence_len_mean", "sty_sentence_len_std", "sty_sentence_len_cv",
    "sty_word_len_mean", "sty_word_len_std", "sty_mattr", "sty_hapax_share",
    *(f"sty_punct_{name}_per_1k" for name in _PUNCTUATION.values()),
    "sty_function_word_share",
    *(f"sty_fw_{word}" for word in _PROFILE_WORDS),
    "sty_repeated_bigram_rate", "sty_repeated_trigram_rate",
    "sty_paragraphs_per_100_words", "sty_paragraph_len_cv", "sty_list_item_share", "sty_heading_share",
    "sty_digit_per_1k", "sty_uppercase_share", "sty_non_ascii_share",
)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _sentences(text: str) -> list[list[str]]:
    return [ws for ws in (_words(s) for s in _SENTENCE.split(text)) if ws]


def moving_average_ttr(words: list[str], window: int = 50) -> float:
    """Mean type-token ratio over sliding windows: unlike the plain ratio it does not fall with length."""
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    counts = Counter(words[:window])
    total = len(counts)
    for i in range(window, len(words)):
        counts[words[i]] += 1
        old = words[i - window]
        counts[old] -= 1
        if counts[old] == 0:
            del counts[old]
        total += len(counts)
    return total / (len(words) - window + 1) / window


def windowed_hapax_share(words: list[str], window: int = 50) -> float:
    """Share of words occurring once, averaged over consecutive windows of `window` words.

    The plain share falls as a text grows, so it would measure length; per fixed window it does not.
    """
    if not words:
        return 0.0
    if len(words) < window:
        counts = Counter(words)
        return sum(1 for c in counts.values() if c == 1) / len(words)
    shares = []
    for start in range(0, len(words) - window + 1, window):
        counts = Counter(words[start : start + window])
        shares.append(sum(1 for c in counts.values() if c == 1) / window)
    return float(np.mean(shares))


def _repeated_ngram_rate(words: list[str], n: int) -> float:
    grams = Counter(zip(*(words[i:] for i in range(n))))
    total = sum(grams.values())
    return sum(c for c in grams.values() if c > 1) / total if total else 0.0


def _cv(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std() / values.mean()) if len(values) > 1 and values.mean() > 0 else 0.0


class StylometryFeatures:
    """Extracts STYLOMETRY_FEATURE_NAMES from a text; stateless."""

    names = STYLOMETRY_FEATURE_NAMES

    def transform(self, text: str) -> np.ndarray:
        words = _words(text)
        n_words = max(len(words), 1)
        sentence_lengths = [len(s) for s in _sentences(text)] or [0]
        word_lengths = [len(w) for w in words] or [0]
        counts = Counter(words)
        chars = max(len(text), 1)
        per_1k = 1000.0 / chars
        paragraphs = [p for p in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text) if p.strip()]
        paragraph_words = [len(_words(p)) for p in paragraphs] or [0]
        lines = [line for line in text.split("\n") if line.strip()] or [""]
        letters = [c for c in text if c.isalpha()]
        values = [
            float(np.mean(sentence_lengths)), float(np.std(sentence_lengths)), _cv(sentence_lengths),
            float(np.mean(word_lengths)), float(np.std(word_lengths)),
            moving_average_ttr(words),
            windowed_hapax_share(words),
            *(text.count(mark) * per_1k for mark in _PUNCTUATION),
            sum(c for w, c in counts.items() if w in _FUNCTION_SET) / n_words,
            *(counts.get(word, 0) / n_words for word in _PROFILE_WORDS),
            _repeated_ngram_rate(words, 2), _repeated_ngram_rate(words, 3),
            100.0 * len(paragraphs) / n_words, _cv(paragraph_words),
            len(_LIST_ITEM.findall(text)) / len(lines), len(_HEADING.findall(text)) / len(lines),
            sum(c.isdigit() for c in text) * per_1k,
            sum(c.isupper() for c in letters) / max(len(letters), 1),
            sum(not c.isascii() for c in text) / chars,
        ]
        return np.array(values, dtype=float)

