"""Input hygiene: the text every feature sees, and counts of what was removed.

Invisible characters and look-alike letters are a known way to push text past detectors; the repair
is applied before scoring, and the counts become features because their presence is itself evidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Zero-width and bidirectional-control characters: invisible, they split tokens without showing.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# C0/C1 controls other than tab, newline and carriage return.
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")
_WORD = re.compile(r"\w+")

# Cyrillic and Greek letters that render like Latin ones. Folded only inside mixed-script words, so
# Russian, Bulgarian and Greek text is left alone.
_HOMOGLYPHS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "ι": "i", "κ": "k",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})
_HOMOGLYPH_CHARS = frozenset(chr(c) for c in _HOMOGLYPHS)

HYGIENE_FEATURE_NAMES = (
    "hyg_invisible_per_1k",
    "hyg_control_per_1k",
    "hyg_homoglyph_per_1k",
    "hyg_nfkc_changed_per_1k",
)


@dataclass(frozen=True)
class NormalizedText:
    text: str
    invisible: int
    control: int
    homoglyphs: int
    nfkc_changed: int

    def features(self) -> list[float]:
        per_1k = 1000.0 / max(len(self.text), 1)
        return [self.invisible * per_1k, self.control * per_1k, self.homoglyphs * per_1k,
                self.nfkc_changed * per_1k]


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha() or "LATIN" in unicodedata.name(ch, "")


def _fold_word(match: re.Match) -> str:
    word = match.group(0)
    if not any(ch in _HOMOGLYPH_CHARS for ch in word):
        return word
    # A word that mixes Latin letters with look-alikes, and nothing else, is disguised Latin; a word
    # with no Latin letter, or with other non-Latin letters, is genuine Cyrillic or Greek.
    has_latin = any(_is_latin(ch) for ch in word)
    only_lookalikes = all(_is_latin(ch) or ch in _HOMOGLYPH_CHARS or not ch.isalpha() for ch in word)
    return word.translate(_HOMOGLYPHS) if has_latin and only_lookalikes else word


def normalize_for_scoring(text: str) -> NormalizedText:
    """NFKC, invisible and control characters removed, mixed-script homoglyphs folded to Latin."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    stripped, invisible = _INVISIBLE.subn("", text)
    stripped, control = _CONTROL.subn("", stripped)
    nfkc = unicodedata.normalize("NFKC", stripped)
    nfkc_changed = 0 if nfkc == stripped else sum(
        stripped.count(ch) for ch in set(stripped) if not unicodedata.is_normalized("NFKC", ch))
    folded = _WORD.sub(_fold_word, nfkc)
    homoglyphs = sum(a != b for a, b in zip(folded, nfkc))
    return NormalizedText(folded, invisible, control, homoglyphs, nfkc_changed)
