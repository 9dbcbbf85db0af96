"""Directories of .txt files (or single .txt files): one file, one record."""

from __future__ import annotations

import os
from typing import Iterator

from detector.inputs import UnreadableInput, open_regular_file

from filters.document import BINARY, TOO_LARGE, UNDECODABLE, UNREADABLE_FILE, Document
from filters.pipeline.readers.base import Reader


class TextDirectoryReader(Reader):
    """Each .txt file under the directory, in sorted order, is a record; its id is its relative path.

    At most `max_bytes` + 1 bytes of a file are read, so an oversized file is never loaded whole.
    """

    name = "text_reader"

    def read(self) -> Iterator[Document]:
        root = self.source.path
        for ordinal, path in enumerate(self.source.files, start=self.source.first_file):
            if self.past_end(ordinal):
                return
            if self.wanted(ordinal):
                yield self._document(root, path, ordinal)

    def _document(self, root: str, path: str, ordinal: int) -> Document:
        relative = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
        doc = Document(ordinal=ordinal, source={"file": path, "offset": 0}, id=relative.replace(os.sep, "/"))
        limit = self.options.max_bytes
        try:
            with open_regular_file(path) as handle:  # never blocks on a FIFO; names a broken link
                data = handle.read(limit + 1)
        except UnreadableInput as problem:
            return doc.send_to_quarantine(UNREADABLE_FILE, str(problem))
        except OSError as error:
            return doc.send_to_quarantine(UNREADABLE_FILE, f"{type(error).__name__}: {error}")
        if len(data) > limit:
            return doc.send_to_quarantine(TOO_LARGE, f"file larger than {limit} bytes", raw=data[:4096])
        if b"\0" in data:
            return doc.send_to_quarantine(BINARY, "NUL bytes in a text file", raw=data[:4096])
        try:
            doc.text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            return doc.send_to_quarantine(UNDECODABLE, str(error), raw=data[:4096])
        return doc
