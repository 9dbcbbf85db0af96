"""Reading one document from a path for scoring, with a clear reason when it cannot be read.

`text_problem` is the one rule for whether a decoded text is worth scoring; `decode_document` (the
`score` and `eval` commands) and the corpus filter's normaliser both apply it.
"""

from __future__ import annotations

import codecs
import re
import errno
import os
import stat
import sys

from detector.features.hygiene import _CONTROL, _INVISIBLE

EMPTY = "empty"
BINARY_NUL = "binary (contains NUL characters)"
BINARY_CONTROL = "binary (mostly control characters)"
LONE_SURROGATE = "not valid Unicode (lone surrogate)"
TEXT_PROBLEMS = (EMPTY, BINARY_NUL, BINARY_CONTROL, LONE_SURROGATE)

# Share of control characters above which a "text" is a binary blob (or one that went through a
# lenient decoder); real text has next to none. Only the first PROBE_CHARS characters are looked at.
BINARY_CONTROL_SHARE = 0.05
PROBE_CHARS = 8192

# Byte-order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


class UnreadableInput(ValueError):
    """The input is not a text document; the message says why."""


_BINARY_CONTROL = re.compile("[\u0000-\u0008\u000e-\u001f\u007f]")
# Drawn as nothing, beside what hygiene removes: combining grapheme joiner, Hangul fillers, the blank
# Braille pattern, variation selectors and tag characters. A text of only these has nothing to score.
_NOTHING_TO_SEE = re.compile("[\u034f\u115f\u1160\u2800\u3164\uffa0\ufe00-\ufe0f"
                             "\U000e0000-\U000e007f\U000e0100-\U000e01ef]")


def text_problem(text: str) -> str | None:
    """Why a decoded text is not worth scoring (one of TEXT_PROBLEMS), or None when it is.

    - LONE_SURROGATE: it holds a lone surrogate (e.g. from a JSON "\\ud800" escape), so it cannot be
      encoded for the tokenizer;
    - BINARY_NUL / BINARY_CONTROL: its first PROBE_CHARS characters hold a NUL, or more than
      BINARY_CONTROL_SHARE C0 control characters other than tab, newlines, vertical tab and form feed
      (`_BINARY_CONTROL`; C1 controls are left out: they are what cp1252 text read as Latin-1 looks
      like, common in crawls, and a form feed separates pages);
    - EMPTY: nothing visible is left once whitespace, invisible characters and control characters
      (what `detector.features.hygiene` removes, and the other characters no font draws:
      `_NOTHING_TO_SEE`) are taken away.
    """
    try:
        text.encode("utf-8")  # far faster than searching for a surrogate
    except UnicodeEncodeError:
        return LONE_SURROGATE
    if not text.strip():
        return EMPTY
    probe = text[:PROBE_CHARS]
    if "\0" in probe:
        return BINARY_NUL
    if len(_BINARY_CONTROL.findall(probe)) > BINARY_CONTROL_SHARE * len(probe):
        return BINARY_CONTROL
    if not _has_visible(text):
        return EMPTY
    return None


def _hygiene_leftover(text: str) -> str:
    """What is left of `text` once `detector.features.hygiene`'s invisible and control characters (its
    own classes, so "empty" means what the detector sees), the characters no font draws, and all
    whitespace are removed."""
    return _NOTHING_TO_SEE.sub("", _CONTROL.sub("", _INVISIBLE.sub("", text))).strip()


def _has_visible(text: str) -> bool:
    # Real text shows a visible character at once; only a text that opens with invisibles is
    # cleaned in full.
    text = text.strip()
    return bool(_hygiene_leftover(text[:64])) or bool(_hygiene_leftover(text))


def head_bytes_for(token_cap: int) -> int:
    # No tokenizer yields more than ~8 characters per token on prose, and UTF-8 spends at most 4 bytes
    # per character; the stylometry features are settled long before this too.
    return max(token_cap, 64) * 8 * 4


class BinaryInput(UnreadableInput):
    """Bytes that are not text at all (NUL bytes and no byte-order mark)."""


def decode_bytes(raw: bytes, truncated: bool = False) -> str:
    """Bytes to text, UTF-8 unless a byte-order mark says UTF-16 or UTF-32 (little- or big-endian); the
    mark is dropped. Raises BinaryInput for NUL bytes without a mark, UnreadableInput for bytes that
    do not decode. `truncated`: `raw` is the head of a longer input, so a character cut at its end is
    dropped rather than called invalid."""
    for bom, encoding, name in _BOMS:
        if raw.startswith(bom):
            body, offset = raw[len(bom):], len(bom)
            break
    else:
        if b"\x00" in raw[:PROBE_CHARS]:
            raise BinaryInput("binary (contains NUL bytes)")
        body, offset, encoding, name = raw, 0, "utf-8", "UTF-8"
    try:
        # An incremental decoder with final=False holds back an incomplete character at the end.
        return codecs.getincrementaldecoder(encoding)("strict").decode(body, final=not truncated)
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"not valid {name} (byte {offset + exc.start})") from None


def decode_document(raw: bytes, truncated: bool) -> str:
    """Bytes to a text worth scoring (`decode_bytes`, then `text_problem`); raises UnreadableInput."""
    text = decode_bytes(raw, truncated)
    problem = text_problem(text)
    if problem is not None:
        raise UnreadableInput(problem)
    return text


def _open_error(path: str, exc: OSError) -> UnreadableInput:
    if exc.errno == errno.ENOENT:
        return UnreadableInput("broken symbolic link" if os.path.islink(path) else "no such file")
    if exc.errno == errno.ELOOP:
        return UnreadableInput("symbolic link loop")
    if exc.errno == errno.EISDIR:
        return UnreadableInput("is a directory")
    if exc.errno == errno.ENXIO:  # what opening a Unix socket gives
        return UnreadableInput("not a regular file")
    return UnreadableInput(exc.strerror or str(exc))


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def open_regular_file(path: str):
    """PATH opened for binary reading, if it is a regular file (through symbolic links); else
    UnreadableInput saying what it is: a FIFO, socket or device is refused rather than waited on,
    since opening or reading one can block forever, and a broken or looping link is named as such.
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. The check is made with
    # fstat on what was opened, so nothing can be swapped in between a check and the read.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnreadableInput("is a directory")
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "")
            raise UnreadableInput(f"not a regular file ({kind})" if kind else "not a regular file")
        os.set_blocking(fd, True)
        return open(fd, "rb")  # owns fd from here on
    except BaseException:
        os.close(fd)
        raise


def file_problem(path: str) -> str | None:
    """Why PATH cannot be read as an input file (see `open_regular_file`), or None when it can."""
    try:
        open_regular_file(path).close()
    except UnreadableInput as problem:
        return str(problem)
    return None


def read_document(path: str, token_cap: int) -> str:
    """The text of PATH ('-' = standard input), read only as far as scoring needs."""
    limit = head_bytes_for(token_cap)
    if path == "-":
        raw = sys.stdin.buffer.read(limit + 1)
    else:
        with open_regular_file(path) as handle:
            try:
                raw = handle.read(limit + 1)
            except OSError as exc:
                raise UnreadableInput(exc.strerror or str(exc)) from None
    truncated = len(raw) > limit
    return decode_document(raw[:limit], truncated)
