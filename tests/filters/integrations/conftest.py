"""One detector for every integration test: the shipped classifiers over the tiny random reference LM
(tests/conftest.py), loaded once into the integrations' per-process cache, so the datatrove steps, the
`datasets` map and `synthsieve filter` all score with the very same object.

The corpus is machine-made plumbing text (tests/helpers/corpus.py): the tests compare the paths with
each other, never claim a text is human.
"""

from __future__ import annotations

import pytest

from tests.helpers.corpus import corpus_records, plumbing_text


@pytest.fixture(scope="session")
def tiny_options(tiny_reference_model):
    from filters.integrations.annotator import SynthsieveOptions

    return SynthsieveOptions(reference_model=str(tiny_reference_model), token_cap=64)


@pytest.fixture(scope="session")
def tiny_detector(tiny_options):
    from filters.integrations.annotator import loaded_detector

    return loaded_detector(tiny_options.loader)


@pytest.fixture(scope="session")
def small_records() -> list[dict]:
    """Twelve distinct texts (no near-duplicates: each is its own cluster in the filter too) and three
    too short for the LM to judge, which the cheap stage decides alone; all with ids."""
    short = [{"id": f"short-{i}", "text": " ".join(plumbing_text(500 + i).split()[:3]) + ".", "meta": {"n": i}}
             for i in range(3)]
    return corpus_records(12, seed=7, families=0) + short


@pytest.fixture(scope="session")
def spread_thresholds(tiny_options, tiny_detector, small_records) -> dict:
    """`suspect` and `ground` overrides that split the small corpus into all three decisions under the
    tiny LM (whose scores say nothing about origin), so that the comparisons cover each of them. Set on
    the long texts' scores only: the short ones are `uncertain` whatever they score, so a cut-off set
    among their scores could leave a decision with no document."""
    from filters.integrations.annotator import SynthsieveOptions, annotator_for

    full = annotator_for(SynthsieveOptions(reference_model=tiny_options.reference_model,
                                           token_cap=tiny_options.token_cap, full=True))
    long_texts = [r["text"] for r in small_records if not r["id"].startswith("short-")]
    scores = sorted(s["p_machine"] for s in full.annotate(long_texts))
    ground = (scores[2] + scores[3]) / 2
    suspect = (scores[-4] + scores[-3]) / 2
    assert ground < suspect
    return {"ground": ground, "suspect": suspect}


@pytest.fixture(scope="session")
def small_corpus_file(tmp_path_factory, small_records):
    from tests.helpers.corpus import write_jsonl

    directory = tmp_path_factory.mktemp("small-corpus")
    return write_jsonl(directory / "part-0.jsonl", small_records)


@pytest.fixture(scope="session")
def filter_rows(tmp_path_factory, tiny_options, tiny_detector, small_corpus_file, spread_thresholds) -> dict:
    """id -> the `synthsieve` object `synthsieve filter` wrote for it, run with the same detector and
    thresholds as the integrations (every record lands in a scored partition)."""
    from filters.executor.run import run_filter
    from filters.executor.settings import FilterSettings
    from tests.helpers.corpus import read_output

    out = tmp_path_factory.mktemp("filter-run") / "out"
    run_filter([str(small_corpus_file)], out, FilterSettings(), detector_loader=tiny_options.loader,
               detector=tiny_detector, **spread_thresholds)
    rows = {row["id"]: row["synthsieve"] for partition, part in read_output(out).items() for row in part}
    assert not read_output(out)["quarantine"]
    return rows

