"""JSON Lines, plain or compressed (.gz, .zst), one record per line."""

from __future__ import annotations

import gzip
import io
import json
from typing import Iterator

from ..document import (BINARY, INVALID_JSON, NO_TEXT, TOO_LARGE, UNDECODABLE,
                        Document)
from .base import Reader, derived_id, id_value, iso_date

_DRAIN_CHUNK = 1 << 20


def open_binary(path: str):
    """A buffered binary stream of the decompressed file, chosen by its suffix."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst") or path.endswith(".zstd"):
        import zstandard

        raw = open(path, "rb")
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader, buffer_size=_DRAIN_CHUNK)
    return open(path, "rb", buffering=_DRAIN_CHUNK)


def record_to_document(record, ordinal: int, source: dict, options, file_name: str, raw) -> Document:
    """A parsed JSON object or Parquet row as a document; other fields are kept untouched."""
    doc = Document(ordinal=ordinal, source=source, raw=raw)
    if not isinstance(record, dict):
        return doc.send_to_quarantine(INVALID_JSON, f"a record must be a JSON object, not {type(record).__name__}")
    text = record.get(options.text_field)
    doc.id = id_value(record.get(options.id_field))
    doc.fields = {k: v for k, v in record.items() if k not in (options.text_field, options.id_field)}
    doc.date = iso_date(record.get("date"))
    if text is None:
        doc.id = doc.id or derived_id(file_name, ordinal, raw if isinstance(raw, bytes) else None)
        return doc.send_to_quarantine(NO_TEXT, f"no {options.text_field!r} field")
    if isinstance(text, bytes):
        if b"\0" in text:
            return doc.send_to_quarantine(BINARY, f"{options.text_field!r} holds binary bytes", raw=text)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            return doc.send_to_quarantine(UNDECODABLE, str(error), raw=text)
    if not isinstance(text, str):
        doc.id = doc.id or derived_id(file_name, ordinal, None)
        return doc.send_to_quarantine(NO_TEXT, f"{options.text_field!r} is a {type(text).__name__}, not a string")
    doc.text = text
    doc.id = doc.id or derived_id(file_name, ordinal, text)
    return doc


class JsonlReader(Reader):
    """One JSON object per line. Ordinals are physical line indices; blank lines are counted, not read.

    A line longer than `max_bytes` is never held in memory: its first bytes are kept for quarantine and
    the rest is skipped in 1 MiB pieces.
    """

    name = "jsonl_reader"

    def read(self) -> Iterator[Document]:
        path = self.source.path
        max_bytes = self.options.max_bytes
        ordinal = 0
        try:
            stream = open_binary(path)
        except OSError as error:
            yield self.unreadable(0, {"file": path, "line": 1}, error)
            return
        with stream:
            while not self.past_end(ordinal):
                try:
                    line = stream.readline(max_bytes + 2)
                    if not line:
                        return
                    too_large = len(line.rstrip(b"\r\n")) > max_bytes
                    if too_large and not line.endswith(b"\n"):
                        _drain_line(stream)
                except (OSError, EOFError, ValueError) as error:  # gzip/zstd corruption, truncation
                    yield self.unreadable(ordinal, {"file": path, "line": ordinal + 1}, error)
                    return
                if self.wanted(ordinal):
                    doc = self._document(line, ordinal, too_large)
                    if doc is not None:
                        yield doc
                    else:
                        self.stats["blank_lines"] += 1
                ordinal += 1

    def _document(self, line: bytes, ordinal: int, too_large: bool) -> Document | None:
        source = {"file": self.source.path, "line": ordinal + 1}
        if too_large:
            doc = Document(ordinal=ordinal, source=source, id=derived_id(self.source.name, ordinal, line[:4096]))
            return doc.send_to_quarantine(TOO_LARGE, f"line longer than {self.options.max_bytes} bytes", raw=line[:4096])
        if not line.strip():
            return None
        if ordinal == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        body = line.rstrip(b"\r\n")
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError as error:
            doc = Document(ordinal=ordinal, source=source, id=derived_id(self.source.name, ordinal, body))
            return doc.send_to_quarantine(UNDECODABLE, str(error), raw=body)
        try:
            record = json.loads(decoded)
        except (json.JSONDecodeError, RecursionError) as error:
            doc = Document(ordinal=ordinal, source=source, id=derived_id(self.source.name, ordinal, body))
            return doc.send_to_quarantine(INVALID_JSON, str(error)[:200], raw=body)
        return record_to_document(record, ordinal, source, self.options, self.source.name, body)


def _drain_line(stream) -> None:
    while True:
        chunk = stream.readline(_DRAIN_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return
