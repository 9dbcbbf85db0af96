"""The `datasets` map: same scores and decisions as `synthsieve filter`, fixed column types, the
dataset's own columns untouched."""

from __future__ import annotations

import pytest

from tests.helpers.integrations import assert_same_decisions

datasets = pytest.importorskip("datasets", reason="the datasets extra is not installed (pip install datasets)")

from filters.integrations.hf_datasets import (MODEL_COLUMN, SYNTHSIEVE_COLUMN, SynthsieveMap,  # noqa: E402
                                              make_synthsieve_map, synthsieve_map)


@pytest.fixture(scope="module")
def tiny_map(tiny_options, tiny_detector, spread_thresholds) -> SynthsieveMap:
    return make_synthsieve_map(reference_model=tiny_options.reference_model, token_cap=tiny_options.token_cap,
                               **spread_thresholds)


def test_map_matches_synthsieve_filter(tiny_map, small_records, filter_rows, spread_thresholds):
    dataset = datasets.Dataset.from_list(small_records)
    mapped = dataset.map(tiny_map, batched=True)

    assert mapped.column_names == dataset.column_names + [SYNTHSIEVE_COLUMN, MODEL_COLUMN]
    assert mapped.select_columns(dataset.column_names).to_list() == dataset.to_list()
    annotations = {row["id"]: row[SYNTHSIEVE_COLUMN] for row in mapped}
    assert_same_decisions(filter_rows, annotations)
    assert {row["decision"] for row in annotations.values()} == {"grounded", "uncertain", "suspected_synthetic"}
    models = mapped[MODEL_COLUMN]
    assert all(m == models[0] for m in models)
    assert models[0]["ground"] == pytest.approx(spread_thresholds["ground"])
    assert models[0]["suspect"] == pytest.approx(spread_thresholds["suspect"])


def test_a_first_batch_of_only_quarantined_texts_leaves_the_column_types_fixed(tiny_map, small_records):
    records = [{"id": "empty", "text": ""}, {"id": "none", "text": None}] + [
        {"id": r["id"], "text": r["text"]} for r in small_records[:3]]
    mapped = datasets.Dataset.from_list(records).map(tiny_map, batched=True, batch_size=2)
    rows = {row["id"]: row[SYNTHSIEVE_COLUMN] for row in mapped}
    assert rows["empty"]["quarantine"]["reason"] == "empty"
    assert rows["none"]["quarantine"]["reason"] == "no_text"
    assert rows["empty"]["decision"] == "quarantine" and rows["empty"]["p_machine"] is None
    scored = rows[small_records[0]["id"]]
    assert isinstance(scored["p_machine"], float) and scored["quarantine"] is None and scored["reasons"]
    assert mapped.features[SYNTHSIEVE_COLUMN]["p_machine"].dtype == "float64"


def test_dates_come_from_the_date_column(tiny_map, small_records):
    records = [{"text": small_records[0]["text"], "date": "2021-03-04T05:06:07Z"}]
    row = datasets.Dataset.from_list(records).map(tiny_map, batched=True)[0]
    assert row[SYNTHSIEVE_COLUMN]["date"] == "2021-03-04T05:06:07+00:00"


def test_misuse_is_explained(tiny_map):
    dataset = datasets.Dataset.from_list([{"content": "a"}])
    with pytest.raises(KeyError, match="text_column"):
        dataset.map(tiny_map, batched=True)
    with pytest.raises(TypeError, match="batched=True"):
        datasets.Dataset.from_list([{"text": "a"}]).map(tiny_map)
    with pytest.raises(TypeError, match="tokencap"):
        make_synthsieve_map(tokencap=64)


def test_the_default_map_uses_the_shipped_model_and_holds_only_options():
    from detector.detector import DEFAULT_MODEL_DIR, sha256_file

    assert synthsieve_map.options == make_synthsieve_map().options
    assert synthsieve_map.options.model_dir is None and synthsieve_map.options.suspect is None
    # datasets fingerprints the map function by pickling it: the model's hash is part of what it sees.
    assert synthsieve_map.model_json_sha256 == sha256_file(DEFAULT_MODEL_DIR / "model.json")
    assert set(vars(synthsieve_map)) == {"options", "text_column", "date_column", "model_json_sha256"}


def test_a_clean_first_batch_then_a_quarantined_text_keeps_the_column_types(tiny_map, small_records):
    records = [{"id": r["id"], "text": r["text"]} for r in small_records[:2]] + [{"id": "empty", "text": " "}]
    mapped = datasets.Dataset.from_list(records).map(tiny_map, batched=True, batch_size=2)
    assert mapped[2][SYNTHSIEVE_COLUMN]["quarantine"] == {"reason": "empty", "detail": mapped[2][SYNTHSIEVE_COLUMN]["quarantine"]["detail"]}
    assert mapped[0][SYNTHSIEVE_COLUMN]["quarantine"] is None


def test_annotating_again_replaces_the_columns_and_plain_dict_batches_get_lists(tiny_map, small_records):
    dataset = datasets.Dataset.from_list([{"text": small_records[0]["text"]}])
    once = dataset.map(tiny_map, batched=True)
    twice = once.map(tiny_map, batched=True)
    assert twice.column_names == once.column_names and twice[0] == once[0]
    plain = tiny_map({"text": [small_records[0]["text"]]})
    assert plain[SYNTHSIEVE_COLUMN] == [once[0][SYNTHSIEVE_COLUMN]]
