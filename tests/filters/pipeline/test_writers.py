"""The shard writers keep every row whole, in both formats: a row read back (by `iter_rows`, the one
reader) is the row that was written, through any number of rethresholds; rows no writer could encode
(empty objects in Parquet, lone surrogates in either format) are written instead of killing the run.

The texts here are written by code (`plumbing_text`); they are used for plumbing only, never as an
example of human writing.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.corpus import plumbing_text, read_output, write_jsonl
from tests.helpers.fake_detector import FakeDetectorLoader
from filters.executor.rethreshold import rethreshold
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings
from filters.store.manifest import Manifest
from filters.store.output import iter_rows

pytest.importorskip("pyarrow")


def _settings(fmt: str, **extra) -> FilterSettings:
    return FilterSettings(shard_size=10, batch_size=4, fmt=fmt, **extra)


def _rows(out) -> list[dict]:
    return [row for partition, rows in read_output(out).items() if partition != "quarantine" for row in rows]


def _by_id(out) -> dict:
    """Rows keyed by (type name, id): the integer 1 and the string "1" are two ids."""
    rows = {}
    for row in _rows(out):
        key = (type(row["id"]).__name__, row["id"])
        assert key not in rows, f"{key} is written twice"
        rows[key] = row
    return rows


def _mixed_records(n: int = 40) -> list[dict]:
    """Ids of both JSON types, and (with --text-field content) input fields that clash with the row's
    own names, so they are displaced: a `text` field on every third record, a `synthsieve` one on every
    fourth."""
    records = []
    for i in range(n):
        record = {"id": i if i % 3 == 0 else f"a{i}", "content": plumbing_text(300 + i)}
        if i % 3 == 1:
            record["text"] = f"the input's own text field {i}"
        if i % 4 == 0:
            record["synthsieve"] = {"old": i, "decision": "uncertain"}
        records.append(record)
    return records


def _displaced(record: dict):
    return {k: record[k] for k in ("text", "synthsieve") if k in record} or None


def _assert_ids_and_displaced(out, records):
    rows = _by_id(out)
    expected = {(type(r["id"]).__name__, r["id"]): _displaced(r) for r in records}
    assert {key: row["synthsieve"].get("displaced_fields") for key, row in rows.items()} == expected


def test_parquet_rethresholded_twice_keeps_ids_and_displaced_fields(tmp_path):
    # rethreshold encoded `displaced_fields` once more on every pass (and wrote 'null' where nothing was
    # displaced), and ids kept as JSON text in a mixed-type shard ('"a1"') went back as plain strings.
    records = _mixed_records()
    path = write_jsonl(tmp_path / "in.jsonl", records)
    run_filter([str(path)], tmp_path / "out", _settings("parquet", text_field="content"),
               detector_loader=FakeDetectorLoader())
    _assert_ids_and_displaced(tmp_path / "out", records)
    rethreshold(tmp_path / "out", tmp_path / "once", suspect=0.5, ground=0.45)
    rethreshold(tmp_path / "once", tmp_path / "twice", suspect=0.9, ground=0.1)
    moved = {key: row["synthsieve"]["decision"] for key, row in _by_id(tmp_path / "once").items()}
    assert moved != {key: row["synthsieve"]["decision"] for key, row in _by_id(tmp_path / "twice").items()}
    for out in (tmp_path / "once", tmp_path / "twice"):
        _assert_ids_and_displaced(out, records)
    original = _by_id(tmp_path / "out")
    for key, row in _by_id(tmp_path / "twice").items():
        assert {k: v for k, v in row.items() if k != "synthsieve"} == \
            {k: v for k, v in original[key].items() if k != "synthsieve"}


def _without_nulls(value):
    """A row with every null-valued key dropped: Parquet has no missing key (a row lacking a field of its
    shard reads back with None there), so that is the one difference allowed between the formats."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_parquet_rows_read_back_as_the_jsonl_rows(tmp_path):
    records = _mixed_records(30)
    for i, record in enumerate(records):
        if i % 5 == 0:
            record["meta"] = {"rank": i, "tags": ["x", "y"], "nested": {"deep": f"é{i}"}}
        elif i % 5 == 1:
            record["meta"] = {"other": True}
        if i % 2:
            record["mixed"] = i if i % 4 == 1 else f"text {i}"  # a number here, text there
        if i == 7:
            record["meta"] = {"empty": {}, "list_of_empty": [{}]}
            record["url"] = "http://x.example/\ud800"
    path = write_jsonl(tmp_path / "in.jsonl", records)
    outs = {}
    for fmt in ("jsonl", "parquet"):
        outs[fmt] = tmp_path / fmt
        run_filter([str(path)], outs[fmt], _settings(fmt, text_field="content"),
                   detector_loader=FakeDetectorLoader())
    jsonl, parquet = read_output(outs["jsonl"]), read_output(outs["parquet"])
    assert {p: len(rows) for p, rows in jsonl.items()} == {p: len(rows) for p, rows in parquet.items()}
    for partition in jsonl:
        assert [_without_nulls(r) for r in parquet[partition]] == [_without_nulls(r) for r in jsonl[partition]]
    # and shard by shard, file by file
    manifests = {fmt: Manifest.load(out) for fmt, out in outs.items()}
    for left, right in zip(manifests["jsonl"]["shards"], manifests["parquet"]["shards"]):
        for a, b in zip(left["files"], right["files"]):
            assert [_without_nulls(r) for r in iter_rows(outs["parquet"] / b["path"])] == \
                [_without_nulls(r) for r in iter_rows(outs["jsonl"] / a["path"])]


@pytest.mark.parametrize("meta", [{}, {"a": {}}, {"a": [{}], "b": 1}, {"a": {"b": {}}, "c": [1]}, [{}]],
                         ids=["empty", "nested", "in-a-list", "deep", "list"])
def test_empty_objects_are_written_to_parquet(tmp_path, meta):
    # pyarrow cannot write a struct with no fields: the run died, and stayed `running` on every rerun.
    records = [{"id": f"e{i}", "text": plumbing_text(400 + i), **({"meta": meta} if i % 2 else {})}
               for i in range(6)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    manifest = run_filter([str(path)], tmp_path / "out", _settings("parquet"), detector_loader=FakeDetectorLoader())
    assert manifest["status"] == "complete"
    expected = {r["id"]: r.get("meta") for r in records}  # a row without `meta` reads back None there
    assert {key[1]: row.get("meta") for key, row in _by_id(tmp_path / "out").items()} == expected
    again = rethreshold(tmp_path / "out", tmp_path / "again", suspect=0.5, ground=0.45)
    assert again["status"] == "complete"
    assert {key[1]: row.get("meta") for key, row in _by_id(tmp_path / "again").items()} == expected


def test_an_all_empty_object_column_is_written_to_parquet(tmp_path):
    records = [{"id": f"e{i}", "text": plumbing_text(450 + i), "meta": {}} for i in range(4)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    run_filter([str(path)], tmp_path / "out", _settings("parquet"), detector_loader=FakeDetectorLoader())
    assert all(row["meta"] == {} for row in _rows(tmp_path / "out"))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_lone_surrogates_in_fields_are_written(tmp_path, fmt):
    # A JSON escape like "\ud800" reads back as a lone surrogate, which UTF-8 cannot encode: the JSON
    # Lines writer (encoding the dumped line) and the Parquet writer both died, on every rerun.
    records = [{"id": f"s{i}", "text": plumbing_text(500 + i), "url": f"http://x.example/{i}"} for i in range(6)]
    records[1]["url"] = "http://x.example/\ud800"
    records[2]["id"] = "id-\udc80"
    records[3]["meta"] = {"k\udfff": ["\ud83d", "é"], "n": 1}
    records[4]["\ud800key"] = "value"
    records[5]["synthsieve"] = {"old": "\udbff"}  # displaced, so inside the `synthsieve` column
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="ascii")  # \uXXXX escapes
    manifest = run_filter([str(path)], tmp_path / "out", _settings(fmt), detector_loader=FakeDetectorLoader())
    assert manifest["status"] == "complete" and manifest["counts"]["partitions"]["quarantine"] == 0

    def check(out):
        rows = {row["id"]: row for row in _rows(out)}
        assert set(rows) == {r["id"] for r in records}
        for record in records:
            row = rows[record["id"]]
            for key, value in record.items():
                if key == "synthsieve":
                    assert row["synthsieve"]["displaced_fields"] == {"synthsieve": value}
                elif key != "text":
                    assert row[key] == value, key

    check(tmp_path / "out")
    rethreshold(tmp_path / "out", tmp_path / "again", suspect=0.5, ground=0.45)
    check(tmp_path / "again")


def test_ordinary_jsonl_lines_keep_their_utf8_text(tmp_path):
    # Only a row UTF-8 cannot encode is written with \u escapes; every other row keeps its characters.
    records = [{"id": "plain", "text": plumbing_text(600), "title": "café ünïcode"},
               {"id": "odd", "text": plumbing_text(601), "title": "café \ud800"}]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    run_filter([str(path)], tmp_path / "out", _settings("jsonl"), detector_loader=FakeDetectorLoader())
    import io

    import zstandard

    lines = []
    for shard in Manifest.load(tmp_path / "out")["shards"]:
        for item in shard["files"]:
            with open(tmp_path / "out" / item["path"], "rb") as handle:
                reader = zstandard.ZstdDecompressor().stream_reader(handle)
                lines.extend(io.TextIOWrapper(reader, encoding="utf-8").read().splitlines())
    plain = next(line for line in lines if '"plain"' in line)
    odd = next(line for line in lines if '"odd"' in line)
    assert "café ünïcode" in plain
    assert "\\ud800" in odd and odd.isascii()


def test_parquet_shard_file_round_trips_awkward_rows(tmp_path):
    # Straight through the writer and the reader: the whole `synthsieve` column as JSON text (a file
    # name UTF-8 cannot encode), a field whose name holds a dot and looks like a nested path, and field
    # names UTF-8 cannot encode beside one already spelled like their escaped form.
    from filters.pipeline.writers import ParquetShardFile

    rows = [
        {"id": 1, "text": "a", "synthsieve.displaced_fields": "x", "\ud800": 1, "\\ud800": "literal",
         "synthsieve": {"p_machine": 0.5, "source": {"file": "caf\udce9.jsonl", "line": 0},
                        "displaced_fields": {"synthsieve": {"old": 1}}}},
        {"id": "b", "text": "b", "synthsieve.displaced_fields": 2, "\ud800": None, "\\ud800": "again",
         "synthsieve": {"p_machine": 0.25, "source": {"file": "plain.jsonl", "line": 1}}},
    ]
    shard = ParquetShardFile(tmp_path / "part-00000.parquet")
    for row in rows:
        shard.write(row)
    shard.commit()
    back = list(iter_rows(tmp_path / "part-00000.parquet"))
    assert back == rows  # JSON text, each value alone: no key appears that a row lacked
    assert [list(row) for row in back] == [list(row) for row in rows]  # the fields' order too


def test_ordinary_parquet_shards_carry_no_extra_metadata(tmp_path):
    # Shards with nothing stored as JSON text are written exactly as before (their digests are compared
    # between engines and runs).
    import pyarrow.parquet as pq

    from filters.pipeline.writers import ParquetShardFile

    shard = ParquetShardFile(tmp_path / "part-00000.parquet")
    shard.write({"id": "a", "text": "t", "meta": {"n": 1}, "synthsieve": {"p_machine": 0.5}})
    shard.commit()
    metadata = pq.ParquetFile(tmp_path / "part-00000.parquet").schema_arrow.metadata or {}
    assert not [key for key in metadata if key.startswith(b"synthsieve.")]


def test_parquet_shards_written_before_the_metadata_read_back_decoded(tmp_path):
    # Older shards have no `synthsieve.json_columns`: their `displaced_fields` was always JSON text.
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": "a", "synthsieve": {"p_machine": 0.5, "displaced_fields": '{"text": "own"}'}},
            {"id": "b", "synthsieve": {"p_machine": 0.5, "displaced_fields": None}}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "part-00000.parquet")
    back = list(iter_rows(tmp_path / "part-00000.parquet"))
    assert [row["synthsieve"]["displaced_fields"] for row in back] == [{"text": "own"}, None]
