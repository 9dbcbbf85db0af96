"""What the filter writes keeps what it read: every input field (in both formats), ids with their
type, duplicate ids reported, valid JSON for any number; bad thresholds refused before any work.

The texts here are written by code (`plumbing_text`); they are used for plumbing only, never as an
example of human writing.
"""

from __future__ import annotations

import io
import json

import pytest
import zstandard
from click.testing import CliRunner

from tests.helpers.fake_detector import FakeDetectorLoader
from tests.helpers.corpus import plumbing_text, read_output, write_jsonl
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings

SETTINGS = FilterSettings(shard_size=10, batch_size=4)


def _rows_by_id(out) -> dict:
    return {row["id"]: row for partition, rows in read_output(out).items() if partition != "quarantine"
            for row in rows}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_fields_absent_from_the_first_row_are_kept(tmp_path, fmt):
    # Parquet took its schema from the first row: `url`, `date` and `meta` vanished from the shard.
    records = [{"id": "plain", "text": plumbing_text(1)},
               {"id": "rich", "text": plumbing_text(2), "url": "http://a.example/x", "date": "2021-01-02",
                "meta": {"lang_hint": "en", "rank": 3}}]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    run_filter([str(path)], tmp_path / "out", FilterSettings(shard_size=10, batch_size=4, fmt=fmt),
               detector_loader=FakeDetectorLoader())
    rich = _rows_by_id(tmp_path / "out")["rich"]
    assert rich["url"] == "http://a.example/x"
    assert rich["date"] == "2021-01-02"
    assert rich["meta"] == {"lang_hint": "en", "rank": 3}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_input_fields_that_clash_with_row_names_are_kept(tmp_path, fmt):
    # With --text-field content an input field `text` was replaced by the content, and a field named
    # `synthsieve` (an earlier run's output filtered again) was dropped.
    record = {"id": "a", "content": plumbing_text(3), "text": "the input's own text field",
              "synthsieve": {"p_machine": 0.5, "decision": "uncertain"}, "lang": "en"}
    path = write_jsonl(tmp_path / "in.jsonl", [record])
    run_filter([str(path)], tmp_path / "out",
               FilterSettings(shard_size=10, batch_size=4, fmt=fmt, text_field="content"),
               detector_loader=FakeDetectorLoader())
    row = _rows_by_id(tmp_path / "out")["a"]
    assert row["text"] == record["content"] and row["lang"] == "en"
    displaced = row["synthsieve"]["displaced_fields"]
    assert displaced == {"text": record["text"], "synthsieve": record["synthsieve"]}
    assert 0.0 <= row["synthsieve"]["p_machine"] <= 1.0


def test_ids_keep_their_type_and_shared_ids_are_reported(tmp_path):
    lines = [{"id": 1, "text": plumbing_text(10)}, {"id": "1", "text": plumbing_text(11)},
             {"id": "twice", "text": plumbing_text(12)}, {"id": "twice", "text": plumbing_text(13)},
             {"id": "once", "text": plumbing_text(14)}]
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    manifest = run_filter([str(path)], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader())
    rows = [row for partition, rows in read_output(tmp_path / "out").items() for row in rows]
    ids = sorted((type(r["id"]).__name__, r["id"]) for r in rows)
    assert ids == [("int", 1), ("str", "1"), ("str", "once"), ("str", "twice"), ("str", "twice")]
    marked = sorted(str(r["id"]) for r in rows if r["synthsieve"].get("duplicate_id"))
    assert marked == ["twice", "twice"]  # 1 and "1" are different ids
    assert manifest["counts"]["duplicate_ids"] == 2
    assert manifest["near_duplicates"]["duplicate_ids"] == {"ids": 1, "documents": 2}


def test_non_finite_numbers_are_written_as_valid_json(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "n", "text": %s, "score": NaN, "hi": Infinity, "lo": [-Infinity, 1.5]}\n'
                    % json.dumps(plumbing_text(20)))
    run_filter([str(path)], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    shard = [item["path"] for s in manifest["shards"] for item in s["files"]][0]

    def refuse(name):
        raise ValueError(f"bare {name} is not JSON")

    with open(tmp_path / "out" / shard, "rb") as handle:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(handle), encoding="utf-8").read()
    row = json.loads(text.splitlines()[0], parse_constant=refuse)
    assert (row["score"], row["hi"], row["lo"]) == ("NaN", "Infinity", ["-Infinity", 1.5])


def test_the_cheap_stage_never_flags_even_under_user_thresholds(tmp_path):
    # With --suspect 0.2 --ground 0.1 a confident cheap score of 0.9 used to flag a document alone.
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": plumbing_text(100 + i)} for i in range(60)])
    manifest = run_filter([str(path)], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(),
                          suspect=0.2, ground=0.1)
    rows = [row for rows in read_output(tmp_path / "out").values() for row in rows]
    cheap = [r["synthsieve"] for r in rows if r["synthsieve"]["decided_by"] == "cheap"]
    flagged = [r["synthsieve"] for r in rows if r["synthsieve"]["decision"] == "suspected_synthetic"]
    assert cheap, "the fake detector's cheap stage is confident on some documents"
    assert flagged, "the LM stage still flags under these thresholds"
    assert all(meta["decided_by"] == "lm" for meta in flagged)
    assert manifest["counts"]["stages"]["cheap"] == len(cheap)


def test_run_filter_refuses_bad_thresholds_without_leaving_an_output_directory(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": plumbing_text(1)}])
    with pytest.raises(ValueError, match="ground"):
        run_filter([str(path)], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(), ground=0.9)
    assert not (tmp_path / "out").exists()


def test_cli_filter_bad_thresholds_are_a_usage_error_before_the_model_loads(tmp_path, monkeypatch):
    from detector.decision import Thresholds
    from filters.cli import cli
    from filters.executor.detector_loader import DetectorLoader

    def no_model(self):
        raise AssertionError("the model must not be loaded for a usage error")

    monkeypatch.setattr(DetectorLoader, "__call__", no_model)
    stored = DetectorLoader().stored_thresholds()
    assert isinstance(stored, Thresholds)  # read from the shipped model.json alone
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": plumbing_text(1)}])
    result = CliRunner().invoke(cli, ["filter", str(path), "--out", str(tmp_path / "out"),
                                      "--ground", str(min(1.0, stored.suspect + 0.001))])
    assert result.exit_code == 2, result.output
    assert "ground" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()



def test_a_suspect_threshold_below_ground_lowers_ground_and_says_so(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": plumbing_text(1)}])
    manifest = run_filter([str(path)], tmp_path / "out", SETTINGS, detector_loader=FakeDetectorLoader(), suspect=0.2)
    assert manifest["thresholds"]["ground"] == manifest["thresholds"]["suspect"] == 0.2
    assert "lowered from 0.3 to 0.2" in manifest["thresholds_note"]


def test_an_output_directory_held_by_another_run_is_refused_before_the_model_loads(tmp_path):
    from filters.store.atomic import OutputError
    from filters.store.state import RunState

    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": plumbing_text(1)}])
    holder = RunState(tmp_path / "out")
    holder.prepare()
    holder.lock()
    loads = []
    try:
        with pytest.raises(OutputError, match="another synthsieve run"):
            run_filter([str(path)], tmp_path / "out", SETTINGS, detector_loader=lambda: loads.append(1))
    finally:
        holder.unlock()
    assert loads == []
