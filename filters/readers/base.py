"""What every reader shares: the input source, the range of records it reads, dates and ids."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..document import UNREADABLE_FILE, Document
from ..step import PipelineStep


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
        for doc in self.read():
            self.stats["records"] += 1
            if doc.is_quarantined:
                self.stats[f"quarantine_{doc.quarantine}"] += 1
            yield doc

    def read(self) -> Iterator[Document]:
        raise NotImplementedError

    def unreadable(self, ordinal: int, source: dict, error: BaseException) -> Document:
        """The rest of a file that broke while being read, as one quarantined record.

        Placed at the first ordinal of this reader's range if the file broke before it, so a shard never
        ends up silently empty.
        """
        ordinal = max(ordinal, self.start)
        doc = Document(ordinal=ordinal, source=source, id=derived_id(self.source.name, ordinal, None))
        return doc.send_to_quarantine(UNREADABLE_FILE, f"{type(error).__name__}: {error} (the file is unreadable "
                                                       f"from record {ordinal} on)")

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


def id_value(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if text else None
