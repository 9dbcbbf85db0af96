"""WARC and WET files (.warc, .warc.gz, .warc.zst, .wet.gz, ...): fastwarc for the records, resiliparse
for HTML.

Documents are response, resource and conversion records; warcinfo, request, metadata and revisit
records describe the crawl rather than a page and are skipped. Ordinals count document records only.

A file that stops being readable (cut short, damaged compressed data, a record fastwarc cannot parse)
yields the records read so far, then exactly one `unreadable_file` document at the ordinal where it
broke, whose detail names the byte offset.
"""

from __future__ import annotations

import re
from typing import Iterator

from filters.document import BINARY, EXTRACT_FAILED, TOO_LARGE, UNDECODABLE, Document
from filters.pipeline.readers.base import BrokenInput, DecompressingReader, Reader, compression_of, derived_id, iso_date

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_TEXT_TYPES = ("text/plain",)

# --- Nesting limits for HTML ----------------------------------------------------------------------
#
# resiliparse's main-content extractor costs time in proportion to the sum, over the elements, of their
# depth: a chain of n nested elements costs n^2/2. Measured here (resiliparse 2.0.1, one page made of a
# single chain of <div> around one paragraph): depth 1,000 0.015 s, 2,000 0.052 s, 3,000 0.115 s,
# 5,000 0.34 s, 10,000 1.3 s; a 2.2 MB page of 200,000 levels does not finish in minutes. Many chains
# add up: 8 chains of 2,000 levels (sum of depths 16M) 0.38 s, 32 chains of 1,000 (16M) 0.69 s, so
# 25-45 ns per unit of depth summed. Real pages nest a few dozen levels, rarely a few hundred, and even
# a huge page (100,000 elements at an average depth of 20) sums to about 2M.
#
# So a page is refused before extraction if it nests deeper than MAX_HTML_DEPTH (a single chain that
# deep takes ~0.05 s) or if its depths sum past MAX_NESTING_WORK (at most ~0.25-0.45 s). Both come from
# a scan of the tags (`html_nesting`), linear in the page's size and deterministic: the same page is
# refused on every run and in both passes over the input, which a timer could not promise. The scan
# costs about 1 us per tag (0.3 s for a 3.5 MB page of 400,000 tags, whose extraction takes about as
# long), stops at the first limit passed (the 200,000-level page: a millisecond) and is skipped for a
# page with no more '<' than MAX_HTML_DEPTH. On 2,000 HTML documentation pages found on this machine
# (up to 1.9 MB) it found at most 10 levels and a sum of 0.9M.
MAX_HTML_DEPTH = 2_000
MAX_NESTING_WORK = 10_000_000

# One tag, or a comment or raw-text element skipped whole (their contents are not markup). Possessive
# quantifiers and the `<>` exclusions keep it linear on text full of stray '<'.
_RAW_TEXT = r"script|style|textarea|title|xmp|noembed|noframes"
_TAG = re.compile(rf"<(?:!--.*?(?:-->|\Z)|(?:{_RAW_TEXT})\b.*?(?:</(?:{_RAW_TEXT})\s*>|\Z)"
                  r"|(/?)([A-Za-z][^\s/<>]*+)[^<>]*?(/?)>)", re.S | re.I)
# Elements that take no children, and elements that the parser closes on its own when a sibling opens
# (<p>, <li>, <td>, ... are often left open) or that cannot nest in themselves (<a>): counting these as
# nesting would find thousands of levels in an ordinary list or table.
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr keygen frame "
                  "basefont bgsound command image isindex".split())
_FLAT = frozenset("p li dt dd option optgroup tr td th thead tbody tfoot colgroup caption rb rt rtc rp a "
                  "html head body".split())


def html_nesting(html: str, max_depth: int = MAX_HTML_DEPTH, max_work: int = MAX_NESTING_WORK) -> str | None:
    """Why the page nests too deeply for the extractor, or None.

    An approximation of the parser's tree: a stack of open elements, where an end tag closes the
    innermost open element of its name and those inside it (as the parser does with unclosed <span>,
    <font>, ... inside a closed <div>) and an end tag with nothing open of its name is ignored. Linear
    time: each tag is pushed and popped at most once, and the scan stops at the first limit passed.
    """
    if html.count("<") <= max_depth:  # fewer tags than levels: neither limit can be reached
        return None
    stack: list[str] = []
    open_count: dict[str, int] = {}
    work = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        if closing:
            name = name.lower()
            if open_count.get(name):
                while True:
                    top = stack.pop()
                    open_count[top] -= 1
                    if top == name:
                        break
            continue
        depth = len(stack)
        work += depth
        if work > max_work:
            return (f"HTML too deeply nested for extraction: its elements' depths add up to more than {max_work} "
                    f"(the extractor's time grows with that sum)")
        if not name:  # a comment or a raw-text element
            continue
        name = name.lower()
        if self_closing or name in _VOID or name in _FLAT:
            continue
        if depth >= max_depth:
            return (f"HTML nested deeper than {max_depth} elements (the extractor's time grows with the square "
                    f"of the depth)")
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
    return None


class ExtractionRefused(ValueError):
    """A page that the extractor is not given, because of what it would cost; the message says why."""


def html_to_text(html_bytes: bytes, charset: str | None) -> str:
    """The page's main text: resiliparse's boilerplate-removing extractor, after charset detection.

    Raises ExtractionRefused for a page nested too deeply (see MAX_HTML_DEPTH), checked on the decoded
    text so that every encoding is scanned alike.
    """
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    encoding = charset or detect_encoding(html_bytes)
    html = bytes_to_str(html_bytes, encoding)
    problem = html_nesting(html)
    if problem:
        raise ExtractionRefused(problem)
    return extract_plain_text(html, main_content=True)


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
        try:
            handle = open(path, "rb")
        except OSError as error:
            yield self.unreadable(0, {"file": path, "offset": 0}, error)
            return
        with handle:
            try:
                records = iter(ArchiveIterator(handle, record_types=wanted_types, parse_http=True,
                                               auto_decode="all"))
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
                        after = f" after the record at byte {offset}" if ordinal else ""
                        yield self._broken(ordinal, offset, f"fastwarc cannot read on{after}: "
                                                            f"{type(error).__name__}: {error}")
                    return
                if self.past_end(ordinal):
                    return
                offset = int(record.stream_pos)
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
        # fastwarc ends quietly inside a gzip member cut short: check the data after the last record.
        problem = compressed_tail_problem(path, offset) if compression_of(path) == "gzip" else None
        if problem is not None and not self.past_end(ordinal):
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
        if headers.get("Content-Length") is None:
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
