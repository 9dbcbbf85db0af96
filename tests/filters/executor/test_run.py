"""The filter end to end on mixed inputs, with the stand-in detector: exactly once, provenance,
near-duplicate clusters, manifest, rethreshold, refusing to mix runs, output errors, CLI."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner

from tests.helpers.fake_detector import FakeDetector, FakeDetectorLoader
from tests.helpers.corpus import (assignment, corpus_records, html_page, http_response, plumbing_text, read_output,
                            shard_digests, warc_record, write_jsonl)
from filters.store.atomic import OutputError
from filters.document import PARTITIONS
from filters.store.manifest import Manifest
from filters.executor.rethreshold import RethresholdError, rethreshold
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from filters.store.state import RunMismatchError

SETTINGS = FilterSettings(shard_size=25, batch_size=8)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Four formats, 130 good records (with near-duplicate families) and 9 bad ones."""
    root = tmp_path_factory.mktemp("inputs")
    records = corpus_records(60)
    bad = ["{broken", json.dumps({"id": "no-text"}), json.dumps({"id": "blank", "text": " "}),
           json.dumps({"id": "nul", "text": "\u0000\u0001" * 40})]
    write_jsonl(root / "a.jsonl", records[:40] + bad)
    with gzip.open(root / "b.jsonl.gz", "wt") as handle:
        for record in records[40:]:
            handle.write(json.dumps(record) + "\n")
    pages = [warc_record("response", f"http://site.example/{i}", "2021-05-0%dT00:00:00Z" % (1 + i % 9),
                         http_response(html_page(f"Page {i}", [plumbing_text(500 + i, 50), plumbing_text(600 + i, 50)])),
                         "application/http; msgtype=response") for i in range(30)]
    pages.append(warc_record("response", "http://site.example/img", "2021-05-01T00:00:00Z",
                             http_response(b"\x00\x01\x02", "image/gif"), "application/http; msgtype=response"))
    (root / "c.warc.gz").write_bytes(b"".join(pages))
    texts = root / "texts"
    texts.mkdir()
    for i in range(40):
        (texts / f"t{i:02d}.txt").write_text(plumbing_text(700 + i))
    (texts / "broken.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    (texts / "empty.txt").write_text("")
    (texts / "latin.txt").write_bytes(b"caf\xe9")
    return [str(root / "a.jsonl"), str(root / "b.jsonl.gz"), str(root / "c.warc.gz"), str(texts)]


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    manifest = run_filter(inputs, out, SETTINGS, detector_loader=FakeDetectorLoader())
    return out, manifest


def test_every_record_lands_in_exactly_one_partition(reference):
    out, manifest = reference
    rows = read_output(out)
    placed = assignment(out)  # asserts no id twice
    assert len(placed) == 60 + 4 + 31 + 43 == manifest["counts"]["documents"]
    assert {p: len(r) for p, r in rows.items()} == manifest["counts"]["partitions"]
    # broken.txt opens with FF FE 00 00, the UTF-32 byte-order mark: undecodable UTF-32, not binary.
    assert sorted(r["reason"] for r in rows["quarantine"]) == sorted(
        ["invalid_json", "no_text", "empty", "binary", "binary", "undecodable", "empty", "undecodable"])
    assert manifest["counts"]["quarantine_reasons"] == {"binary": 2, "empty": 2, "invalid_json": 1,
                                                       "no_text": 1, "undecodable": 2}
    for row in rows["quarantine"]:
        assert row["id"] and row["raw"] is not None and row["synthsieve"]["source"]["file"]


def test_rows_carry_provenance_and_untouched_fields(reference, inputs):
    out, _ = reference
    rows = {r["id"]: r for p in ("grounded", "suspected_synthetic", "uncertain") for r in read_output(out)[p]}
    row = rows["doc-00007"]
    assert row["meta"] == {"n": 7} and row["text"] == corpus_records(60)[7]["text"]
    meta = row["synthsieve"]
    assert meta["source"] == {"file": inputs[0], "line": 8}
    assert meta["decision"] in ("grounded", "suspected_synthetic", "uncertain")
    assert meta["decided_by"] in ("cheap", "lm") and meta["language"] == "en" and meta["n_tokens"] > 0
    assert rows["doc-00045"]["synthsieve"]["source"] == {"file": inputs[1], "line": 6}
    page = next(r for r in rows.values() if r.get("url") == "http://site.example/3")
    assert page["synthsieve"]["date"] == "2021-05-04T00:00:00+00:00" and "offset" in page["synthsieve"]["source"]
    assert rows["t05.txt"]["synthsieve"]["source"]["file"].endswith("texts/t05.txt")
    for partition, partition_rows in read_output(out).items():
        if partition != "quarantine":
            assert all(r["synthsieve"]["decision"] == partition for r in partition_rows)


def test_near_duplicate_families_share_a_cluster(reference):
    out, manifest = reference
    rows = {r["id"]: r["synthsieve"] for p in ("grounded", "suspected_synthetic", "uncertain")
            for r in read_output(out)[p]}
    for family in range(3):
        members = [rows[f"doc-{family * 4 + k:05d}"] for k in range(4)]
        assert {m["cluster_id"] for m in members} == {f"00000-{family * 4:010d}"}
        assert {m["cluster_size"] for m in members} == {4}
    singles = [rows[f"doc-{i:05d}"] for i in range(12, 60)]
    assert all(s["cluster_size"] == 1 for s in singles)
    assert len({s["cluster_id"] for s in singles}) == len(singles)
    assert manifest["near_duplicates"]["clusters"] == 3
    assert manifest["near_duplicates"]["documents_in_clusters"] == 12


def test_manifest(reference, inputs):
    out, manifest = reference
    assert manifest["status"] == "complete" and manifest["finished_at"] >= manifest["started_at"]
    assert manifest["model"]["model_id"] == "fake" and manifest["synthsieve_version"]
    assert manifest["thresholds"]["suspect"] == 0.8 and manifest["settings"]["shard_size"] == 25
    assert manifest["settings"]["minhash"]["jaccard_threshold"] == pytest.approx(0.7071, abs=1e-3)
    listed = {i["path"]: i for i in manifest["inputs"]}
    for path in inputs[:3]:
        data = open(path, "rb").read()
        assert listed[path]["size"] == len(data) and listed[path]["sha256"] == hashlib.sha256(data).hexdigest()
    assert sum(1 for p in listed if "/texts/" in p) == 43
    counts = manifest["counts"]
    assert sum(counts["stages"].values()) + counts["partitions"]["quarantine"] == counts["documents"]
    assert counts["stages"]["cheap"] > 0 and counts["stages"]["lm"] > 0
    assert counts["tokens"] > 0
    for path, digest in shard_digests(out).items():
        assert hashlib.sha256((out / path).read_bytes()).hexdigest() == digest
    on_disk = {str(p.relative_to(out)) for part in PARTITIONS for p in (out / part).glob("part-*")}
    assert on_disk == set(shard_digests(out))
    assert Manifest.load(out) == manifest


def test_full_mode_scores_everything_with_the_lm(inputs, tmp_path):
    settings = FilterSettings(shard_size=25, batch_size=8, full=True)
    manifest = run_filter(inputs[:1], tmp_path / "out", settings, detector_loader=FakeDetectorLoader())
    assert manifest["counts"]["stages"] == {"cheap": 0, "lm": 40}


def test_two_workers_write_the_same_bytes_as_one(inputs, reference, tmp_path):
    out, _ = reference
    run_filter(inputs, tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(), workers=2)
    assert shard_digests(tmp_path / "out") == shard_digests(out)


def test_parquet_output_holds_the_same_assignment(inputs, reference, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out, _ = reference
    settings = FilterSettings(shard_size=25, batch_size=8, fmt="parquet")
    run_filter(inputs, tmp_path / "out", settings, detector_loader=FakeDetectorLoader())
    assert assignment(tmp_path / "out") == assignment(out)
    files = list((tmp_path / "out" / "grounded").glob("part-*.parquet"))
    assert files and "synthsieve" in pq.read_schema(files[0]).names


def test_same_command_again_does_nothing_new(inputs, reference):
    out, manifest = reference
    detector = FakeDetector()
    again = run_filter(inputs, out, SETTINGS, detector_loader=FakeDetectorLoader(), detector=detector)
    assert again == manifest and detector.lm_calls == 0


def test_refuses_to_mix_runs_unless_restarted(inputs, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    with pytest.raises(RunMismatchError, match=r"settings \(shard_size\)"):
        run_filter(inputs, out, FilterSettings(shard_size=30, batch_size=8), detector_loader=FakeDetectorLoader())
    with pytest.raises(RunMismatchError, match="inputs"):
        run_filter(inputs[:2], out, SETTINGS, detector_loader=FakeDetectorLoader())
    with pytest.raises(RunMismatchError, match="thresholds"):
        run_filter(inputs, out, SETTINGS, detector_loader=FakeDetectorLoader(), suspect=0.9)
    manifest = run_filter(inputs[:1], out, SETTINGS, detector_loader=FakeDetectorLoader(), restart=True)
    assert manifest["counts"]["documents"] == 44
    assert not list((out / "grounded").glob("part-00003-*"))  # nothing left of the old run


def test_refuses_a_foreign_directory(inputs, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    with pytest.raises(RunMismatchError, match="not empty"):
        run_filter(inputs[:1], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader())
    assert (tmp_path / "out" / "thesis.tex").read_text() == "mine"


def test_a_full_disk_stops_cleanly_and_resumes(inputs, reference, tmp_path, monkeypatch):
    from filters.pipeline import writers

    original = writers.JsonlZstShardFile.write
    calls = {"n": 0}

    def full_disk(self, row):
        calls["n"] += 1
        if calls["n"] > 70:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, row)

    monkeypatch.setattr(writers.JsonlZstShardFile, "write", full_disk)
    with pytest.raises(OutputError, match=r"No space left on device \(ENOSPC\).*run the same command again"):
        run_filter(inputs, tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader())
    assert not list((tmp_path / "out").rglob("*.tmp"))
    assert Manifest.load(tmp_path / "out")["status"] == "running"
    monkeypatch.setattr(writers.JsonlZstShardFile, "write", original)
    run_filter(inputs, tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader())
    assert shard_digests(tmp_path / "out") == shard_digests(reference[0])


def test_an_unwritable_output_is_a_clear_error(inputs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        run_filter(inputs[:1], blocker / "out", SETTINGS, detector_loader=FakeDetectorLoader())


def test_rethreshold_reroutes_from_stored_scores(reference, tmp_path):
    from detector.decision import Thresholds, decide

    out, manifest = reference
    new = rethreshold(out, tmp_path / "strict", suspect=0.95, ground=0.1)
    thresholds = Thresholds.from_dict(manifest["thresholds"]).with_overrides(suspect=0.95, ground=0.1)
    assert new["thresholds"]["suspect"] == 0.95 and new["rethresholded_from"]["out"] == str(out)
    before, after = assignment(out), assignment(tmp_path / "strict")
    assert set(before) == set(after)
    rows = {r["id"]: r for p, rs in read_output(tmp_path / "strict").items() for r in rs}
    changed = 0
    for key, (partition, p) in after.items():
        if partition == "quarantine":
            assert before[key][0] == "quarantine"
            continue
        meta = rows[key]["synthsieve"]
        assert partition == meta["decision"] == decide(p, meta["language"], meta["n_tokens"], thresholds)
        changed += partition != before[key][0]
    assert changed > 0
    assert new["counts"]["documents"] == manifest["counts"]["documents"]
    assert new["counts"]["stages"] == manifest["counts"]["stages"]
    # Same thresholds: the same assignment, row for row and in the same order.
    same = rethreshold(out, tmp_path / "same")
    assert read_output(tmp_path / "same") == read_output(out)
    assert same["counts"] == manifest["counts"]


def test_rethreshold_refuses_bad_requests(reference, tmp_path):
    out, _ = reference
    with pytest.raises(RethresholdError, match="must differ"):
        rethreshold(out, out)
    with pytest.raises(RethresholdError, match="no manifest"):
        rethreshold(tmp_path, tmp_path / "x")
    with pytest.raises(ValueError):
        rethreshold(out, tmp_path / "y", suspect=0.2, ground=0.5)


def test_cli_filter_and_rethreshold(inputs, reference, tmp_path, monkeypatch):
    from filters.executor import detector_loader
    from filters.cli.filter import filter_command, rethreshold_command

    monkeypatch.setattr(detector_loader.DetectorLoader, "__call__", lambda self: FakeDetector())
    runner = CliRunner()
    result = runner.invoke(filter_command, [*inputs, "--out", str(tmp_path / "out"), "--shard-size", "25",
                                            "--batch-size", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "138 documents" in result.output and "quarantine" in result.output
    assert "decided by: cheap" in result.output
    assert shard_digests(tmp_path / "out") == shard_digests(reference[0])
    result = runner.invoke(rethreshold_command, [str(tmp_path / "out"), "--suspect", "0.9", "--out",
                                                 str(tmp_path / "out2"), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["thresholds"]["suspect"] == 0.9
    result = runner.invoke(filter_command, [inputs[0], "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 1 and "refusing to mix" in result.output
    result = runner.invoke(filter_command, [str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o3")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(filter_command, [inputs[0], "--out", str(tmp_path / "o4"), "--num-perm", "100"])
    assert result.exit_code == 2 and "multiple of --bands" in result.output


def test_cli_help_reads_like_a_manual():
    from filters.cli.filter import filter_command, rethreshold_command

    runner = CliRunner()
    text = runner.invoke(filter_command, ["--help"]).output
    for needle in ("INPUT...", "quarantine", "--full", "--restart", "Exit status", "Examples", "--shingle-size",
                   "--max-bytes", "--engine [local|ray]"):
        assert needle in text
    assert "without rescoring" in runner.invoke(rethreshold_command, ["--help"]).output


def test_jobs_travel_as_plain_json_data(inputs, tmp_path):
    """What an engine hands a worker is a job's description in JSON types, and it rebuilds the same job."""
    from filters.executor.jobs import ShardJob, SignatureJob, job_from_dict, plan_shards
    from filters.pipeline.near_duplicates import MinHashSettings
    from filters.pipeline.readers import expand_inputs

    settings = FilterSettings(shard_size=7, batch_size=3, fmt="parquet", full=True, text_field="body",
                              minhash=MinHashSettings(shingle_size=3, num_perm=64, bands=32))
    sources = expand_inputs(inputs)
    signed = {s.index: {"records": 20, "signed": 18} for s in sources}
    thresholds = FakeDetector().thresholds.to_dict()
    jobs = [SignatureJob(s, str(tmp_path), settings) for s in sources]
    jobs += plan_shards(sources, signed, str(tmp_path), settings, thresholds)
    assert any(isinstance(j, ShardJob) and j.source.first_file == 14 for j in jobs)  # a slice of texts/
    for job in jobs:
        description = json.loads(json.dumps(job.to_dict()))
        assert description == job.to_dict() and description["kind"] == job.kind
        assert job_from_dict(description) == job
    with pytest.raises(ValueError):
        job_from_dict({"kind": "pickle"})
    with pytest.raises(ValueError):
        ShardJob.from_dict(jobs[0].to_dict())


def test_the_filter_never_pickles():
    import re
    from pathlib import Path

    import filters

    for path in Path(filters.__file__).parent.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+[\w.]*pickle", source, re.M), path
        assert "pickle.load" not in source, path


def test_worker_pool_never_outnumbers_its_jobs():
    from filters.executor.local_engine import pool_shape

    assert pool_shape(workers=2, jobs=1, cpus=2) == (1, 2)  # one shard: one process with both cores
    assert pool_shape(workers=2, jobs=10, cpus=2) == (2, 1)
    assert pool_shape(workers=4, jobs=3, cpus=16) == (3, 5)
    assert pool_shape(workers=8, jobs=10, cpus=2) == (8, 1)
