"""Reading one document from a path for scoring, with a clear reason when it cannot be read."""

from __future__ import annotations

import sys
from pathlib import Path


class UnreadableInput(ValueError):
    """The input is not a text document; the message says why."""


def head_bytes_for(token_cap: int) -> int:
    # No tokenizer yields more than ~8 characters per token on prose, and UTF-8 spends at most 4 bytes
    # per character; the stylometry features are settled long before this too.
    return max(token_cap, 64) * 8 * 4


def decode_document(raw: bytes, truncated: bool) -> str:
    """Bytes to text; raises UnreadableInput for binary, undecodable or empty input."""
    if not raw.strip():
        raise UnreadableInput("empty")
    head = raw[:8192]
    if b"\x00" in head:
        raise UnreadableInput("binary (contains NUL bytes)")
    if truncated:  # a multi-byte character may be cut at the end of the head
        for cut in range(4):
            try:
                text = raw[: len(raw) - cut].decode("utf-8")
                break
            except UnicodeDecodeError:
                continue
        else:
            raise UnreadableInput("not valid UTF-8")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableInput(f"not valid UTF-8 (byte {exc.start})") from None
    controls = sum(1 for c in text[:8192] if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > 0.05 * min(len(text), 8192):
        raise UnreadableInput("binary (mostly control characters)")
    if not text.strip():
        raise UnreadableInput("empty")
    return text


def read_document(path: str, token_cap: int) -> str:
    """The text of PATH ('-' = standard input), read only as far as scoring needs."""
    limit = head_bytes_for(token_cap)
    if path == "-":
        raw = sys.stdin.buffer.read(limit + 1)
    else:
        p = Path(path)
        if not p.exists():
            raise UnreadableInput("no such file")
        if p.is_dir():
            raise UnreadableInput("is a directory")
        try:
            with open(p, "rb") as handle:
                raw = handle.read(limit + 1)
        except OSError as exc:
            raise UnreadableInput(exc.strerror or str(exc)) from None
    truncated = len(raw) > limit
    return decode_document(raw[:limit], truncated)
