"""Readers, one per input format, and the expansion of command-line inputs into sources."""

from __future__ import annotations

import glob
import os

from filters.pipeline.readers.base import InputSource, Reader, ReaderOptions, derived_id, iso_date
from detector.inputs import file_problem
from filters.pipeline.readers.jsonl import JsonlReader
from filters.pipeline.readers.parquet import ParquetReader
from filters.pipeline.readers.text import TextDirectoryReader
from filters.pipeline.readers.warc import WarcReader

READERS = {"jsonl": JsonlReader, "parquet": ParquetReader, "text": TextDirectoryReader, "warc": WarcReader}

_SUFFIXES = (
    ("warc", (".warc", ".warc.gz", ".warc.zst", ".wet", ".wet.gz", ".wet.zst", ".arc.gz")),
    ("jsonl", (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".json.zst", ".ndjson",
               ".ndjson.gz", ".ndjson.zst", ".jsonl.zstd")),
    ("parquet", (".parquet", ".pq")),
    ("text", (".txt",)),
)


class InputError(ValueError):
    """A command-line input that names nothing readable; reported before any work starts."""


def kind_of(path: str) -> str | None:
    lowered = path.lower()
    for kind, suffixes in _SUFFIXES:
        if lowered.endswith(suffixes):
            return kind
    return None


def expand_inputs(patterns: list[str]) -> list[InputSource]:
    """Files, directories of .txt files and globs, in the order given (each glob sorted), deduplicated."""
    sources: list[InputSource] = []
    seen: set[str] = set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise InputError(f"no file matches {pattern!r}")
        else:
            # A path that names nothing is a typo: a usage error. One that exists but cannot be read
            # (a broken link, no permission, a FIFO) is quarantined by its reader like any bad file,
            # so one bad input among many costs its own records, not the run.
            if not os.path.lexists(pattern):
                raise InputError(f"{pattern}: no such file or directory")
            matches = [pattern]
        for match in matches:
            path = os.path.abspath(match)
            if path in seen:
                continue
            seen.add(path)
            sources.append(_source(len(sources), path))
    if not sources:
        raise InputError("no input given")
    return sources


def _source(index: int, path: str) -> InputSource:
    if os.path.isdir(path):
        # Every entry named *.txt, whatever it is: one that cannot be read (a broken symbolic link, a
        # FIFO, no permission) becomes its own quarantine row when the reader reaches it.
        # A folder os.walk cannot list is listed itself, so its reader gives it an unreadable row.
        unlisted: list[str] = []
        found = [os.path.join(folder, name)
                 for folder, _, names in os.walk(path, onerror=lambda error: unlisted.append(error.filename))
                 for name in names if name.lower().endswith(".txt")]
        files = tuple(sorted(found + unlisted))
        if not files:
            raise InputError(f"{path}: a directory input must hold .txt files, and this one has none")
        return InputSource(index, "text", path, files)
    kind = kind_of(path)
    if kind is None:
        raise InputError(f"{path}: unknown input format (expected .jsonl[.gz|.zst], .parquet, "
                         ".warc[.gz], .wet[.gz], .txt or a directory of .txt files)")
    return InputSource(index, kind, path, (path,))


def make_reader(source: InputSource, options: ReaderOptions, start: int = 0, stop: int | None = None) -> Reader:
    return READERS[source.kind](source, options, start, stop)


__all__ = ["InputSource", "Reader", "ReaderOptions", "InputError", "JsonlReader", "ParquetReader",
           "TextDirectoryReader", "WarcReader", "expand_inputs", "make_reader", "kind_of", "derived_id",
           "iso_date", "file_problem"]
