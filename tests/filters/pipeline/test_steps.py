"""Steps one by one: router, cascade, LM failure isolation, writers, progress."""

from __future__ import annotations

import hashlib
import io

import pytest

from detector.decision import DocumentScore, Thresholds
from tests.helpers.fake_detector import FAIL_MARKER, FakeDetector
from tests.helpers.corpus import plumbing_text
from filters.document import Document
from filters.store.output import iter_rows
from detector.progress import Progress
from filters.pipeline.router import Router
from filters.pipeline.scoring import CheapScorer, LMScorer
from filters.pipeline.writers import PartitionWriter, QuarantineWriter

THRESHOLDS = Thresholds(suspect=0.8, ground=0.3, overwhelming=0.99, min_tokens=5)


def scored(p, language="en", n_tokens=100):
    doc = Document(ordinal=0, source={"file": "f", "line": 1}, id=f"d{p}-{language}-{n_tokens}", text="t")
    doc.score = DocumentScore(p_machine=p, decision="", reasons=[], language=language, language_confidence=1.0,
                              n_tokens=n_tokens, stage="lm")
    return doc


def test_router_applies_the_shared_decision_rule():
    docs = [scored(0.8), scored(0.7999), scored(0.3), scored(0.2999), scored(0.95, "fr"), scored(0.995, "fr"),
            scored(0.1, n_tokens=4), Document(ordinal=1, source={}, id="q").send_to_quarantine("empty"),
            Document(ordinal=2, source={}, id="n", text="never scored")]
    router = Router(THRESHOLDS)
    routed = [d.partition for d in router.run(docs)]
    assert routed == ["suspected_synthetic", "uncertain", "uncertain", "grounded", "uncertain",
                      "suspected_synthetic", "uncertain", "quarantine", "quarantine"]
    assert docs[-1].quarantine == "score_failed"
    assert router.stats == {"suspected_synthetic": 2, "uncertain": 4, "grounded": 1, "quarantine": 2}


def plain_docs(n, start=0):
    return [Document(ordinal=i, source={"file": "f", "line": i + 1}, id=str(i), text=plumbing_text(i),
                     scoring_text=plumbing_text(i), cluster_size=1) for i in range(start, start + n)]


def test_cascade_sends_only_unconfident_documents_to_the_lm():
    detector = FakeDetector()
    docs = plain_docs(120)
    quarantined = Document(ordinal=999, source={}, id="q").send_to_quarantine("no_text")
    docs.insert(5, quarantined)
    steps_out = list(LMScorer(detector, THRESHOLDS, 8).run(CheapScorer(detector, THRESHOLDS, 16).run(docs)))
    assert [d.id for d in steps_out] == [d.id for d in docs]  # order kept, nothing dropped
    cheap = [d for d in steps_out if d.decided_by == "cheap"]
    lm = [d for d in steps_out if d.decided_by == "lm"]
    assert cheap and lm and len(cheap) + len(lm) == 120
    assert all(d.score.confident for d in cheap)
    assert sorted(detector.lm_texts) == sorted(d.text for d in lm)
    assert quarantined.score is None and quarantined.text is None


def test_full_mode_skips_the_cheap_stage():
    detector = FakeDetector()
    out = list(LMScorer(detector, THRESHOLDS, 8).run(plain_docs(20)))
    assert {d.decided_by for d in out} == {"lm"} and detector.cheap_texts == []


def test_lm_failure_costs_only_the_failing_document():
    detector = FakeDetector()
    docs = plain_docs(10)
    docs[3].scoring_text = docs[3].text = "x " + FAIL_MARKER
    out = list(LMScorer(detector, THRESHOLDS, 4).run(docs))
    assert [d.quarantine for d in out] == [None] * 3 + ["score_failed"] + [None] * 6
    assert "refuses" in out[3].detail
    assert all(d.score is not None for i, d in enumerate(out) if i != 3)


def test_writers_publish_only_on_commit(tmp_path):
    docs = plain_docs(6)
    for doc, partition in zip(docs, ["grounded", "uncertain", "grounded", "quarantine", "suspected_synthetic",
                                     "grounded"]):
        if partition == "quarantine":
            doc.send_to_quarantine("binary", "test", raw=b"\x00\x01raw")
        else:
            doc.score = DocumentScore(0.5, partition, [{"feature": "f", "value": 1, "contribution": 0.5}],
                                      "en", 1.0, 40, "lm")
            doc.partition, doc.decided_by, doc.cluster_id = partition, "lm", "00000-0000000000"
    scored_writer = PartitionWriter(tmp_path, "00000-00000")
    quarantine_writer = QuarantineWriter(tmp_path, "00000-00000")
    passed = list(quarantine_writer.run(scored_writer.run(docs)))
    assert len(passed) == 6
    assert not list(tmp_path.rglob("part-*"))  # nothing visible before commit
    assert len(list(tmp_path.rglob(".part-*.tmp"))) == 4
    files = scored_writer.commit() + quarantine_writer.commit()
    assert not list(tmp_path.rglob("*.tmp"))
    assert {f["path"]: f["rows"] for f in files} == {
        "grounded/part-00000-00000.jsonl.zst": 3, "uncertain/part-00000-00000.jsonl.zst": 1,
        "suspected_synthetic/part-00000-00000.jsonl.zst": 1, "quarantine/part-00000-00000.jsonl.zst": 1}
    for item in files:
        data = (tmp_path / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["bytes"]
    grounded = list(iter_rows(tmp_path / "grounded/part-00000-00000.jsonl.zst"))
    assert [r["id"] for r in grounded] == ["0", "2", "5"]
    meta = grounded[0]["synthsieve"]
    assert set(meta) == {"p_machine", "decision", "decided_by", "reasons", "language", "n_tokens", "cluster_id",
                         "cluster_size", "source", "date"}
    assert meta["reasons"] == [{"feature": "f", "value": 1.0, "contribution": 0.5}]
    (bad,) = iter_rows(tmp_path / "quarantine/part-00000-00000.jsonl.zst")
    assert bad["reason"] == "binary" and bad["raw"] == "\x00\x01raw" and bad["synthsieve"]["source"]["line"] == 4


def test_writer_abort_leaves_nothing(tmp_path):
    docs = plain_docs(2)
    for doc in docs:
        doc.score = DocumentScore(0.1, "grounded", [], "en", 1.0, 40, "lm")
        doc.partition, doc.decided_by = "grounded", "lm"
    writer = PartitionWriter(tmp_path, "k", fmt="parquet")
    list(writer.run(docs))
    writer.abort()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_progress_logs_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream=stream, tty=False, log_every=0)
    progress.stage("filter", total=10)
    progress.update(4, {"grounded": 3, "quarantine": 1})
    progress.update(6, {"uncertain": 6})
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("synthsieve filter: 0/10 documents")
    assert "10/10 documents (100%)" in lines[-1]
    assert "grounded=3" in lines[-1] and "uncertain=6" in lines[-1] and "quarantine=1" in lines[-1]
    assert "docs/s" in lines[-1]


def test_progress_bar_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream=stream, tty=True)
    progress.stage("filter", total=5)
    progress.update(5, {"grounded": 5})
    progress.close()
    assert "5/5" in stream.getvalue() and "doc/s" in stream.getvalue()


def test_disabled_progress_prints_nothing():
    stream = io.StringIO()
    progress = Progress(enabled=False, stream=stream, tty=False, log_every=0)
    progress.stage("filter", total=5)
    progress.update(5, {})
    progress.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize("bad", [{"num_perm": 100, "bands": 16}, {"shingle_size": 0}])
def test_minhash_settings_are_validated(bad):
    from filters.pipeline.near_duplicates import MinHashSettings

    with pytest.raises(ValueError):
        MinHashSettings(**bad)
