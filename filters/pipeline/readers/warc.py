"""WARC and WET files (.warc, .warc.gz, .warc.zst, .wet.gz, ...): fastwarc for the records, resiliparse
for HTML (bounded in html.py).

Documents are response, resource and conversion records; warcinfo, request, metadata and revisit
records describe the crawl rather than a page and are skipped. Ordinals count document records only.

A file that stops being readable (cut short, damaged compressed data, a record fastwarc cannot parse)
yields the records read so far, then exactly one `unreadable_file` document at the ordinal where it
broke, whose detail names the byte offset.
"""

from __future__ import annotations

import os
import re
from typing import Iterator

from filters.document import BINARY, EXTRACT_FAILED, TOO_LARGE, UNDECODABLE, Document
from filters.pipeline.readers.html import ExtractionRefused, html_to_text
from filters.pipeline.readers.base import BrokenInput, DecompressingReader, Reader, compression_of, derived_id, iso_date

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_TEXT_TYPES = ("text/plain",)

# --- Where a compressed WARC file breaks ----------------------------------------------------------

_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}
_ZSTD_SKIPPABLE = re.compile(rb"[\x50-\x5f]\x2a\x4d\x18")  # where a .warc.zst keeps its dictionary


def compressed_tail_problem(path: str, offset: int) -> BrokenInput | None:
    """Where the compressed data from `offset` (a record's start) to the end fails to decompress, or None.

    fastwarc stops without an error at a gzip member cut short (a crawl file still being written, a
    failed copy), which would lose its records silently, and its own errors do not say where the data
    broke; reading the tail again finds the compressed byte. A record's `stream_pos` is a member (frame)
    boundary only when each record is compressed on its own, as WARC files should be; when the bytes
    there do not start a member, the file is one stream over many records (reading from the middle of
    it would report damage that is not there) and is read again from its start.
    """
    compression = compression_of(path)
    if compression is None:
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(offset)
            at_offset = handle.read(4)
    except OSError as error:
        return BrokenInput(f"{type(error).__name__}: {error}", offset)
    if compression == "zstd" and _ZSTD_SKIPPABLE.match(head):
        return None  # its frames need the dictionary fastwarc read; fastwarc's own error stands
    start = offset if at_offset.startswith(_MAGIC[compression]) else 0
    try:
        with DecompressingReader(path, compression, start) as stream:
            stream.read_to_end()
    except BrokenInput as problem:
        return problem
    except OSError as error:
        return BrokenInput(f"{type(error).__name__}: {error}", start)
    return None


# --- Where an uncompressed WARC file breaks -------------------------------------------------------

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAX_HEADER = 64 << 10  # fastwarc reads headers up to 32 KiB


def _plain_header_length(path: str, start: int) -> int | None:
    """The length of the WARC header (and the blank line after it) of the record at `start`, or None
    where the file ends before the blank line. Raises OSError."""
    with open(path, "rb") as handle:
        handle.seek(start)
        end = _HEADER_END.search(handle.read(_MAX_HEADER))
    return end.end() if end else None


def _header_cut_short(path: str, start: int) -> bool:
    """Whether an uncompressed WARC file ends inside the header of the record at `start`."""
    try:
        return compression_of(path) is None and _plain_header_length(path, start) is None
    except OSError:
        return False


def plain_tail_problem(path: str, last: tuple[int, int] | None) -> BrokenInput | None:
    """What is wrong with the end of an uncompressed WARC file, or None; `last`: where the last record that
    fastwarc read (of any type) starts, and its Content-Length, or None if it read none.

    fastwarc ends without an error when the file ends inside a record's header, and yields what it read
    of that header as a record of no type, or of a type the reader skips; the record is lost without a
    trace unless the file is checked: the last record must be whole, and only the blank lines that end a
    record may follow it. The offset named is where the unread bytes start.
    """
    start = 0
    try:
        size = os.path.getsize(path)
        if last is not None:
            start, length = last
            header = _plain_header_length(path, start)
            if header is None:
                return BrokenInput(f"the file is cut short inside the header of the WARC record at byte {start}", start)
            end = start + header + length
            if end > size:
                return BrokenInput(f"the file is cut short inside the WARC record at byte {start}: the record ends at "
                                   f"byte {end}, the file at byte {size}", start)
        else:
            end = 0
        with open(path, "rb") as handle:
            handle.seek(end)
            while True:
                chunk = handle.read(1 << 16)
                if not chunk:
                    return None
                rest = chunk.lstrip(b"\r\n\t ")
                if rest:
                    first = end + len(chunk) - len(rest)
                    return BrokenInput(f"bytes {first}-{size - 1} after the last WARC record are not a WARC record "
                                       f"(the file is cut short, or damaged)", first)
                end += len(chunk)
    except OSError as error:
        return BrokenInput(f"{type(error).__name__}: {error}", start)


class _RecordBroken(Exception):
    """The record being read shows that the file breaks here; the message completes "WARC record N ..."."""

    def __init__(self, message: str, raw: bytes | None = None):
        super().__init__(message)
        self.raw = raw


class WarcReader(Reader):
    """One document per response/resource/conversion record; `source` is {"file", "offset": byte offset}."""

    name = "warc_reader"

    def read(self) -> Iterator[Document]:
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        path = self.source.path
        wanted_types = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
        ordinal = 0
        offset = 0  # the stream position of the last record read
        last = None  # its stream position and Content-Length
        try:
            handle = open(path, "rb")
        except OSError as error:
            yield self.unreadable(0, {"file": path, "offset": 0}, error)
            return
        with handle:
            try:
                # Every type, the skipped ones too: the end of the last record read, whatever its type, is
                # where a cut-short file's unread bytes start.
                records = iter(ArchiveIterator(handle, parse_http=True, auto_decode="all"))
            except Exception as error:  # noqa: BLE001 - no input may stop the run
                yield self.unreadable(0, {"file": path, "offset": 0}, error)
                return
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as error:  # noqa: BLE001 - fastwarc: OSError for damaged data; nothing may escape
                    # A file that breaks at the first record past this range is the next range's to report.
                    if not self.past_end(ordinal):
                        failed = f"{type(error).__name__}: {error}"
                        if compression_of(path) is None:  # the record fastwarc fails on starts after the last one
                            problem = plain_tail_problem(path, last)
                            start = offset if problem is None else _offset_of(problem, offset)
                            yield self._broken(ordinal, start, f"fastwarc cannot read the WARC record at byte "
                                                               f"{start}: {failed}")
                        else:
                            which = (f"the WARC record after the one at byte {offset}" if last
                                     else "the first WARC record")
                            yield self._broken(ordinal, offset, f"fastwarc cannot read {which}: {failed}")
                    return
                offset = int(record.stream_pos)
                # The header's Content-Length (record.content_length is what is left once the HTTP headers
                # are read).
                declared = (record.headers.get("Content-Length") or "").strip()
                last = (offset, int(declared) if declared.isdigit() else 0)
                if not record.record_type & wanted_types:
                    continue
                if self.past_end(ordinal):
                    return
                if self.wanted(ordinal):
                    try:
                        doc = self._document(record, ordinal)
                    except _RecordBroken as error:
                        # One row for the broken record and the rest of the file, not one for each.
                        yield self._broken(ordinal, offset, f"WARC record {ordinal} at byte {offset} {error}",
                                           error.raw)
                        return
                    yield doc
                ordinal += 1
        # fastwarc ends quietly inside a gzip member cut short, and inside the header of a plain file's record:
        # check the data after the last record.
        if self.past_end(ordinal):
            return
        compression = compression_of(path)
        if compression is None:
            problem = plain_tail_problem(path, last)
        else:
            problem = compressed_tail_problem(path, offset) if compression == "gzip" else None
        if problem is not None:
            yield self.unreadable(ordinal, {"file": path, "offset": _offset_of(problem, offset)}, problem)

    def _broken(self, ordinal: int, offset: int, reason: str, raw: bytes | None = None) -> Document:
        """The one document for a file that breaks at record `ordinal`; `offset`: the last record's start.

        For a compressed file the data is read again from there, to name the compressed byte where it
        breaks first; `reason` (what fastwarc or the record showed) follows.
        """
        path = self.source.path
        problem = compressed_tail_problem(path, offset)
        if problem is not None:
            detail = BrokenInput(f"{problem}; {reason}", _offset_of(problem, offset))
        else:
            detail = BrokenInput(reason, offset)
        return self.unreadable(ordinal, {"file": path, "offset": detail.offset}, detail,
                               raw=raw[:4096] if raw else None)

    def _document(self, record, ordinal: int) -> Document:
        headers = record.headers
        record_id = (record.record_id or "").strip("<>")
        source = {"file": self.source.path, "offset": int(record.stream_pos)}
        doc = Document(ordinal=ordinal, source=source, id=record_id or derived_id(self.source.name, ordinal, None))
        doc.date = iso_date(record.record_date) or iso_date(headers.get("WARC-Date"))
        record_type = str(record.record_type)
        doc.fields = {"url": headers.get("WARC-Target-URI"), "warc_type": record_type}
        limit = self.options.max_bytes
        declared = record.content_length
        if not (headers.get("Content-Length") or "").strip().isdigit():
            if _header_cut_short(self.source.path, source["offset"]):  # fastwarc yields what there was of it
                raise _RecordBroken("is cut short: the file ends inside its header")
            # fastwarc cannot find the next record without it (it fails on the bytes that follow).
            raise _RecordBroken("has no Content-Length header, so the records after it cannot be found")
        try:
            payload = record.reader.read(limit + 1)
        except Exception as error:  # noqa: BLE001 - damaged compressed data inside the record
            raise _RecordBroken(f"has a payload that cannot be read: {type(error).__name__}: {error}") from error
        encoded = record.is_http and record.http_headers is not None and record.http_headers.get("Content-Encoding")
        if not encoded and len(payload) < min(declared, limit + 1):
            # fastwarc ends quietly at a cut-off gzip member; the short record is the only trace of it.
            raise _RecordBroken(f"is cut short: the file ends {declared - len(payload)} bytes before the record "
                                f"does", raw=payload)
        if len(payload) > limit:
            return doc.send_to_quarantine(TOO_LARGE, f"record payload larger than {limit} bytes", raw=payload[:4096])
        if record_type == "conversion":
            content_type, charset = "text/plain", "utf-8"
        elif record.is_http:
            content_type, charset = record.http_content_type, record.http_charset
            doc.fields["content_type"] = content_type
        else:
            content_type, charset = (headers.get("Content-Type") or "").split(";")[0].strip().lower(), None
            doc.fields["content_type"] = content_type
        content_type = (content_type or "").lower()
        if content_type in _HTML_TYPES or (not content_type and payload.lstrip()[:1] == b"<"):
            try:
                doc.text = html_to_text(payload, charset)
            except ExtractionRefused as error:
                return doc.send_to_quarantine(EXTRACT_FAILED, str(error), raw=payload)
            except Exception as error:  # the extractor's failure modes are not all documented
                return doc.send_to_quarantine(EXTRACT_FAILED, f"{type(error).__name__}: {error}", raw=payload)
            if not doc.text.strip():
                return doc.send_to_quarantine(EXTRACT_FAILED, "the page has no main text", raw=payload)
            return doc
        if content_type in _TEXT_TYPES or content_type.startswith("text/") or not content_type:
            if b"\0" in payload:
                return doc.send_to_quarantine(BINARY, "NUL bytes in a text payload", raw=payload)
            try:
                doc.text = payload.decode(charset or "utf-8")
            except (UnicodeDecodeError, LookupError) as error:
                return doc.send_to_quarantine(UNDECODABLE, str(error), raw=payload)
            return doc
        return doc.send_to_quarantine(BINARY, f"not a text payload ({content_type})", raw=payload)


def _offset_of(problem: BrokenInput, fallback: int) -> int:
    return problem.offset if problem.offset is not None else fallback
