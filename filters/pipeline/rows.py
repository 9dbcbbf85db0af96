"""The output rows: what the report, rethreshold and users read. The schema lives here only.

A scored row is `id`, `text`, the input record's other fields, and `synthsieve`. An input field that
shares one of those names without being the id or text field (a `text` field beside `--text-field
content`, or a `synthsieve` object from an earlier run) cannot stay under its name, and is kept whole
under `synthsieve.displaced_fields` instead: nothing of the input is dropped.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math

from filters.document import Document, raw_prefix

ROW_KEYS = ("id", "text", "synthsieve")  # the names synthsieve writes on every scored row


def scored_row(doc: Document) -> dict:
    score = doc.score
    reasons = [{"feature": str(r.get("feature")), "value": _float(r.get("value")),
                "contribution": _float(r.get("contribution"))} for r in (score.reasons or [])]
    row = {"id": doc.id, "text": doc.text}
    row.update((k, v) for k, v in doc.fields.items() if k not in ROW_KEYS)
    displaced = {k: v for k, v in doc.fields.items() if k in ROW_KEYS}
    row["synthsieve"] = {
        "p_machine": float(score.p_machine),
        "decision": doc.partition,
        "decided_by": doc.decided_by,
        "reasons": reasons,
        "language": score.language,
        "n_tokens": int(score.n_tokens),
        "cluster_id": doc.cluster_id,
        "cluster_size": int(doc.cluster_size or 1),
        "source": doc.source,
        "date": doc.date,
    }
    if displaced:
        row["synthsieve"]["displaced_fields"] = displaced
    if doc.duplicate_id:
        row["synthsieve"]["duplicate_id"] = True
    return row


def quarantine_row(doc: Document) -> dict:
    return {"id": doc.id, "raw": raw_prefix(doc.raw), "reason": doc.quarantine, "detail": doc.detail,
            "synthsieve": {"source": doc.source}}


def _float(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _jsonable(value):
    """Input fields from Parquet may hold types JSON lacks; they are written in their usual text form."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _finite(value):
    """JSON has no NaN or infinity (Python's json writes them bare, which other parsers reject): they
    are written as the strings "NaN", "Infinity" and "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(row, ensure_ascii: bool = False) -> str:
    """`row` as one line of JSON; `ensure_ascii` writes every non-ASCII character as a \\u escape."""
    try:
        return json.dumps(row, ensure_ascii=ensure_ascii, default=_jsonable, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: rare, so only then is the row walked
        return json.dumps(_finite(row), ensure_ascii=ensure_ascii, default=lambda v: _finite(_jsonable(v)),
                          allow_nan=False)


def json_text(value) -> str:
    """`value` as JSON text that UTF-8 can encode.

    A lone surrogate (a JSON escape like "\\ud800" in the input reads back as one) has no UTF-8 form,
    so a value holding one, in a string or a key, is written with \\u escapes instead: still valid
    JSON, and it reads back to the same Python string. Every other value keeps its characters as they are.
    """
    text = dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return dumps(value, ensure_ascii=True)
    return text


def json_line(row: dict) -> bytes:
    """`row` as one UTF-8 line of JSON Lines, newline included (see `json_text`)."""
    text = dumps(row) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (dumps(row, ensure_ascii=True) + "\n").encode("ascii")
