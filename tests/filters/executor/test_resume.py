"""Kill -9 a real filter process at several points of its crash-safety protocol, run the same command
again, and get exactly the output of an uninterrupted run."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.fake_detector import FakeDetectorLoader
from tests.helpers.corpus import assignment, corpus_records, shard_digests, write_jsonl
from filters.store.manifest import Manifest
from filters.store.output import iter_rows
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from tests.helpers import ROOT

RUNNER = ["-m", "tests.helpers.filter_runner"]  # run in the repository root (cwd=ROOT)
SHARD_SIZE = 40


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume-inputs")
    records = corpus_records(160, seed=3)
    write_jsonl(root / "a.jsonl", records[:100] + ["{broken json", json.dumps({"id": "empty", "text": ""})])
    with gzip.open(root / "b.jsonl.gz", "wt") as handle:
        for record in records[100:]:
            handle.write(json.dumps(record) + "\n")
    return [str(root / "a.jsonl"), str(root / "b.jsonl.gz")]


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    run_filter(corpus, out, FilterSettings(shard_size=SHARD_SIZE, batch_size=8), detector_loader=FakeDetectorLoader())
    return out


def runner(out, inputs, *extra):
    return [sys.executable, *RUNNER, str(out), *inputs, "--shard-size", str(SHARD_SIZE), *extra]


def assert_same_as_uninterrupted(out, reference):
    assert Manifest.load(out)["status"] == "complete"
    assert assignment(out) == assignment(reference)
    assert shard_digests(out) == shard_digests(reference)
    assert not list(out.rglob("*.tmp"))
    listed = set(shard_digests(out))
    assert {str(p.relative_to(out)) for p in out.glob("*/part-*")} == listed  # no stray shard files


def assert_nothing_partial_is_listed(out):
    manifest = Manifest.load(out)
    if manifest is None:
        return
    assert manifest["status"] == "running"
    for shard in manifest["shards"]:
        for item in shard["files"]:
            assert len(list(iter_rows(out / item["path"]))) == item["rows"]


@pytest.mark.parametrize("kill", ["sign:50", "cluster:1", "lm:3", "publish:2", "done:2"])
def test_resume_after_kill_at_protocol_points(kill, corpus, uninterrupted, tmp_path):
    out = tmp_path / "out"
    killed = subprocess.run(runner(out, corpus, "--kill", kill), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert_nothing_partial_is_listed(out)
    if kill == "publish:2":  # a published file whose shard has no record yet: redone, not trusted
        assert list(out.glob("*/part-00000-00000.*"))
        assert not (out / ".synthsieve" / "shards" / "00000-00000.json").exists()
    again = subprocess.run(runner(out, corpus), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert_same_as_uninterrupted(out, uninterrupted)


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_after_an_outside_kill(workers, corpus, uninterrupted, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(runner(out, corpus, "--delay", "0.05", "--workers", str(workers)), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = out / ".synthsieve" / "shards"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if shards.is_dir() and len(list(shards.glob("*.json"))) >= 1:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(0.5)  # orphaned workers die with their parent (PR_SET_PDEATHSIG)
    done_before = len(list(shards.glob("*.json")))
    assert 1 <= done_before < 5
    assert_nothing_partial_is_listed(out)
    again = subprocess.run(runner(out, corpus, "--workers", str(workers)), cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert_same_as_uninterrupted(out, uninterrupted)
