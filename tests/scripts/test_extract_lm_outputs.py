"""Which planned documents scripts/extract_lm_outputs.py runs the LM over (made-up plan rows; no LM)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "extract_lm_outputs.py"
_spec = importlib.util.spec_from_file_location("extract_lm_outputs", SCRIPT)
extract_script = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, extract_script)
_spec.loader.exec_module(extract_script)

PLAN = [
    {"id": "1", "language": "en", "source": "org/bench:file_a", "set": "train:all"},
    {"id": "2", "language": "zh", "source": "org/bench/sub:file_b", "set": "train:all"},
    {"id": "3", "language": "en", "source": "other/repo", "set": "modern:train"},
    {"id": "4", "set": "human_pool:all", "source": "debian"},  # no language
]


def ids(rows):
    return [row["id"] for row in rows]


def test_without_filters_the_whole_plan_in_its_order():
    assert ids(extract_script.select_documents(PLAN, None, None)) == ["1", "2", "3", "4"]


def test_sources_are_matched_by_repository_and_combine_with_languages():
    assert ids(extract_script.select_documents(PLAN, None, "org/bench")) == ["1", "2"]
    assert ids(extract_script.select_documents(PLAN, "en", " org/bench , debian")) == ["1"]
    assert ids(extract_script.select_documents(PLAN, None, "debian,other/repo")) == ["3", "4"]


def test_a_filter_that_keeps_nothing_is_an_error():
    with pytest.raises(click.BadParameter, match="no planned document"):
        extract_script.select_documents(PLAN, "ru", None)
    with pytest.raises(click.BadParameter, match="nobody/else"):
        extract_script.select_documents(PLAN, "en", "nobody/else")


def test_an_option_given_empty_is_an_error_not_the_whole_plan():
    with pytest.raises(click.BadParameter, match="no value"):
        extract_script.select_documents(PLAN, ",", None)
    with pytest.raises(click.BadParameter, match="no value"):
        extract_script.select_documents(PLAN, None, " ")
