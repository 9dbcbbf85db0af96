"""Directories of .txt files (or single .txt files): one file, one record."""

from __future__ import annotations

import os
from typing import Iterator

from detector.inputs import BinaryInput, UnreadableInput, decode_bytes, open_regular_file

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
        if os.path.isdir(path):  # a folder inside the input that could not be listed
            return doc.send_to_quarantine(UNREADABLE_FILE, "a folder that cannot be listed: the .txt files in it "
                                                           "are not read")
        try:
            with open_regular_file(path) as handle:  # never blocks on a FIFO; names a broken link
                data = handle.read(limit + 1)
        except UnreadableInput as problem:
            return doc.send_to_quarantine(UNREADABLE_FILE, str(problem))
        except OSError as error:
            return doc.send_to_quarantine(UNREADABLE_FILE, f"{type(error).__name__}: {error}")
        if len(data) > limit:
            return doc.send_to_quarantine(TOO_LARGE, f"file larger than {limit} bytes", raw=data[:4096])
        try:  # as `synthsieve score` reads a file: UTF-8, or UTF-16/32 with a byte-order mark
            doc.text = decode_bytes(data)
        except BinaryInput as problem:
            return doc.send_to_quarantine(BINARY, str(problem), raw=data[:4096])
        except UnreadableInput as problem:
            return doc.send_to_quarantine(UNDECODABLE, str(problem), raw=data[:4096])
        return doc
