"""The output rows: what the report, rethreshold and users read. The schema lives here only.

A scored row is `id`, `text`, the input record's other fields, and `synthsieve`. An input field that
shares one of those names without being the id or text field (a `text` field beside `--text-field
content`, or a `synthsieve` object from an earlier run) cannot stay under its name, and is kept whole
under `synthsieve.displaced_fields` instead: nothing of the input is dropped.

The `synthsieve` object is built by `synthsieve_object` alone: the filter's rows, the datatrove steps and
the `datasets` map (filters/integrations, through `annotation`) all take it from there.
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
    row = {"id": doc.id, "text": doc.text}
    row.update((k, v) for k, v in doc.fields.items() if k not in ROW_KEYS)
    row["synthsieve"] = synthsieve_object(doc)
    return row


def synthsieve_object(doc: Document) -> dict:
    """What synthsieve says about one routed document: the `synthsieve` object of its row.

    A quarantined document (never scored) gets the same fields with no score: p_machine, decided_by,
    language and n_tokens null, no reasons, and its partition, "quarantine", as the decision. The
    filter writes those as quarantine rows instead (`quarantine_row`); the integrations, which leave
    the record where its host keeps it, use `annotation`.
    """
    score = doc.score
    scored_reasons = (score.reasons if score is not None else None) or []
    reasons = [{"feature": str(r.get("feature")), "value": _float(r.get("value")),
                "contribution": _float(r.get("contribution"))} for r in scored_reasons]
    synthsieve = {
        "p_machine": float(score.p_machine) if score is not None else None,
        "decision": doc.partition,
        "decided_by": doc.decided_by,
        "reasons": reasons,
        "language": score.language if score is not None else None,
        "n_tokens": int(score.n_tokens) if score is not None else None,
        "cluster_id": doc.cluster_id,
        "cluster_size": int(doc.cluster_size or 1),
        "source": doc.source,
        "date": doc.date,
    }
    displaced = {k: v for k, v in doc.fields.items() if k in ROW_KEYS}
    if displaced:
        synthsieve["displaced_fields"] = displaced
    if doc.duplicate_id:
        synthsieve["duplicate_id"] = True
    return synthsieve


def annotation(doc: Document) -> dict:
    """The `synthsieve` object for a record that stays where its host keeps it (datatrove's
    `doc.metadata`, a `datasets` column): the row's object, plus `quarantine`, null for a scored
    document and {"reason", "detail"} for one the filter would have put in quarantine (empty, binary,
    undecodable text, or a failed score), so that every record has the same fields."""
    quarantine = {"reason": doc.quarantine, "detail": doc.detail} if doc.is_quarantined else None
    return {**synthsieve_object(doc), "quarantine": quarantine}


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
