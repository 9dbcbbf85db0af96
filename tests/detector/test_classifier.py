import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier

from detector.classifier import AdditiveClassifier, load_classifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 4))
    logits = 2.0 * X[:, 0] - 1.5 * np.tanh(X[:, 1]) + 0.0 * X[:, 2]
    y = (rng.random(900) < 1 / (1 + np.exp(-logits))).astype(int)
    X[rng.random(900) < 0.05, 3] = np.nan  # missing values are imputed
    return X, y


@pytest.fixture(scope="module")
def model(data):
    X, y = data
    return AdditiveClassifier(C=1.0).fit(X[:700], y[:700]).calibrate(X[700:], y[700:])


def test_learns_signal_and_ranks(model, data):
    from sklearn.metrics import roc_auc_score

    X, y = data
    assert roc_auc_score(y[700:], model.predict_proba(X[700:])[:, 1]) > 0.8
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_contributions_are_exact_and_point_at_the_informative_feature(model, data):
    X, _ = data
    contributions = model.contributions(X)
    offset = model.decision_function(X) - contributions.sum(axis=1)
    np.testing.assert_allclose(offset, offset[0], atol=1e-8)  # shares + one constant = log-odds
    spread = contributions.std(axis=0)
    assert spread[0] > spread[2] and spread[1] > spread[2]


def test_far_out_of_range_values_do_not_move_the_score_without_bound(model, data):
    X, _ = data
    edge = X[:1].copy()
    edge[0, 0] = 10.0
    far = edge.copy()
    far[0, 0] = 1e6
    assert model.decision_function(far)[0] == pytest.approx(model.decision_function(edge)[0])


def test_class_weighting_keeps_the_prior_out_of_the_decision():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 2))
    y = (X[:, 0] + rng.normal(scale=1.0, size=3000) > 0).astype(int)
    keep = (y == 0) | (rng.random(3000) < 1 / 3)  # human : machine = 3 : 1 after the cut
    m = AdditiveClassifier().fit(X[keep], y[keep]).calibrate(X[keep], y[keep])
    assert abs(m.predict_proba(np.array([[0.0, 0.0]]))[0, 1] - 0.5) < 0.1


def test_save_load_round_trip_without_pickle(model, data, tmp_path):
    X, _ = data
    files = model.save(tmp_path, "m")
    assert {f.suffix for f in files} == {".skops", ".json"}
    loaded = load_classifier(tmp_path, "m")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_allclose(loaded.contributions(X), model.contributions(X))


def test_refuses_a_file_with_types_it_does_not_trust(model, tmp_path):
    model.save(tmp_path, "m")
    forest = RandomForestClassifier(n_estimators=2).fit([[0], [1]], [0, 1])
    sio.dump(forest, tmp_path / "m.skops")
    with pytest.raises(ValueError, match="does not load"):
        load_classifier(tmp_path, "m")


def test_boosted_classifier_learns_interactions_explains_and_round_trips(tmp_path):
    from sklearn.metrics import roc_auc_score

    from detector.classifier import BoostedClassifier, load_classifier

    rng = np.random.default_rng(5)
    X = rng.normal(size=(1500, 3))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)  # an interaction no additive model can express
    model = BoostedClassifier(max_iter=150, min_samples_leaf=10).fit(X[:1000], y[:1000]).calibrate(X[1000:], y[1000:])
    assert roc_auc_score(y[1000:], model.predict_proba(X[1000:])[:, 1]) > 0.9
    contributions = model.contributions(X[:50])
    assert np.abs(contributions[:, :2]).mean() > 5 * np.abs(contributions[:, 2]).mean()
    model.save(tmp_path, "b")
    loaded = load_classifier(tmp_path, "b")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_boosted_classifier_monotonic_constraint_holds_and_survives_save_load(tmp_path):
    from detector.classifier import BoostedClassifier, load_classifier

    rng = np.random.default_rng(6)
    X = rng.normal(size=(1500, 2))
    # Feature 0 raises P(machine) except in a narrow band where it lowers it; the constraint forbids the dip.
    y = (rng.random(1500) < 1 / (1 + np.exp(-(2 * X[:, 0] - 6 * (np.abs(X[:, 0] - 0.5) < 0.3))))).astype(int)
    grid = np.column_stack([np.linspace(-2, 2, 200), np.zeros(200)])
    free = BoostedClassifier(max_iter=200, min_samples_leaf=10).fit(X, y).calibrate(X, y)
    constrained = BoostedClassifier(max_iter=200, min_samples_leaf=10, monotonic_cst=[1, 0]).fit(X, y).calibrate(X, y)
    assert np.diff(free.predict_proba(grid)[:, 1]).min() < -0.05  # the data has the dip
    assert np.diff(constrained.predict_proba(grid)[:, 1]).min() >= -1e-12
    constrained.save(tmp_path, "m")
    loaded = load_classifier(tmp_path, "m")
    assert loaded.monotonic_cst == [1, 0]
    np.testing.assert_allclose(loaded.predict_proba(grid), constrained.predict_proba(grid))
