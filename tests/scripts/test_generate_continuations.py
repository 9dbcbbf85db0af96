"""scripts/generate_continuations.py with the tiny random-weight LM: which openings it continues, what it
writes, and that a rerun resumes. The openings are digit strings: no text here stands in for human prose."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from click.testing import CliRunner

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
spec = importlib.util.spec_from_file_location("generate_continuations", SCRIPTS / "generate_continuations.py")
generate = importlib.util.module_from_spec(spec)
sys.modules.setdefault(spec.name, generate)
spec.loader.exec_module(generate)


def _row(i, set_name, label="human", language="en"):
    return {"id": f"o{i}", "text": " ".join(str(d) for d in range(i, i + 40)), "label": label,
            "language": language, "set": set_name, "source": f"repo{i}/x.jsonl", "group": f"g{i}", "domain": "d"}


def test_continues_english_human_training_openings_once_each(tmp_path, monkeypatch, tiny_reference_model):
    plan = [_row(1, "train:all"), _row(2, "human_pool:all"), _row(3, "modern:train"),
            _row(4, "train:all", label="machine"), _row(5, "train:all", language="zh"),
            _row(6, "grounded_docs:all"), _row(7, "learners:train"), _row(8, "dev:all")]
    monkeypatch.setattr(generate, "planned_documents", lambda seed: plan)
    monkeypatch.setattr(generate, "MIN_NEW_TOKENS", 1)
    args = ["--generator", str(tiny_reference_model), "--name", "tiny", "--out", str(tmp_path),
            "--prefix-tokens", "8", "--new-tokens", "12", "--batch", "2"]
    result = CliRunner().invoke(generate.main, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "tiny.jsonl").read_text().splitlines()]
    assert sorted(r["prefix_id"] for r in rows) == ["o1", "o2", "o3"]
    for row in rows:
        opening = next(p for p in plan if p["id"] == row["prefix_id"])
        assert row["label"] == "machine" and row["task"] == "continuation"
        assert (row["source"], row["group"]) == (opening["source"], opening["group"])  # held out with it
        assert row["decoding"] == generate.decoding_of(opening["id"]) and row["decoding"] in generate.DECODINGS
        assert row["generator"] == f"tiny ({row['decoding']})"
        assert row["text"] != opening["text"] and len(row["id"]) == 16
    # A rerun finds every opening done and writes nothing.
    again = CliRunner().invoke(generate.main, args)
    assert again.exit_code == 0 and "0 openings to continue" in again.output
    assert len((tmp_path / "tiny.jsonl").read_text().splitlines()) == 3


def test_openings_whose_continuation_is_too_short_are_dropped_once(tmp_path, monkeypatch, tiny_reference_model):
    plan = [_row(1, "train:all"), _row(2, "human_pool:all")]
    monkeypatch.setattr(generate, "planned_documents", lambda seed: plan)
    monkeypatch.setattr(generate, "MIN_NEW_TOKENS", 1000)  # longer than any continuation asked for
    args = ["--generator", str(tiny_reference_model), "--name", "tiny", "--out", str(tmp_path),
            "--prefix-tokens", "8", "--new-tokens", "4"]
    assert CliRunner().invoke(generate.main, args).exit_code == 0
    assert not (tmp_path / "tiny.jsonl").read_text()
    assert sorted((tmp_path / "tiny.dropped").read_text().split()) == ["o1", "o2"]
    again = CliRunner().invoke(generate.main, args)
    assert again.exit_code == 0 and "0 openings to continue" in again.output
