"""Learned LM-evidence models on synthetic LM outputs (numbers only, no text)."""

import re

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from detector.evaluation import auroc
from detector.features.lm import POOLED_LAYERS, TOKEN_SEQUENCE_NAMES
from detector.features.lm_evidence import (
    HIDDEN_PROBE_LAYERS,
    SEQUENCE_CHANNEL_NAMES,
    HiddenStateProbe,
    TokenSequenceModel,
    hidden_probe_inputs,
    sequence_channels,
)

HIDDEN = 576


# ---------------------------------------------------------------------------------------------------
# Synthetic data


def _hidden(n_per_class: int, rng, direction):
    """Stacked hidden states; machine rows are shifted by `direction` (len(HIDDEN_PROBE_LAYERS), HIDDEN)
    in the mean-pooled states at the probe layers."""
    n = 2 * n_per_class
    hidden = rng.normal(size=(n, 2, len(POOLED_LAYERS), HIDDEN))
    y = np.repeat([0, 1], n_per_class)
    positions = [POOLED_LAYERS.index(layer) for layer in HIDDEN_PROBE_LAYERS]
    hidden[np.ix_(y == 1, [0], positions)] += direction[None, None]
    return hidden.astype(np.float16), y


def _tokens(n_per_class: int, rng):
    """Per-document (4, n) sequences with identical per-channel means and variances in both classes.
    Machine entropy follows a square wave (runs of 4 low-entropy tokens, then 4 high) under noise;
    human entropy is white noise. Only the order of the tokens tells them apart."""
    docs, y = [], []
    for label in (0, 1):
        for _ in range(n_per_class):
            length = int(rng.integers(40, 200))
            noise = rng.normal(size=length)
            if label:
                t = np.arange(length) + rng.integers(8)
                entropy = 2.0 + 0.8 * np.where((t // 4) % 2 == 0, -1.0, 1.0) + 0.6 * noise
            else:
                entropy = 2.0 + noise
            loglik = -entropy + 0.5 * rng.normal(size=length)
            var_logp = 1.0 + 0.3 * rng.normal(size=length)
            log_rank = np.abs(rng.normal(size=length))
            docs.append(np.stack([loglik, entropy, var_logp, log_rank]).astype(np.float16))
            y.append(label)
    return docs, np.array(y)


def _mean_only_auroc(train_docs, y_train, test_docs, y_test) -> float:
    """A baseline that sees each document's channel means only."""
    def means(docs):
        return np.array([sequence_channels(d).mean(axis=1) for d in docs])
    model = LogisticRegression(max_iter=1000).fit(means(train_docs), y_train)
    return auroc(y_test, model.decision_function(means(test_docs)))


# ---------------------------------------------------------------------------------------------------
# Fitted models, shared by the tests of this module


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These networks are too small to gain from threads, and on a busy machine two threads waiting on
    each other at every operation made the fits several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def probe_data():
    rng = np.random.default_rng(0)
    # A shift of 4 standard deviations along one random direction of the probe inputs.
    direction = rng.normal(size=(len(HIDDEN_PROBE_LAYERS), HIDDEN))
    direction *= 4.0 / np.linalg.norm(direction)
    hidden, y = _hidden(400, rng, direction)
    test_hidden, test_y = _hidden(200, rng, direction)
    return HiddenStateProbe().fit(hidden_probe_inputs(hidden), y), test_hidden, test_y


@pytest.fixture(scope="module")
def sequence_data():
    rng = np.random.default_rng(1)
    train, y = _tokens(300, rng)
    test, test_y = _tokens(200, rng)
    # Documents without outputs are skipped by fit, whatever their label says.
    train_with_gaps = train + [None, np.zeros((4, 0), np.float16)]
    model = TokenSequenceModel(max_len=128, width=16, epochs=4, batch_size=64, seed=0)
    model.fit(train_with_gaps, np.concatenate([y, [0, 1]]))
    return model, train, y, test, test_y


# ---------------------------------------------------------------------------------------------------
# Inputs


def test_hidden_probe_inputs_take_mean_pooled_probe_layers_in_order():
    n = 3
    # Each value names its (pool, layer position, unit), so a wrong slice or order shows.
    hidden = np.zeros((n, 2, len(POOLED_LAYERS), HIDDEN), np.float32)
    for pool in range(2):
        for position in range(len(POOLED_LAYERS)):
            hidden[:, pool, position, :] = 1 + pool * 100 + position * 10 + np.arange(HIDDEN) / 1000
    hidden[1] = 0  # a document without outputs
    x = hidden_probe_inputs(hidden.astype(np.float16))
    assert x.shape == (n, len(HIDDEN_PROBE_LAYERS) * HIDDEN) and x.dtype == np.float32
    positions = [POOLED_LAYERS.index(layer) for layer in HIDDEN_PROBE_LAYERS]
    expected = hidden[:, 0, positions, :].reshape(n, -1).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(x[[0, 2]], expected[[0, 2]])
    assert np.isnan(x[1]).all()
    # A per-document list with None gives the same rows.
    listed = hidden_probe_inputs([hidden[0].astype(np.float16), None, hidden[2].astype(np.float16)])
    np.testing.assert_array_equal(listed, x)


def test_sequence_channels_add_surprise_gap_and_loglik_difference():
    tokens = np.array([[-1.0, -3.0, -0.5], [2.0, 1.0, 0.25], [0.1, 0.2, 0.3], [0.0, 1.5, 0.7]], np.float16)
    channels = sequence_channels(tokens)
    assert channels.shape == (len(SEQUENCE_CHANNEL_NAMES), 3) and channels.dtype == np.float32
    assert SEQUENCE_CHANNEL_NAMES[: len(TOKEN_SEQUENCE_NAMES)] == TOKEN_SEQUENCE_NAMES
    np.testing.assert_array_equal(channels[:4], tokens.astype(np.float32))
    np.testing.assert_allclose(channels[4], [1.0, -2.0, -0.25])
    np.testing.assert_allclose(channels[5], [0.0, -2.0, 2.5])
    with pytest.raises(ValueError, match="shape"):
        sequence_channels(np.zeros((3, 5)))


# ---------------------------------------------------------------------------------------------------
# Learning planted signals


def test_hidden_probe_finds_planted_direction(probe_data):
    probe, test_hidden, test_y = probe_data
    scores = probe.decision_function(test_hidden)  # stacked hidden states are accepted as well
    assert scores.shape == (len(test_y),)
    assert auroc(test_y, scores) > 0.9


def test_hidden_probe_scores_nan_without_outputs_and_probabilities_sum_to_one(probe_data):
    probe, test_hidden, _ = probe_data
    hidden = test_hidden[:5].copy()
    hidden[2] = 0
    proba = probe.predict_proba(hidden)
    assert proba.shape == (5, 2)
    assert np.isnan(probe.decision_function(hidden)[2]) and np.isnan(proba[2]).all()
    present = np.delete(proba, 2, axis=0)
    np.testing.assert_allclose(present.sum(axis=1), 1.0)
    assert ((present >= 0) & (present <= 1)).all()


def test_sequence_model_sees_local_pattern_that_means_miss(sequence_data):
    model, train, y, test, test_y = sequence_data
    assert auroc(test_y, model.decision_function(test)) > 0.9
    assert 0.35 < _mean_only_auroc(train, y, test, test_y) < 0.65
    # Shuffling each document's tokens in time removes what the model saw.
    rng = np.random.default_rng(2)
    shuffled = [doc[:, rng.permutation(doc.shape[1])] for doc in test]
    assert 0.35 < auroc(test_y, model.decision_function(shuffled)) < 0.65


def test_sequence_model_nan_without_tokens_and_probabilities_sum_to_one(sequence_data):
    model, _, _, test, _ = sequence_data
    docs = [test[0], None, np.zeros((4, 0), np.float16), test[-1]]
    scores = model.decision_function(docs)
    proba = model.predict_proba(docs)
    assert scores.shape == (4,) and proba.shape == (4, 2)
    assert np.isnan(scores[[1, 2]]).all() and np.isnan(proba[[1, 2]]).all()
    np.testing.assert_allclose(proba[[0, 3]].sum(axis=1), 1.0)
    assert np.isnan(model.decision_function([None])).all()


def test_sequence_model_scores_do_not_depend_on_batching(sequence_data):
    model, _, _, test, _ = sequence_data
    docs = test[:20] + test[-20:]  # mixed lengths, so batches are padded
    together = model.decision_function(docs)
    alone = np.array([model.decision_function([doc])[0] for doc in docs])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_sequence_model_fit_is_deterministic(sequence_data):
    model, train, y, test, _ = sequence_data
    params = dict(max_len=64, width=8, epochs=1, batch_size=64, seed=3)
    first = TokenSequenceModel(**params).fit(train[::4], y[::4]).decision_function(test[:10])
    second = TokenSequenceModel(**params).fit(train[::4], y[::4]).decision_function(test[:10])
    np.testing.assert_array_equal(first, second)


# ---------------------------------------------------------------------------------------------------
# Files


def test_probe_round_trip_gives_identical_scores(probe_data, tmp_path):
    probe, test_hidden, _ = probe_data
    path = tmp_path / "probe.npz"
    probe.save(path)
    loaded = HiddenStateProbe.load(path)
    assert loaded.get_params() == probe.get_params()
    np.testing.assert_array_equal(loaded.decision_function(test_hidden), probe.decision_function(test_hidden))


def test_sequence_model_round_trip_gives_identical_scores(sequence_data, tmp_path):
    model, _, _, test, _ = sequence_data
    path = tmp_path / "sequence.npz"
    model.save(path)
    loaded = TokenSequenceModel.load(path)
    assert loaded.get_params() == model.get_params()
    docs = test + [None]
    np.testing.assert_array_equal(loaded.decision_function(docs), model.decision_function(docs))


def _saved(kind, probe_data, sequence_data, tmp_path):
    model, cls = (probe_data[0], HiddenStateProbe) if kind == "probe" else (sequence_data[0], TokenSequenceModel)
    path = tmp_path / f"{kind}.npz"
    model.save(path)
    return path, cls


def _rewrite(path, change) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_key(key):
    return lambda path: _rewrite(path, lambda arrays: arrays.pop(key))


def _reshape_key(key):
    return lambda path: _rewrite(path, lambda arrays: arrays.update({key: arrays[key][..., :-1]}))


def _set_key(key, value):
    return lambda path: _rewrite(path, lambda arrays: arrays.update({key: value}))


def _as_object_array(key):
    # Object arrays are stored pickled; the loader must refuse them, not unpickle.
    def change(arrays):
        arrays[key] = np.array([str(arrays[key])], dtype=object)
    return lambda path: _rewrite(path, change)


DAMAGE = {
    "truncated": _truncate,
    "not an archive": lambda path: path.write_text("not a model\n"),
    "bare npy": lambda path: np.save(open(path, "wb"), np.zeros(3)),
    "no config": _drop_key("config"),
    "pickled config": _as_object_array("config"),
}
PROBE_DAMAGE = {
    **DAMAGE,
    "missing coef": _drop_key("coef"),
    "missing scale": _drop_key("scale"),
    "short mean": _reshape_key("mean"),
    "other layers": _set_key("layers", np.array([5, 15, 25])),
    "config for the other model": _set_key("config", np.array('{"model": "TokenSequenceModel"}')),
    "nan values": _set_key("intercept", np.array([np.nan])),
}
SEQUENCE_DAMAGE = {
    **DAMAGE,
    "missing weight": _drop_key("param/conv2.weight"),
    "ill-shaped weight": _reshape_key("param/conv1.weight"),
    "ill-shaped normalisation": _reshape_key("channel_std"),
    "extra parameter": _set_key("param/conv3.weight", np.zeros(3, np.float32)),
    "config for the other model": _set_key("config", np.array('{"model": "HiddenStateProbe"}')),
    "nan values": _set_key("channel_mean", np.full(len(SEQUENCE_CHANNEL_NAMES), np.nan, np.float32)),
}


@pytest.mark.parametrize("kind,damage", [("probe", name) for name in PROBE_DAMAGE]
                         + [("sequence", name) for name in SEQUENCE_DAMAGE])
def test_damaged_files_raise_value_error_naming_the_file(kind, damage, probe_data, sequence_data, tmp_path):
    path, cls = _saved(kind, probe_data, sequence_data, tmp_path)
    (PROBE_DAMAGE if kind == "probe" else SEQUENCE_DAMAGE)[damage](path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        cls.load(path)
