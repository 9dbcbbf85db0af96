"""The datatrove steps: same scores and decisions as `synthsieve filter`, dropped documents in the
exclusion writer with their reason, the annotator drops nothing, and the README's pipeline runs under
LocalPipelineExecutor."""

from __future__ import annotations

import gzip
import json
import copy
from pathlib import Path

import pytest

from tests.helpers.integrations import assert_same_decisions

pytest.importorskip("datatrove", reason="the datatrove extra is not installed (pip install datatrove)")

from datatrove.data import Document  # noqa: E402
from datatrove.executor import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter  # noqa: E402

from filters.integrations.datatrove import SynthsieveAnnotator, SynthsieveFilter  # noqa: E402


def _written(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle)
    return rows


def _run(pipeline, logging_dir: Path):
    return LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1, logging_dir=str(logging_dir)).run()


def test_filter_pipeline_matches_synthsieve_filter_and_excludes_the_flagged(
        tmp_path, tiny_options, small_corpus_file, filter_rows, spread_thresholds):
    kept_dir, excluded_dir = tmp_path / "kept", tmp_path / "excluded"
    stats = _run([
        JsonlReader(str(small_corpus_file.parent)),
        SynthsieveFilter(exclusion_writer=JsonlWriter(str(excluded_dir)), reference_model=tiny_options.reference_model,
                         token_cap=tiny_options.token_cap, **spread_thresholds),
        JsonlWriter(str(kept_dir)),
    ], tmp_path / "logs")

    kept, excluded = _written(kept_dir), _written(excluded_dir)
    annotations = {row["id"]: row["metadata"]["synthsieve"] for row in kept + excluded}
    assert_same_decisions(filter_rows, annotations)

    flagged = {key for key, row in filter_rows.items() if row["decision"] == "suspected_synthetic"}
    assert flagged and len(flagged) < len(filter_rows), "the thresholds should flag some documents, not all"
    assert {row["id"] for row in excluded} == flagged
    assert all(row["metadata"]["filter_reason"] == "suspected_synthetic" for row in excluded)
    assert all(row["metadata"]["synthsieve"]["reasons"] for row in excluded), "the evidence goes with them"
    assert {row["id"] for row in kept} == set(filter_rows) - flagged
    # The records' own metadata is kept beside synthsieve's.
    assert all(row["metadata"]["meta"]["n"] == int(row["id"].split("-")[1]) for row in kept + excluded)

    # Which model and thresholds judged each record travels with it.
    for row in kept + excluded:
        model = row["metadata"]["synthsieve_model"]
        assert model["ground"] == pytest.approx(spread_thresholds["ground"])
        assert model["suspect"] == pytest.approx(spread_thresholds["suspect"])
        assert model["model_id"] and len(model["model_hash"]) == 64 and model["token_cap"] == 64

    filter_stats = json.loads((tmp_path / "logs" / "stats.json").read_text())[1]["stats"]
    assert filter_stats["dropped_suspected_synthetic"] == len(flagged)
    assert filter_stats["synthsieve_suspected_synthetic"] == len(flagged)
    assert stats is not None
    log = "".join(p.read_text() for p in (tmp_path / "logs" / "logs").glob("*.log"))
    assert "synthsieve (task 0): model" in log and "suspect" in log


def test_annotator_drops_nothing_and_writes_the_same_objects(tmp_path, tiny_options, small_corpus_file,
                                                             filter_rows, spread_thresholds):
    out_dir = tmp_path / "annotated"
    _run([
        JsonlReader(str(small_corpus_file.parent)),
        SynthsieveAnnotator(reference_model=tiny_options.reference_model, token_cap=tiny_options.token_cap,
                            batch_size=5, **spread_thresholds),
        JsonlWriter(str(out_dir)),
    ], tmp_path / "logs")
    rows = _written(out_dir)
    assert len(rows) == len(filter_rows)
    # batch_size 5 against the filter's 32: the same scores, since each document is scored on its own.
    assert_same_decisions(filter_rows, {row["id"]: row["metadata"]["synthsieve"] for row in rows})
    assert "filter_reason" not in json.dumps(rows)


def test_the_comparisons_cover_both_stages_of_the_cascade(filter_rows):
    assert {row["decided_by"] for row in filter_rows.values()} == {"cheap", "lm"}


def test_texts_the_filter_would_quarantine_are_annotated_and_kept(tiny_options):
    step = SynthsieveFilter(reference_model=tiny_options.reference_model, token_cap=tiny_options.token_cap)
    docs = [Document(text="", id="empty"), Document(text="\u200b \n", id="invisible"),
            Document(text="a\x00b" * 40, id="binary")]
    results = step.filter_batch(docs)
    assert results == [True, True, True]
    reasons = [doc.metadata["synthsieve"]["quarantine"]["reason"] for doc in docs]
    assert reasons == ["empty", "empty", "binary"]
    assert all(doc.metadata["synthsieve"]["decision"] == "quarantine" for doc in docs)
    assert all(doc.metadata["synthsieve"]["p_machine"] is None for doc in docs)


def test_steps_travel_as_their_options(tiny_options):
    step = SynthsieveFilter(reference_model=tiny_options.reference_model, token_cap=tiny_options.token_cap)
    step.filter_batch([Document(text="", id="x")])  # loads (from the process's cache) and keeps the annotator
    assert step._annotator is not None
    # LocalPipelineExecutor deep-copies the pipeline for each task (and pickles it for worker processes,
    # through the same __getstate__): the copy carries the options, not the loaded model.
    copied = copy.deepcopy(step)
    assert copied._annotator is None and copied.options == step.options


def test_unknown_options_are_named():
    with pytest.raises(TypeError, match="reference_modle"):
        SynthsieveAnnotator(reference_modle="/somewhere")
    with pytest.raises(ValueError, match="suspect"):
        SynthsieveFilter(suspect=1.5)


def test_worker_processes_load_their_own_detector_and_decide_the_same(tmp_path, tiny_options, small_records,
                                                                      filter_rows, spread_thresholds):
    from tests.helpers.corpus import write_jsonl

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    half = len(small_records) // 2
    write_jsonl(corpus / "a.jsonl", small_records[:half])
    write_jsonl(corpus / "b.jsonl", small_records[half:])
    out_dir = tmp_path / "annotated"
    # Two tasks in two worker processes (forkserver): each step arrives pickled, as its options.
    LocalPipelineExecutor(pipeline=[
        JsonlReader(str(corpus)),
        SynthsieveAnnotator(reference_model=tiny_options.reference_model, token_cap=tiny_options.token_cap,
                            **spread_thresholds),
        JsonlWriter(str(out_dir)),
    ], tasks=2, workers=2, logging_dir=str(tmp_path / "logs")).run()
    rows = _written(out_dir)
    assert len(rows) == len(filter_rows) and len(list(out_dir.glob("*.jsonl.gz"))) == 2
    assert_same_decisions(filter_rows, {row["id"]: row["metadata"]["synthsieve"] for row in rows})
