"""The extraction plan: stratified samples grow by appending, and the extended plan's rows follow the plan's
without moving any of them (made-up files of numbered rows; no text of ours stands for either class)."""

from __future__ import annotations

import json

import pytest

from detector.training import data


def _rows(name: str, n: int, generators=("g1", "g2", "g3"), **extra) -> list[dict]:
    return [{"id": f"{name}-{i}", "text": f"{i}", "generator": generators[i % len(generators)],
             "domain": "d" + str(i % 2), "label": "machine", **extra} for i in range(n)]


def test_a_larger_stratified_sample_only_adds_rows_after_a_smaller_one():
    rows = _rows("t", 40, generators=("g1",) * 9 + ("g2",))  # one big stratum, one small
    largest = data.stratified_sample(rows, 39)
    assert len({r["id"] for r in largest}) == 39
    for n in (1, 5, 17, 38):
        assert data.stratified_sample(rows, n) == largest[:n]
    assert data.stratified_sample(rows, 400) == rows  # more than there are: all of them
    # Round-robin: the small strata are all in the first rows, not crowded out by the big one.
    strata = {(r["generator"], r["domain"]) for r in rows}
    assert len(strata) == 3  # (g1, d0) 20 rows, (g1, d1) 16, (g2, d1) 4
    assert {(r["generator"], r["domain"]) for r in data.stratified_sample(rows, 3)} == strata
    assert sum(r["generator"] == "g2" for r in data.stratified_sample(rows, 12)) == 4


@pytest.fixture
def shared(tmp_path, monkeypatch):
    files = {"train": _rows("train", 30), "modern": _rows("modern", 10, split="train"),
             "dev": _rows("dev", 6)}
    for name, rows in files.items():
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(data, "SHARED_DATA", tmp_path)
    monkeypatch.setattr(data, "PLAN", (("modern", "train", None), ("train", None, 8), ("dev", None, 4)))
    return files


def test_the_extended_plan_follows_the_plan_and_leaves_its_order_alone(shared):
    before = data.planned_documents()
    after = data.planned_documents(extended=True)

    assert [r["id"] for r in after[:len(before)]] == [r["id"] for r in before]  # `--first N` unchanged
    assert len(before) == 10 + 8 + 4
    rest = after[len(before):]
    # Every other row of train.jsonl once, as training rows, none planned twice.
    assert sorted(r["id"] for r in rest) == sorted(r["id"] for r in shared["train"]
                                                  if r["id"] not in {b["id"] for b in before})
    assert {r["set"] for r in rest} == set(data.EXTENSION_SETS) == {"train:extension"}
    assert len({r["id"] for r in after}) == len(after)
    # Mixed by the plan's hash among themselves, so a prefix is a proportional sample of them.
    assert rest == sorted(rest, key=lambda r: data.hashlib.sha1(f"0:{r['id']}".encode()).digest())
    assert [r["id"] for r in data.planned_documents(seed=1, extended=True)] != [r["id"] for r in after]
