"""What every reader shares: the input source, the range of records it reads, dates, ids, and the
decompression of .gz and .zst inputs that reports where a damaged or cut-short file breaks."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import zstandard

from detector.inputs import file_problem

from filters.document import UNREADABLE_FILE, Document
from filters.pipeline.step import PipelineStep


@dataclass(frozen=True)
class InputSource:
    """One unit of input: a file, or a directory of .txt files (`files` lists them, sorted).

    index: position in the run's input list; shard keys and cluster ids are built from it.
    first_file: the ordinal of files[0]; a shard of a huge directory carries only its own slice.
    """

    index: int
    kind: str
    path: str
    files: tuple[str, ...] = field(default=())
    first_file: int = 0

    def slice_files(self, start: int, stop: int) -> "InputSource":
        if self.kind != "text":
            return self
        return InputSource(self.index, self.kind, self.path,
                           self.files[start - self.first_file:stop - self.first_file], start)

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip("/"))

    def to_dict(self) -> dict:
        return {"index": self.index, "kind": self.kind, "path": self.path, "files": list(self.files),
                "first_file": self.first_file}

    @classmethod
    def from_dict(cls, data: dict) -> "InputSource":
        return cls(int(data["index"]), str(data["kind"]), str(data["path"]), tuple(data.get("files", ())),
                   int(data.get("first_file", 0)))


@dataclass(frozen=True)
class ReaderOptions:
    text_field: str = "text"
    id_field: str = "id"
    max_bytes: int = 8 << 20


class BrokenInput(OSError):
    """A file that stops being readable part-way: compressed data cut short or damaged, a WARC record
    cut short. The message says what and where; `offset` is the byte of the file where it broke
    (for compressed files, a compressed byte offset)."""

    def __init__(self, message: str, offset: int | None = None):
        super().__init__(message)
        self.offset = offset

    def __str__(self) -> str:
        return str(self.args[0])


class Reader(PipelineStep):
    """Yields the documents whose ordinal lies in [start, stop) of one input source.

    Readers never raise for bad data: a record that cannot be read becomes a quarantined document, and
    a file that stops being readable yields one `unreadable_file` document at the ordinal where it broke.
    """

    name = "reader"

    def __init__(self, source: InputSource, options: ReaderOptions = ReaderOptions(), start: int = 0,
                 stop: int | None = None):
        super().__init__()
        self.source = source
        self.options = options
        self.start = start
        self.stop = stop

    def run(self, docs: Iterable[Document] = ()) -> Iterator[Document]:
        yield from docs
        for doc in self._checked_read():
            self.stats["records"] += 1
            if doc.is_quarantined:
                self.stats[f"quarantine_{doc.quarantine}"] += 1
            yield doc

    def _checked_read(self) -> Iterator[Document]:
        # A file input that cannot be opened as a regular file (a FIFO would block the reader, a broken
        # link would read as "no such file") is one unreadable row saying why; a directory source
        # checks each of its files instead (TextDirectoryReader).
        if self.source.kind != "text":
            problem = file_problem(self.source.path)
            if problem is not None:
                yield self.unreadable(0, {"file": self.source.path, **self.first_position},
                                      BrokenInput(f"cannot open {self.source.path}: {problem}"))
                return
        yield from self.read()

    first_position = {"offset": 0}  # `source`'s position of a file's first record in this format

    def read(self) -> Iterator[Document]:
        raise NotImplementedError

    def unreadable(self, ordinal: int, source: dict, error: BaseException, raw: bytes | None = None) -> Document:
        """The rest of a file that broke while being read, as one quarantined record.

        Placed at the first ordinal of this reader's range if the file broke before it, so a shard never
        ends up silently empty. Its id is derived from the file name, the ordinal and `raw` (the bytes
        of the broken record, when there are any), so it is never null.
        """
        ordinal = max(ordinal, self.start)
        what = str(error) if isinstance(error, BrokenInput) else f"{type(error).__name__}: {error}"
        doc = Document(ordinal=ordinal, source=source, id=derived_id(self.source.name, ordinal, raw))
        return doc.send_to_quarantine(UNREADABLE_FILE, f"{what} (the file is unreadable from record {ordinal} on)",
                                      raw=raw)

    def wanted(self, ordinal: int) -> bool:
        return ordinal >= self.start and (self.stop is None or ordinal < self.stop)

    def past_end(self, ordinal: int) -> bool:
        return self.stop is not None and ordinal >= self.stop


def derived_id(file_name: str, ordinal: int, text: str | bytes | None) -> str:
    """A stable id for a record without one: same file name, position and content, same id."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{file_name}\0{ordinal}\0".encode())
    if text is not None:
        digest.update(text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text)
    return digest.hexdigest()


def iso_date(value) -> str | None:
    """An ISO-8601 string for a date-like value (datetime, date, ISO string, Unix seconds), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
        except ValueError:
            try:
                return dt.date.fromisoformat(text[:10]).isoformat() if len(text) >= 10 else None
            except ValueError:
                return None
    return None


def id_value(value) -> str | int | None:
    """A record's own id, with its JSON type kept, or None when the value is no usable id.

    Only a non-empty string or an integer is an id. Keeping the type keeps the integer 1 and the string
    "1" two different ids (str() made them collide). A bool is not an integer here (str(True) gave the
    id "True"), and null, floats (1.0 vs 1), lists, objects and "" have no faithful text form, so the
    caller derives an id instead and keeps the original value among the record's fields.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)  # an int subclass (IntEnum, ...) becomes a plain int
    if isinstance(value, str) and value:
        return value
    return None


# --- Decompression -------------------------------------------------------------------------------

_READ_CHUNK = 1 << 20  # compressed bytes read from the file at a time
# Compressed bytes handed to the decompressor per call. zstd's decompressobj has no output limit and a
# zstd block of 4 bytes can stand for 128 KiB (a ratio near 32,000), so the input per call is what
# bounds the memory a crafted or degenerate file can take: 512 bytes give at most ~16 MiB per call.
# The calls are cheap (measured: 256 to 64 KiB per call decompress at the same speed).
_ZSTD_FEED = 512
_GZIP_FEED = 1 << 14
_GZIP_MAX_OUT = 1 << 20  # zlib takes an output limit; deflate's own ratio is at most ~1,000 anyway
_NUL_RUN = re.compile(rb"\0*")


def compression_of(path: str) -> str | None:
    """"gzip", "zstd" or None (not compressed), from the file name."""
    lowered = path.lower()
    if lowered.endswith(".gz"):
        return "gzip"
    if lowered.endswith((".zst", ".zstd")):
        return "zstd"
    return None


class DecompressingReader:
    """A .gz or .zst file, decompressed as it is read, that says where it breaks.

    The standard streams lose data without a word: zstandard's stream_reader ends quietly inside a
    frame that is cut short, and gzip's cannot say where it failed. This one feeds the compressed bytes
    to one decompressor per gzip member or zstd frame (multi-member and multi-frame files are read
    across; NUL padding between gzip members is skipped, as the gzip module does) and keeps count of the
    compressed offset, so that:

    - every byte that decompresses is returned before anything is reported;
    - a file that ends inside a member or frame raises `BrokenInput` naming the compressed byte where it
      ended and where the unfinished member or frame began;
    - damaged data (zlib.error, zstandard.ZstdError: "Data corruption detected", "Unknown frame
      descriptor" for a file that is not zstd at all) raises `BrokenInput` naming the compressed bytes
      that failed to decompress.

    `readline(limit)` never holds more than `limit` bytes of a line plus one call's output, so a reader
    can skip a line longer than its maximum record size without loading it.
    """

    def __init__(self, path: str, compression: str | None = None, start: int = 0):
        self.compression = compression or compression_of(path)
        if self.compression not in ("gzip", "zstd"):
            raise ValueError(f"{path}: not a .gz or .zst file")
        self._unit = "gzip member" if self.compression == "gzip" else "zstd frame"
        self._zstd = zstandard.ZstdDecompressor() if self.compression == "zstd" else None  # one context, reused
        self._file = open(path, "rb")
        try:
            self._file.seek(start)
        except BaseException:
            self._file.close()
            raise
        self._chunk = b""  # compressed bytes read and not all fed yet
        self._chunk_start = start  # file offset of self._chunk[0]
        self._pos = 0  # next byte of self._chunk to feed
        self._decoder = None  # None between members/frames
        self._unit_start = start
        self._pending = False  # zlib stopped at its output limit and may hold more output
        self._out = bytearray()  # decompressed bytes not returned yet, from self._out_pos on
        self._out_pos = 0
        self._searched = 0  # self._out[self._out_pos:self._searched] holds no newline
        self._unit_out = 0  # bytes the current member/frame has given so far
        self._broken: BrokenInput | None = None  # raised once what decompressed before it is taken

    @property
    def offset(self) -> int:
        """The compressed offset of the next byte to be decompressed."""
        return self._chunk_start + self._pos

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def readline(self, limit: int = -1) -> bytes:
        """The next line with its b"\\n", at most `limit` bytes of it; b"" at the end of the data.

        Raises BrokenInput where the data stops decompressing; a partial line before that point is not
        returned (it belongs to the unreadable rest of the file).
        """
        while True:
            available = len(self._out) - self._out_pos
            end = self._out.find(b"\n", max(self._searched, self._out_pos),
                                 self._out_pos + limit if limit >= 0 else len(self._out))
            if end >= 0:
                return self._take(end + 1 - self._out_pos)
            if 0 <= limit <= available:
                return self._take(limit)
            self._searched = len(self._out)
            if not self._decompress_more():
                return self._take(available)

    def read_to_end(self) -> int:
        """Decompresses the rest of the file, discarding it; the number of bytes. Raises BrokenInput."""
        total = len(self._out) - self._out_pos
        self._out.clear()
        self._out_pos = self._searched = 0
        while self._decompress_more():
            total += len(self._out)
            self._out.clear()
        return total

    def _take(self, n: int) -> bytes:
        data = bytes(self._out[self._out_pos:self._out_pos + n])
        self._out_pos += n
        if self._out_pos >= len(self._out):
            self._out.clear()
            self._out_pos = self._searched = 0
        elif self._out_pos > (1 << 20) and self._out_pos * 2 > len(self._out):
            del self._out[:self._out_pos]
            self._searched = max(0, self._searched - self._out_pos)
            self._out_pos = 0
        return data

    def _decompress_more(self) -> bool:
        """Appends decompressed bytes to the buffer: True, or False at a clean end of the file."""
        if self._broken is not None:
            raise self._broken
        while True:
            if self._pos >= len(self._chunk) and not self._pending:
                self._chunk_start += len(self._chunk)
                self._chunk = self._file.read(_READ_CHUNK)
                self._pos = 0
                if not self._chunk:
                    if self._decoder is not None:
                        raise BrokenInput(f"the file ends inside a {self._unit} after compressed byte {self.offset}: "
                                          f"it was cut short (the {self._unit} starts at byte {self._unit_start})",
                                          self.offset)
                    return False
            if self._decoder is None:
                if self.compression == "gzip":
                    self._pos = _NUL_RUN.match(self._chunk, self._pos).end()
                    if self._pos >= len(self._chunk):
                        continue
                self._decoder = self._new_decoder()
                self._unit_start = self.offset
                self._unit_out = 0
            output = self._step()
            if output:
                self._out += output
                return True

    def _new_decoder(self):
        if self.compression == "gzip":
            return zlib.decompressobj(31)  # 16 + MAX_WBITS: a gzip header and trailer (CRC-32, size) are checked
        return self._zstd.decompressobj()  # one frame each: a frame's end shows as `eof`, the rest as unused_data

    def _step(self) -> bytes:
        """Feeds the decompressor one piece of input and returns its output; advances the offsets.

        Damaged data: what decompressed before the damage is kept (`_salvage`) and returned, and the
        error is raised on the next call, so no record that could be read is lost with the rest."""
        decoder = self._decoder
        feed = _GZIP_FEED if self.compression == "gzip" else _ZSTD_FEED
        piece = memoryview(self._chunk)[self._pos:self._pos + feed]
        backup = decoder.copy() if self.compression == "gzip" else None  # zlib can; zstd is re-decoded
        try:
            if self.compression == "gzip":
                output = decoder.decompress(piece, _GZIP_MAX_OUT)
                left = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
                self._pending = not decoder.eof and len(output) == _GZIP_MAX_OUT
            else:
                output = decoder.decompress(piece) if len(piece) else b""
                left = decoder.unused_data if decoder.eof else b""
        except (zlib.error, zstandard.ZstdError) as error:
            start = self.offset
            kept, failed_at = self._salvage(backup, bytes(piece))
            self._broken = BrokenInput(
                f"damaged {self.compression} data at compressed byte {failed_at} (in compressed bytes {start}-"
                f"{start + len(piece)}, in the {self._unit} that starts at byte {self._unit_start}): {error}",
                failed_at)
            self._broken.__cause__ = error
            if not kept:
                raise self._broken
            self._unit_out += len(kept)
            return kept
        self._unit_out += len(output)
        self._pos += len(piece) - len(left)
        if decoder.eof:
            self._decoder = None
            self._pending = False
        return output

    def _salvage(self, backup, piece: bytes) -> tuple[bytes, int]:
        """What the failed piece gave before the damage, fed again a byte at a time, and the compressed
        offset of the byte that failed. zlib's state is copied before each piece; zstd's cannot be, so
        its frame is decoded again from its start (only when a file is damaged) and the output it had
        already given is skipped."""
        start = self.offset
        if backup is not None:
            decoder, skip = backup, 0
        else:
            decoder, skip = self._zstd.decompressobj(), self._unit_out
            with open(self._file.name, "rb") as handle:
                handle.seek(self._unit_start)
                remaining = start - self._unit_start
                while remaining > 0:  # up to the failed piece, as it was fed before
                    block = handle.read(min(_ZSTD_FEED, remaining))
                    if not block:
                        break
                    remaining -= len(block)
                    try:
                        skip -= len(decoder.decompress(block))
                    except zstandard.ZstdError:
                        return b"", start
        kept = bytearray()
        for index in range(len(piece)):
            try:
                out = decoder.decompress(piece[index:index + 1])
            except (zlib.error, zstandard.ZstdError):
                return bytes(kept[max(skip, 0):]), start + index
            kept += out
            if len(kept) > _GZIP_MAX_OUT * 4:  # a bomb in a damaged file: keep the bound on memory
                break
        return bytes(kept[max(skip, 0):]), start + len(piece)
