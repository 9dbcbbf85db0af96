"""The filter with the real detector (tiny reference LM in default runs; SmolLM2 in the slow test)."""

from __future__ import annotations

import html
import json

import pytest
from click.testing import CliRunner

from detector.decision import Thresholds, decide
from tests.helpers.corpus import assignment, corpus_records, read_output, shard_digests, warc_record, write_jsonl
from filters.executor.detector_loader import DetectorLoader
from filters.store.manifest import Manifest
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from tests.helpers import shared_rows


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector-inputs")
    records = corpus_records(24, seed=9, families=1, family_size=3)
    return [str(write_jsonl(root / "a.jsonl", records + ["{oops", json.dumps({"id": "e", "text": ""})]))]


def test_cli_with_the_real_detector(small_corpus, tiny_reference_model, tmp_path):
    from filters.cli.filter import filter_command

    out = tmp_path / "out"
    result = CliRunner().invoke(filter_command, [*small_corpus, "--out", str(out), "--reference-model",
                                                 str(tiny_reference_model), "--token-cap", "64", "--shard-size",
                                                 "10", "--batch-size", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = Manifest.load(out)
    assert manifest["counts"]["documents"] == 26 and manifest["counts"]["partitions"]["quarantine"] == 2
    model = manifest["model"]
    assert len(model["model_hash"]) == 64 and model["artifact_hashes"] and len(model["reference_model_hash"]) == 64
    assert manifest["settings"]["token_cap"] == 64
    thresholds = Thresholds.from_dict(manifest["thresholds"])
    rows = read_output(out)
    for partition in ("grounded", "suspected_synthetic", "uncertain"):
        for row in rows[partition]:
            meta = row["synthsieve"]
            assert meta["decision"] == partition == decide(meta["p_machine"], meta["language"], meta["n_tokens"],
                                                           thresholds)
            assert meta["decided_by"] in ("cheap", "lm") and len(meta["reasons"]) == 3
    family = [r["synthsieve"] for p in rows.values() for r in p if r.get("id") in ("doc-00000", "doc-00001")]
    assert [m["cluster_size"] for m in family] == [3, 3]


def test_worker_processes_score_exactly_like_one_process(small_corpus, tiny_reference_model, tmp_path):
    loader = DetectorLoader(reference_model=str(tiny_reference_model), token_cap=64)
    settings = FilterSettings(shard_size=10, batch_size=8, token_cap=64, full=True)
    run_filter(small_corpus, tmp_path / "one", settings, detector_loader=loader, workers=1)
    run_filter(small_corpus, tmp_path / "two", settings, detector_loader=loader, workers=2)
    assert shard_digests(tmp_path / "two") == shard_digests(tmp_path / "one")


@pytest.mark.slow
@pytest.mark.shared_data
def test_pre_2022_web_pages_are_rarely_suspected(tmp_path):
    """Real human pages written before November 2022, served as HTML from a WARC: at most 1% suspected.

    The text comes from grounded_docs.jsonl (Python 3.11 and Linux 6.1 documentation, the fortunes
    database: all pre-chat-model human prose), which the shipped model never trained on; human_pool
    pages would be training data. The WARC dates are the packages' era, not crawl dates we know.
    """
    # 240 pages: enough for 1% to mean "at most 2", few enough for a few minutes of SmolLM2 on 2 cores.
    by_domain = {}
    for row in sorted(shared_rows("grounded_docs"), key=lambda r: r["id"]):
        by_domain.setdefault(row["domain"], []).append(dict(row, date="2022-06-01"))
    rows = [row for group in zip(*by_domain.values()) for row in group][:240]  # every domain in turn
    assert len(rows) == 240 and len({r["domain"] for r in rows}) >= 2
    records = []
    for i, row in enumerate(rows):
        body = "".join(f"<p>{html.escape(p)}</p>" for p in row["text"].split("\n\n") if p.strip())
        page = f"<html><head><title>{i}</title></head><body><article>{body}</article></body></html>".encode()
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + page
        records.append(warc_record("response", f"http://archive.example/{row['id']}", f"{row['date']}T12:00:00Z",
                                   http, "application/http; msgtype=response"))
    (tmp_path / "pre2022.warc.gz").write_bytes(b"".join(records))
    manifest = run_filter([str(tmp_path / "pre2022.warc.gz")], tmp_path / "out", FilterSettings(),
                          detector_loader=DetectorLoader())
    counts = manifest["counts"]["partitions"]
    scored = counts["grounded"] + counts["suspected_synthetic"] + counts["uncertain"]
    assert scored >= 0.95 * len(rows)
    assert counts["suspected_synthetic"] <= 0.01 * scored, counts
    dates = [r["synthsieve"]["date"] for p in ("grounded", "uncertain", "suspected_synthetic")
             for r in read_output(tmp_path / "out")[p]]
    assert all(d < "2022-11" for d in dates)
    assert len(assignment(tmp_path / "out")) == len(rows)
