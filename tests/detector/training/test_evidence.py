"""Detector v2's training table helpers on synthetic tables (numbers only, no text)."""

import numpy as np
import pytest

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


class _ConstantStyle:
    """Stands in for the fastText style model, which needs real text: the tests below are about the LM views."""

    def predict_proba(self, texts):
        return np.full((len(texts), 2), 0.5)


def _lm_table(n=160, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    hidden = rng.normal(size=(n, 2, len(POOLED_LAYERS), 8)).astype(np.float16)
    hidden[y == 1, 0] += 0.8
    tokens = [(rng.normal(size=(4, 40)) + 0.5 * label).astype(np.float16) for label in y]
    stats = rng.normal(size=(n, 12)) + 0.5 * y[:, None]
    rows = [{"id": f"d{i}", "text": "", "source": f"s{i % 4}/x", "set": "train:all",
             "label": "machine" if y[i] else "human", "generator": "gpt-4" if y[i] else "human"} for i in range(n)]
    return EvidenceTable(rows=rows, y=y, sets=np.array(["train:all"] * n, dtype=object),
                         language=np.array(["en"] * n, dtype=object), n_tokens=np.full(n, 100), stats=stats,
                         hidden=hidden_probe_inputs(hidden), tokens=tokens, text_parts=rng.normal(size=(n, 5)))


def _fitted_stack(table):
    from detector.training.evidence import EvidenceModels, StackFit, _evidence_of, full_matrix
    from detector.training.table import fit_calibrated

    everything = np.arange(len(table.rows))
    models = EvidenceModels(style=_ConstantStyle(), probe=HiddenStateProbe().fit(table.hidden, table.y),
                            sequence=TokenSequenceModel(epochs=1, max_len=48).fit(table.tokens, table.y))
    evidence = _evidence_of(models, table, everything)
    full = fit_calibrated(full_matrix(table, evidence), table.y, table.rows, everything, kind="boosted")
    p = full.predict_proba(full_matrix(table, evidence))[:, 1]
    return StackFit(models, full, None, evidence, p, np.full(len(p), np.nan))


def test_a_fitted_stack_scores_another_settings_outputs_row_by_row():
    """stack_p: the models fit on one setting's LM outputs score the same documents with another's (how
    scripts/evaluate_precision_held_out.py measures int8 and shorter caps on held-out sources)."""
    import dataclasses

    from detector.training.evidence import stack_p

    table = _lm_table()
    fit = _fitted_stack(table)
    idx = np.arange(0, 160, 3)
    np.testing.assert_allclose(stack_p(fit, table, idx), fit.p_full[idx], rtol=1e-9)  # same outputs, same p
    # Another setting's outputs: rows 0-9 get another document's LM outputs, the rest are unchanged.
    swap = np.arange(10)
    donor = swap + 1  # a row of the other class
    stats, hidden, tokens = table.stats.copy(), table.hidden.copy(), list(table.tokens)
    stats[swap], hidden[swap] = table.stats[donor], table.hidden[donor]
    for i, j in zip(swap, donor):
        tokens[i] = table.tokens[j]
    other = dataclasses.replace(table, stats=stats, hidden=hidden, tokens=tokens)
    everything = np.arange(160)
    p_other = stack_p(fit, other, everything)
    np.testing.assert_allclose(p_other[10:], fit.p_full[10:], rtol=1e-9)
    # The swapped rows move towards the class of the document whose outputs they took: human rows
    # (even) took a machine document's outputs, machine rows (odd) a human one's.
    moved = p_other[swap] - fit.p_full[swap]
    assert moved[table.y[swap] == 0].mean() > 0.05 and moved[table.y[swap] == 1].mean() < -0.05


def test_int8_lm_outputs_are_cached_apart_from_the_training_outputs():
    from detector.training.data import lm_outputs_key

    bf16 = lm_outputs_key("ab" * 32, 256)
    assert lm_outputs_key("ab" * 32, 256, "bf16") == bf16  # the training cache keeps its name
    assert bf16.endswith("-cap256")
    assert lm_outputs_key("ab" * 32, 256, "int8") == bf16 + "-int8"
    assert lm_outputs_key("ab" * 32, 128, "int8") != lm_outputs_key("ab" * 32, 256, "int8")


def _confounded_table(mixes, seed=0):
    """Sources whose class mix differs (mixes: source -> (human, machine) counts). Feature 0 says which
    source a row is from (+1 for sources mostly machine, -1 otherwise); feature 1 carries a weak signal
    of the label that is the same in every source."""
    rng = np.random.default_rng(seed)
    rows, y, look = [], [], []
    for source, (n_human, n_machine) in mixes.items():
        mostly_machine = 1.0 if n_machine > n_human else -1.0
        for label, count in ((0, n_human), (1, n_machine)):
            for i in range(count):
                rows.append({"id": f"{source}-{label}-{i}", "text": "", "source": f"{source}/x", "set": "train:all",
                             "label": "machine" if label else "human", "generator": "gpt-4" if label else "human"})
                y.append(label)
                look.append(mostly_machine)
    y = np.array(y)
    hidden = np.column_stack([np.array(look) + rng.normal(0, 0.3, len(y)), rng.normal(0.6 * (2 * y - 1), 1.0)])
    n = len(y)
    return EvidenceTable(rows=rows, y=y, sets=np.array(["train:all"] * n, dtype=object),
                         language=np.array(["en"] * n, dtype=object), n_tokens=np.full(n, 100),
                         stats=np.zeros((n, 12)), hidden=hidden, tokens=[None] * n, text_parts=np.zeros((n, 5)))


def test_source_weights_balance_the_classes_within_every_two_class_source():
    from detector.training.evidence import source_balanced_weights

    table = _confounded_table({"a": (100, 900), "b": (600, 200), "c": (300, 0)})
    idx = np.arange(len(table.rows))
    w = source_balanced_weights(table, idx, max_weight=1e9)
    ratios = []
    for source in ("a/x", "b/x"):
        here = table.sources == source
        ratios.append(w[here & (table.y == 1)].sum() / w[here & (table.y == 0)].sum())
    # The same machine:human weight ratio in each two-class source: the source no longer predicts the label.
    assert ratios[0] == pytest.approx(ratios[1])
    only_human = table.sources == "c/x"
    assert np.ptp(w[only_human]) == 0  # a one-class source keeps equal weights
    for label in (0, 1):  # mean 1 within each class, so class balancing on top still balances
        assert w[table.y == label].mean() == pytest.approx(1.0)
    # Rows outside idx keep weight 1.
    part = np.flatnonzero(table.sources != "c/x")
    assert (source_balanced_weights(table, part)[only_human] == 1).all()
    # The cap: a's 100 human rows would weigh 1000 / 200 = 5 each before the per-class scaling, b's 600
    # human rows 800 / 1200; with the cap at 3, a's weigh 3 / (2 / 3) times b's instead of 5 / (2 / 3).
    human_a, human_b = (table.sources == "a/x") & (table.y == 0), (table.sources == "b/x") & (table.y == 0)
    assert w[human_a].mean() / w[human_b].mean() == pytest.approx(5 / (2 / 3))
    capped = source_balanced_weights(table, idx, max_weight=3.0)
    assert capped[human_a].mean() / capped[human_b].mean() == pytest.approx(3 / (2 / 3))


def test_source_weights_make_a_probe_rely_on_the_signal_that_transfers_to_a_new_source():
    """Trained where the source's look predicts the label, class balance alone learns the look; on a new
    source whose human texts have the look of machine-heavy sources it ranks worse than chance, while the
    source-weighted probe ranks by the signal that holds in every source."""
    from detector.training.evidence import source_balanced_weights
    from detector.training.folds import auroc_if_enough

    train = _confounded_table({"a": (100, 900), "b": (900, 100)}, seed=1)
    idx = np.arange(len(train.rows))
    plain = HiddenStateProbe(C=1.0).fit(train.hidden, train.y)
    weighted = HiddenStateProbe(C=1.0).fit(train.hidden, train.y, sample_weight=source_balanced_weights(train, idx))
    rng = np.random.default_rng(5)
    y_new = np.repeat([0, 1], 300)
    new = np.column_stack([np.where(y_new == 0, 1.0, -1.0) + rng.normal(0, 0.3, 600),
                           rng.normal(0.6 * (2 * y_new - 1), 1.0)])
    plain_auroc = auroc_if_enough(y_new, plain.decision_function(new))
    weighted_auroc = auroc_if_enough(y_new, weighted.decision_function(new))
    assert plain_auroc < 0.5 < 0.65 < weighted_auroc


def test_row_weights_reject_an_unknown_weighting():
    from detector.training.evidence import row_weights

    table = _confounded_table({"a": (5, 5)})
    assert row_weights(table, np.arange(10), "class") is None
    with pytest.raises(ValueError, match="weighting"):
        row_weights(table, np.arange(10), "by-length")


def test_without_sample_weights_the_lm_evidence_models_fit_as_with_weights_of_one():
    """The class weighting (the shipped model's) passes no weights: it must fit exactly as weights of 1."""
    table = _lm_table(n=80)
    ones = np.ones(len(table.rows))
    plain, weighted = HiddenStateProbe().fit(table.hidden, table.y), HiddenStateProbe().fit(table.hidden, table.y, ones)
    np.testing.assert_array_equal(plain.coef_, weighted.coef_)
    params = dict(epochs=1, max_len=48, seed=0)
    sequence = TokenSequenceModel(**params).fit(table.tokens, table.y).decision_function(table.tokens[:10])
    sequence_ones = TokenSequenceModel(**params).fit(table.tokens, table.y, ones).decision_function(table.tokens[:10])
    np.testing.assert_array_equal(sequence, sequence_ones)
    from detector.training.evidence import row_weights, source_balanced_weights

    assert row_weights(table, np.arange(80), "class") is None
    with pytest.raises(ValueError, match="labelled rows"):
        table.y[0] = NEITHER
        source_balanced_weights(table, np.arange(80))
    with pytest.raises(ValueError, match="sample_weight"):
        HiddenStateProbe().fit(table.hidden, np.arange(80) % 2, sample_weight=ones[:5])


def _with_added_rows(table: EvidenceTable, set_name: str, source: str, n_added: int,
                     fit_only_sets: tuple = ()) -> EvidenceTable:
    """`table` and n_added machine rows of `set_name` from `source` after its own."""
    n = len(table.rows)
    extra = [{"id": f"g{i}", "text": "", "source": f"{source}/data.jsonl", "set": set_name,
              "label": "machine", "generator": "gen (pure)"} for i in range(n_added)]
    total = n + n_added
    return EvidenceTable(
        rows=table.rows + extra, y=np.r_[table.y, np.ones(n_added, int)],
        sets=np.r_[table.sets, np.array([set_name] * n_added, dtype=object)],
        language=np.array(["en"] * total, dtype=object), n_tokens=np.full(total, 100),
        stats=np.zeros((total, 12)), hidden=np.zeros((total, 8)), tokens=[None] * total,
        text_parts=np.zeros((total, 5)), fit_only_sets=fit_only_sets)


@pytest.mark.parametrize("set_name, fit_only_sets", [("generated:gen", ()),
                                                     ("train:extension", ("train:extension",))])
def test_fit_only_rows_are_fit_on_but_never_scored_and_leave_the_source_groups_unchanged(set_name, fit_only_sets):
    from detector.training.evidence import held_out_fold_indices

    sizes = [("big/a", 300), ("mid/b", 200), ("mid/c", 150), ("small/d", 60), ("small/e", 50)]
    plain = _table(sizes)
    n = len(plain.rows)
    # 150 added machine rows (generated from openings of the smallest source, or more of its rows): enough
    # to move it up the dealing order if they counted.
    with_generated = _with_added_rows(plain, set_name, "small/e", 150, fit_only_sets)
    assert np.flatnonzero(with_generated.fit_only).tolist() == list(range(n, n + 150))
    assert with_generated.generated.any() == set_name.startswith("generated:")
    assert set(range(n, n + 150)) <= set(with_generated.training.tolist())  # fit on
    assert list(source_groups(plain, 3)) == list(source_groups(with_generated, 3))
    folds_plain = held_out_fold_indices(plain, "source")
    folds_generated = held_out_fold_indices(with_generated, "source")
    for (name, fit, test), (name_g, fit_g, test_g) in zip(folds_plain, folds_generated):
        assert name == name_g and test.tolist() == test_g.tolist()  # never scored
        # Held out with the source of their openings, fit on in every other fold.
        in_fit = np.isin(np.arange(n, n + 150), fit_g)
        assert (not in_fit.any()) if "small/e" in name.split("+") else in_fit.all()


def test_extension_rows_are_scored_like_any_training_row_unless_they_are_fit_only():
    from detector.training.evidence import held_out_fold_indices

    plain = _table([("big/a", 300), ("mid/b", 200), ("mid/c", 150), ("small/d", 60), ("small/e", 50)])
    n = len(plain.rows)
    scored = _with_added_rows(plain, "train:extension", "small/e", 150)  # train_default_model.py --extended
    assert not scored.fit_only.any() and set(range(n, n + 150)) <= set(scored.training.tolist())
    tested = np.concatenate([test for _, _, test in held_out_fold_indices(scored, "source")])
    assert set(range(n, n + 150)) <= set(tested.tolist())
    # Counted in the groups: small/e, now as large as mid/b, is dealt a group before mid/c.
    assert list(source_groups(scored, 3)) != list(source_groups(plain, 3))


def test_generated_documents_read_only_machine_rows_grown_from_the_chosen_openings(tmp_path, monkeypatch):
    import json

    from detector.training import data

    monkeypatch.setattr(data, "GENERATED_DATA", tmp_path)
    rows = [{"id": f"g{i}", "text": "", "label": "machine", "prefix_id": f"o{i % 3}", "source": "r/x"}
            for i in range(6)]
    (tmp_path / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    chosen = data.generated_documents(["gen"], {"o0", "o2"})
    assert [r["id"] for r in chosen] == ["g0", "g2", "g3", "g5"]
    assert {r["set"] for r in chosen} == {"generated:gen"}
    assert len(data.generated_documents(["gen"])) == 6
    with pytest.raises(SystemExit, match="not found"):
        data.generated_documents(["absent"])
    for bad in ({"label": "human", "prefix_id": "o", "source": "r/x"}, {"label": "machine", "source": "r/x"},
                {"label": "machine", "prefix_id": "o"}):  # human, no opening, no source (it would leak)
        (tmp_path / "bad.jsonl").write_text(json.dumps({"id": "x", "text": "", **bad}) + "\n")
        with pytest.raises(SystemExit, match="machine text"):
            data.generated_documents(["bad"])


def test_lm_output_cache_round_trips_and_two_writers_never_share_a_chunk(tmp_path, monkeypatch):
    from pathlib import Path

    from detector.features.lm import LM_FEATURE_NAMES, TOKEN_SEQUENCE_NAMES
    from detector.training.data import LMOutputCache

    rng = np.random.default_rng(0)

    def result(n):
        return LMResult(n_tokens=n, features=rng.normal(size=len(LM_FEATURE_NAMES)),
                        hidden=rng.normal(size=(2, len(POOLED_LAYERS), 4)).astype(np.float16),
                        tokens=rng.normal(size=(len(TOKEN_SEQUENCE_NAMES), n)).astype(np.float16))

    first, second = LMOutputCache("k", root=tmp_path), LMOutputCache("k", root=tmp_path)
    a = [result(5), LMResult(n_tokens=2, features=None)]  # the second too short to score
    b = [result(7)]
    first.add(["a0", "a1"], a)
    # Two extractions counting the chunks at the same moment: the second sees none either.
    real_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(()) if pattern == "chunk-*.npz" else real_glob(self, pattern))
    second.add(["b0"], b)  # same chunk number, yet a file of its own
    monkeypatch.undo()
    assert len(list((tmp_path / "k").glob("chunk-*.npz"))) == 2
    reopened = LMOutputCache("k", root=tmp_path)
    assert all(i in reopened for i in ("a0", "a1", "b0")) and "c" not in reopened
    arrays = reopened.arrays(["b0", "a0", "a1"])
    assert arrays["n_tokens"].tolist() == [7, 5, 2]
    np.testing.assert_allclose(arrays["stats"][1], a[0].features.astype(np.float32))
    assert np.isnan(arrays["stats"][2]).all()
    np.testing.assert_array_equal(arrays["hidden"][0], b[0].hidden)
    tokens = reopened.token_sequences(["a0", "a1", "b0"])
    np.testing.assert_array_equal(tokens[0], a[0].tokens)
    assert tokens[1] is None and tokens[2].shape == (len(TOKEN_SEQUENCE_NAMES), 7)


def test_the_evidence_table_reads_the_extended_plan_only_when_asked(monkeypatch, tmp_path):
    from detector.features.lm import LM_FEATURE_NAMES
    from detector.training import evidence

    rng = np.random.default_rng(0)
    plan = [{"id": f"p{i}", "label": "machine" if i % 2 else "human", "set": "train:all", "source": "a/b"}
            for i in range(4)]
    extension = [{"id": f"e{i}", "label": "human", "set": "train:all", "source": "a/b"} for i in range(3)]
    monkeypatch.setattr(evidence, "planned_documents",
                        lambda seed, extended=False: plan + extension if extended else list(plan))
    monkeypatch.setattr(evidence, "_text_parts",
                        lambda rows: (np.zeros((len(rows), 3)), np.array(["en"] * len(rows), dtype=object)))
    cache = evidence.LMOutputCache("k", root=tmp_path)
    ids = [r["id"] for r in plan + extension if r["id"] != "e1"]  # e1 not extracted yet
    cache.add(ids, [LMResult(n_tokens=9, features=rng.normal(size=len(LM_FEATURE_NAMES)),
                             hidden=rng.normal(size=(2, len(POOLED_LAYERS), 4)).astype(np.float16))
                    for _ in ids])
    monkeypatch.setattr(evidence, "LMOutputCache", lambda key: cache)

    def ids_of(**options):
        return [r["id"] for r in evidence.load_evidence_table("0" * 64, 256, **options).rows]

    assert ids_of() == ["p0", "p1", "p2", "p3"]
    assert ids_of(extended=True) == ["p0", "p1", "p2", "p3", "e0", "e2"]  # whatever of it is cached
    assert ids_of(extended=True, first=5) == ["p0", "p1", "p2", "p3", "e0"]
    table = evidence.load_evidence_table("0" * 64, 256, extended=True, fit_only_sets=("train:all",))
    assert table.fit_only.all()  # the sets it is given are fit on only
