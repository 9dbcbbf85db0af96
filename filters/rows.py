"""The output rows: what the report, rethreshold and users read. The schema lives here only."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json

from .document import Document, raw_prefix


def scored_row(doc: Document) -> dict:
    score = doc.score
    reasons = [{"feature": str(r.get("feature")), "value": _float(r.get("value")),
                "contribution": _float(r.get("contribution"))} for r in (score.reasons or [])]
    row = {"id": doc.id, "text": doc.text}
    row.update((k, v) for k, v in doc.fields.items() if k not in row)
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


def dumps(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, default=_jsonable)
