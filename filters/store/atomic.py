"""Crash-safe files: write to a temporary name, fsync, rename, fsync the directory.

After a crash a file either has its complete new content under its final name or does not exist
under it; temporary names start with a dot and end in `.tmp`, so no reader globbing `part-*` can
pick one up, and a resumed run deletes them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

# The failures that mean "the output location is the problem", as opposed to a bug.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


class OutputError(RuntimeError):
    """The output directory could not be written; the run stopped in a resumable state."""


def describe_output_error(error: OSError, path) -> OutputError:
    reason = os.strerror(error.errno) if error.errno else str(error)
    name = errno.errorcode.get(error.errno, "") if error.errno else ""
    hint = {errno.ENOSPC: "free some space", errno.EDQUOT: "raise the quota or free some space",
            errno.EROFS: "choose a writable --out", errno.EACCES: "fix the permissions or choose another --out",
            errno.EPERM: "fix the permissions or choose another --out"}.get(error.errno, "fix the cause")
    return OutputError(f"cannot write {path}: {reason}{f' ({name})' if name else ''}. "
                       f"Nothing written so far is lost: {hint}, then run the same command again to resume.")


def is_output_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in _OUTPUT_ERRNOS


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temporary: Path, final: Path) -> None:
    """Move a fully written, fsynced temporary file to its final name, durably."""
    os.replace(temporary, final)
    fsync_dir(final.parent)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        publish(temporary, path)
    except OSError as error:
        if is_output_error(error):
            raise describe_output_error(error, path) from error
        raise


def copy_file(source: Path, target: Path) -> dict:
    """Copies `source` to `target` the crash-safe way (temporary name, fsync, `publish`); returns the
    size and SHA-256 of what was written as {"bytes", "sha256"}."""
    target = Path(target)
    temporary = temporary_name(target)
    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as reader:  # a failure to read the source is not the output's fault
        try:
            with open(temporary, "wb") as writer:
                for block in iter(lambda: reader.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
                    writer.write(block)
                writer.flush()
                os.fsync(writer.fileno())
            publish(temporary, target)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            if is_output_error(error):
                raise describe_output_error(error, target) from error
            raise
    return {"bytes": size, "sha256": digest.hexdigest()}


def write_json(path: Path, data) -> None:
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode())


def read_json(path: Path):
    """A JSON file written by `write_json`, or None when it is absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def remove_temporaries(directory: Path) -> int:
    removed = 0
    if directory.is_dir():
        for path in directory.glob(".*.tmp"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
