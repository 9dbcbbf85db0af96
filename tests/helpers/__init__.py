"""Helpers the tests share, imported one way: `from tests.helpers import ...` (the repository root is
on pytest's `pythonpath`). Human text comes only from ../shared/data: `shared_rows` skips the test,
saying why, where it is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SYNTHSIEVE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_rows(name: str, limit: int | None = None, **where) -> list[dict]:
    """Rows of ../shared/data/NAME.jsonl matching `where`; skips the test when the data is absent."""
    path = SHARED_DATA / f"{name}.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent: human examples come only from the shared data set")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if all(row.get(k) == v for k, v in where.items()):
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    break
    return rows
