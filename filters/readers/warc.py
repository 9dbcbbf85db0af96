"""WARC and WET files (.warc, .warc.gz, .wet.gz, ...): fastwarc for the records, resiliparse for HTML.

Documents are response, resource and conversion records; warcinfo, request, metadata and revisit
records describe the crawl rather than a page and are skipped. Ordinals count document records only.
"""

from __future__ import annotations

import zlib
from typing import Iterator

from ..document import BINARY, EXTRACT_FAILED, TOO_LARGE, UNDECODABLE, UNREADABLE_FILE, Document
from .base import Reader, derived_id, iso_date

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_TEXT_TYPES = ("text/plain",)
_TAIL_CHUNK = 1 << 16


def html_to_text(html_bytes: bytes, charset: str | None) -> str:
    """The page's main text: resiliparse's boilerplate-removing extractor, after charset detection."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    encoding = charset or detect_encoding(html_bytes)
    html = bytes_to_str(html_bytes, encoding)
    return extract_plain_text(html, main_content=True)


def gzip_tail_problem(path: str, offset: int) -> str | None:
    """Why the gzip members from `offset` to the end do not decompress cleanly, or None.

    fastwarc stops without an error at a gzip member cut short (a crawl file still being written, a
    failed copy), which would lose its records silently; only the tail after the last record read
    needs checking.
    """
    if not path.lower().endswith(".gz"):
        return None
    with open(path, "rb") as handle:
        handle.seek(offset)
        buffer = handle.read(_TAIL_CHUNK)
        while buffer:
            member = zlib.decompressobj(31)
            while True:
                try:
                    member.decompress(buffer)
                except zlib.error as error:
                    return f"damaged gzip data after byte {offset}: {error}"
                if member.eof:
                    buffer = member.unused_data or handle.read(_TAIL_CHUNK)
                    break
                buffer = handle.read(_TAIL_CHUNK)
                if not buffer:
                    return f"the file ends inside a gzip member (after byte {offset}): it was cut short"
    return None


class WarcReader(Reader):
    """One document per response/resource/conversion record; `source` is {"file", "offset": byte offset}."""

    name = "warc_reader"

    def read(self) -> Iterator[Document]:
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        path = self.source.path
        wanted_types = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
        ordinal = 0
        offset = 0
        try:
            with open(path, "rb") as handle:
                for record in ArchiveIterator(handle, record_types=wanted_types, parse_http=True,
                                              auto_decode="all"):
                    if self.past_end(ordinal):
                        return
                    offset = record.stream_pos
                    if self.wanted(ordinal):
                        yield self._document(record, ordinal)
                    ordinal += 1
            problem = gzip_tail_problem(path, offset)
            if problem:
                yield self.unreadable(ordinal, {"file": path, "offset": offset}, OSError(problem))
        except (OSError, ValueError) as error:
            yield self.unreadable(ordinal, {"file": path, "offset": offset}, error)

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
        payload = record.reader.read(limit + 1)
        encoded = record.is_http and record.http_headers is not None and record.http_headers.get("Content-Encoding")
        if headers.get("Content-Length") is None or (not encoded and len(payload) < min(declared, limit + 1)):
            # fastwarc ends quietly at a cut-off gzip member; the short record is the only trace of it.
            return doc.send_to_quarantine(UNREADABLE_FILE, "truncated WARC record (the file ends inside it)",
                                          raw=payload)
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
