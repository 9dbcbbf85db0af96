"""Detector v2's training table helpers on synthetic tables (numbers only, no text)."""

import numpy as np

from detector.features import LM_EVIDENCE_NAMES, lm_evidence_scores
from detector.features.lm import LMResult, POOLED_LAYERS
from detector.features.lm_evidence import HiddenStateProbe, TokenSequenceModel, hidden_probe_inputs
from detector.training.evidence import NEITHER, EvidenceTable, held_out_folds, source_groups, source_of


def _table(sources_and_sizes, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for source, n in sources_and_sizes:
        for i in range(n):
            rows.append({"id": f"{source}-{i}", "text": "", "source": f"{source}/data.jsonl", "set": "train:all",
                         "label": "machine" if i % 2 else "human", "generator": "gpt-4" if i % 2 else "human"})
    n = len(rows)
    return EvidenceTable(rows=rows, y=np.array([i % 2 for i in range(n)]), sets=np.array(["train:all"] * n, dtype=object),
                         language=np.array(["en"] * n, dtype=object), n_tokens=np.full(n, 100),
                         stats=rng.normal(size=(n, 12)), hidden=rng.normal(size=(n, 8)), tokens=[None] * n,
                         text_parts=rng.normal(size=(n, 5)))


def test_source_of_keeps_the_repository():
    assert source_of({"source": "ranhli/l2r_data/en/file.jsonl", "set": "train:all"}) == "ranhli/l2r_data"
    assert source_of({"source": "debian:python3.11-doc", "set": "grounded_docs:all"}) == "debian"
    assert source_of({"set": "learners:train"}) == "learners"


def test_source_groups_hold_every_source_out_exactly_once_and_balance_the_groups():
    sizes = [("big/a", 900), ("mid/b", 400), ("mid/c", 350), ("small/d", 120), ("small/e", 100), ("small/f", 90),
             ("tiny/g", 10)]
    table = _table(sizes)
    groups = source_groups(table, n_groups=3)
    assert len(groups) == 3
    cover = np.sum([mask.astype(int) for mask in groups.values()], axis=0)
    assert (cover == 1).all()  # every row in exactly one group
    for name, mask in groups.items():  # a source is never split between groups
        for source in set(table.sources[mask]):
            assert mask[table.sources == source].all()
        assert set(name.split("+")) == set(table.sources[mask])
    # The biggest source is alone; the rest are dealt so no group is far above the mean.
    assert "big/a" in groups and groups["big/a"].sum() == 900
    assert max(m.sum() for m in groups.values()) <= 900


def test_family_folds_leave_human_rows_out():
    table = _table([("x/a", 40)])
    folds = held_out_folds(table, "family")
    assert list(folds) == ["GPT"]
    assert (table.y[folds["GPT"]] == 1).all()


def test_polished_rows_are_never_training_rows():
    table = _table([("x/a", 10)])
    table.y[:4] = NEITHER
    assert not np.isin(np.arange(4), table.training).any()
    assert len(table.training) == 6


def test_lm_evidence_columns_come_from_the_two_models_and_are_nan_without_outputs():
    rng = np.random.default_rng(0)
    n = 60
    hidden = rng.normal(size=(n, 2, len(POOLED_LAYERS), 16)).astype(np.float16)
    y = np.repeat([0, 1], n // 2)
    hidden[y == 1, 0] += 1.0
    tokens = [rng.normal(size=(4, 30)).astype(np.float16) for _ in range(n)]
    probe = HiddenStateProbe().fit(hidden_probe_inputs(hidden), y)
    sequence = TokenSequenceModel(epochs=1, max_len=32).fit(tokens, y)
    results = [LMResult(n_tokens=30, features=np.zeros(12), hidden=hidden[i], tokens=tokens[i]) for i in range(3)]
    results.append(LMResult(n_tokens=3, features=None))  # too short: no outputs
    evidence = lm_evidence_scores(results, probe, sequence)
    assert evidence.shape == (4, len(LM_EVIDENCE_NAMES))
    np.testing.assert_allclose(evidence[:3, 0], probe.decision_function(hidden_probe_inputs(hidden[:3])), rtol=1e-6)
    np.testing.assert_allclose(evidence[:3, 1], sequence.decision_function(tokens[:3]), rtol=1e-6)
    assert np.isnan(evidence[3]).all()
    assert lm_evidence_scores([], probe, sequence).shape == (0, len(LM_EVIDENCE_NAMES))
