"""The Ray engine in a local Ray instance: the same steps, the same bytes as the local engine."""

from __future__ import annotations

import json

import pytest

from tests.helpers.fake_detector import FakeDetectorLoader
from tests.helpers.corpus import assignment, corpus_records, shard_digests, write_jsonl
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings

ray = pytest.importorskip("ray", reason="the Ray engine needs the ray extra: pip install 'ray[data]'")


def test_ray_output_is_identical_to_the_local_engine(tmp_path):
    """The engine starts (and stops) its own local Ray instance, as `--engine ray` without --address does."""
    records = corpus_records(90, seed=5)
    inputs = [str(write_jsonl(tmp_path / "a.jsonl", records[:50] + ["{bad"])),
              str(write_jsonl(tmp_path / "b.jsonl", records[50:]))]
    settings = FilterSettings(shard_size=20, batch_size=8)
    local = run_filter(inputs, tmp_path / "local", settings, detector_loader=FakeDetectorLoader(), workers=1)
    on_ray = run_filter(inputs, tmp_path / "ray", settings, detector_loader=FakeDetectorLoader(), engine="ray",
                        workers=2)
    assert on_ray["engine"] == {"name": "ray", "workers": 2}
    assert shard_digests(tmp_path / "ray") == shard_digests(tmp_path / "local")
    assert assignment(tmp_path / "ray") == assignment(tmp_path / "local")
    assert on_ray["counts"] == local["counts"] and on_ray["near_duplicates"] == local["near_duplicates"]
    assert len(on_ray["shards"]) == 5
    assert not ray.is_initialized()
    # Resuming a Ray run with the local engine (or the reverse) is the same run.
    again = run_filter(inputs, tmp_path / "ray", settings, detector_loader=FakeDetectorLoader())
    assert again["fingerprint"] == on_ray["fingerprint"]
    assert json.dumps(again["counts"]) == json.dumps(local["counts"])
