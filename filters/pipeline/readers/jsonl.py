"""JSON Lines, plain or compressed (.gz, .zst), one record per line."""

from __future__ import annotations

import json
import zlib
from typing import Iterator

from filters.document import (BINARY, INVALID_JSON, NO_TEXT, TOO_LARGE, UNDECODABLE,
                        Document)
from filters.pipeline.readers.base import DecompressingReader, Reader, compression_of, derived_id, id_value, iso_date

_DRAIN_CHUNK = 1 << 20


def open_binary(path: str):
    """A binary stream of the decompressed file with `readline(limit)`, chosen by its suffix.

    .gz and .zst go through `DecompressingReader`, which raises `BrokenInput` (an OSError) naming the
    compressed byte offset where a damaged or cut-short file stops; the gzip module and zstandard's
    stream_reader either cannot say where or, for a zstd frame cut short, end quietly.
    """
    if compression_of(path):
        return DecompressingReader(path)
    return open(path, "rb", buffering=_DRAIN_CHUNK)


def record_to_document(record, ordinal: int, source: dict, options, file_name: str, raw) -> Document:
    """A parsed JSON object or Parquet row as a document; other fields are kept untouched.

    The id keeps its JSON type (see `id_value`): 1 and "1" are two ids. An id field whose value is no
    usable id (null, bool, float, list, object, "") gets a derived id, and its value stays reachable as
    `fields[options.id_field]` so nothing of the input is lost (the writer decides how a field named
    like the id column is stored). Every document, quarantined or not, has an id.
    """
    doc = Document(ordinal=ordinal, source=source, raw=raw)
    raw_bytes = raw if isinstance(raw, (bytes, str)) else None
    if not isinstance(record, dict):
        doc.id = derived_id(file_name, ordinal, raw_bytes)
        return doc.send_to_quarantine(INVALID_JSON, f"a record must be a JSON object, not {type(record).__name__}")
    text = record.get(options.text_field)
    doc.fields = {k: v for k, v in record.items() if k not in (options.text_field, options.id_field)}
    doc.id = id_value(record.get(options.id_field))
    if doc.id is None and options.id_field in record and options.id_field != options.text_field:
        doc.fields[options.id_field] = record[options.id_field]
    doc.date = iso_date(record.get("date"))
    if text is None:
        if doc.id is None:
            doc.id = derived_id(file_name, ordinal, raw_bytes)
        return doc.send_to_quarantine(NO_TEXT, f"no {options.text_field!r} field")
    if isinstance(text, bytes):
        if doc.id is None:
            doc.id = derived_id(file_name, ordinal, text)
        if b"\0" in text:
            return doc.send_to_quarantine(BINARY, f"{options.text_field!r} holds binary bytes", raw=text)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            return doc.send_to_quarantine(UNDECODABLE, str(error), raw=text)
    if not isinstance(text, str):
        if doc.id is None:
            doc.id = derived_id(file_name, ordinal, raw_bytes)
        return doc.send_to_quarantine(NO_TEXT, f"{options.text_field!r} is a {type(text).__name__}, not a string")
    doc.text = text
    if doc.id is None:
        doc.id = derived_id(file_name, ordinal, text)
    return doc


class JsonlReader(Reader):
    """One JSON object per line. Ordinals are physical line indices; blank lines are counted, not read.

    A line longer than `max_bytes` is never held in memory: its first bytes are kept for quarantine and
    the rest is skipped in 1 MiB pieces.

    A compressed file that is cut short or damaged yields every complete line that decompressed, then
    one `unreadable_file` document at the line where it broke, whose detail names the compressed byte
    offset. A partial last line is part of that unreadable rest, not an `invalid_json` record.
    """

    name = "jsonl_reader"
    first_position = {"line": 1}

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
                except (OSError, EOFError, ValueError, zlib.error) as error:  # BrokenInput is an OSError
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
