"""Calibrated classifiers over the feature vector, with per-feature reasons; saved without pickle.

AdditiveClassifier: each feature's effect is a smooth curve and the log-odds is their sum, so the
reasons are exact (a feature's contribution is its own term). Pipeline: median imputation ->
per-feature quantile transform -> cubic B-spline basis -> class-balanced L2 logistic regression.

BoostedClassifier: gradient-boosted trees, for when features interact (the LM statistics point in
opposite directions for continued, rewritten and freshly generated text); its reasons are occlusion
effects: how far the log-odds moves when one feature is set to its training median.

Both are flat outside the range seen in training (quantile clipping, tree leaves), so a feature far
out of distribution (a new domain) cannot push the score without bound, and both are Platt-scaled
on held-out data with class-balanced weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer, SplineTransformer
from sklearn.utils.class_weight import compute_sample_weight

# What skops may rebuild when loading our artifacts; anything else in a file is refused.
TRUSTED_SKOPS_TYPES = [
    "sklearn.pipeline.Pipeline",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.QuantileTransformer",
    "sklearn.preprocessing._polynomial.SplineTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "builtins.float",
    "builtins.int",
    "scipy.interpolate._bsplines.BSpline",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "builtins.slice",
    # sklearn keeps the array-API namespace function it used; a plain numpy alias.
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
]


class ClassifierFileError(ValueError):
    """A saved classifier cannot be loaded; the message names the file and the problem."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _balanced(X, y, sample_weight=None):
    """Arrays plus class-balanced weights: machine text outnumbers human two to one, and the prior
    must not decide."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=int)
    weights = compute_sample_weight("balanced", y)
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, dtype=float)
    return X, y, weights


class _CalibratedClassifier(BaseEstimator, ClassifierMixin):
    """Shared calibration, prediction and persistence; subclasses build `pipeline_` and reasons."""

    def calibrate(self, X, y):
        """Platt scaling on held-out data, class-balanced so calibrated p=0.5 sits between the classes."""
        z = self.raw_log_odds(X)[:, None]
        y = np.asarray(y, dtype=int)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(z, y, sample_weight=compute_sample_weight("balanced", y))
        self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        return self

    def raw_log_odds(self, X):
        return self.pipeline_.decision_function(np.asarray(X, dtype=float))

    def decision_function(self, X):
        a, b = self.platt_
        return a * self.raw_log_odds(X) + b

    def predict_proba(self, X):
        p = _sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    # --- persistence: skops for the sklearn estimator, JSON for the rest; never pickle --------------

    def _state(self) -> dict:
        return {}

    def _set_state(self, state: dict) -> None:
        pass

    def save(self, directory: Path, name: str) -> list[Path]:
        import skops.io as sio

        directory.mkdir(parents=True, exist_ok=True)
        pipeline_path = directory / f"{name}.skops"
        sio.dump(self.pipeline_, pipeline_path)
        state_path = directory / f"{name}.json"
        state_path.write_text(json.dumps({
            "kind": type(self).__name__, "params": self.get_params(), "platt": list(self.platt_),
            "n_features_in": self.n_features_in_, **self._state()}, indent=1))
        return [pipeline_path, state_path]

    @staticmethod
    def load(directory: Path, name: str) -> "_CalibratedClassifier":
        """Rebuild a saved classifier; a file that cannot be read raises ClassifierFileError (a
        ValueError) naming it, never the parser's own exception.

        The skops file is only ever read through skops' allow-list (never unpickled): types outside
        TRUSTED_SKOPS_TYPES are refused before anything is built.
        """
        import skops.io as sio

        directory = Path(directory)
        pipeline_path = directory / f"{name}.skops"
        state_path = directory / f"{name}.json"
        state = _read_state(state_path)
        kinds = {cls.__name__: cls for cls in (AdditiveClassifier, BoostedClassifier)}
        kind = state.get("kind", "AdditiveClassifier")
        if kind not in kinds:
            raise ClassifierFileError(f"{state_path} names an unknown classifier kind {kind!r}")
        cls = kinds[kind]
        params = state.get("params")
        if not isinstance(params, dict):
            raise ClassifierFileError(f"{state_path}: \"params\" must be an object, not {params!r}")
        unexpected = sorted(set(params) - set(cls._get_param_names()))
        if unexpected:  # saved by another synthsieve version, or edited
            raise ClassifierFileError(f"{state_path}: {kind} takes no parameter {', '.join(unexpected)}")
        platt = state.get("platt")
        if not (isinstance(platt, list) and len(platt) == 2 and all(map(_is_number, platt))):
            raise ClassifierFileError(f"{state_path}: \"platt\" must be two numbers, not {platt!r}")
        n_features = state.get("n_features_in")
        if not (isinstance(n_features, int) and not isinstance(n_features, bool) and n_features > 0):
            raise ClassifierFileError(f"{state_path}: \"n_features_in\" must be a positive integer, "
                                      f"not {n_features!r}")

        # skops reads a zip; anything else (a truncated or non-zip file, a malformed schema) raises
        # whatever its parser hits (BadZipFile, KeyError, ...), reported here with the file's name.
        try:
            untrusted = set(sio.get_untrusted_types(file=pipeline_path)) - set(TRUSTED_SKOPS_TYPES)
        except OSError:
            raise
        except Exception as exc:
            raise ClassifierFileError(f"{pipeline_path} is not a readable skops file "
                                      f"({type(exc).__name__}: {exc})") from exc
        if untrusted:
            raise ClassifierFileError(f"{pipeline_path} holds types synthsieve does not load: {sorted(untrusted)}")
        try:
            pipeline = sio.load(pipeline_path, trusted=TRUSTED_SKOPS_TYPES)
        except OSError:
            raise
        except Exception as exc:
            raise ClassifierFileError(f"{pipeline_path} cannot be loaded ({type(exc).__name__}: {exc})") from exc
        expected_type = cls._pipeline_type()
        if type(pipeline) is not expected_type:
            raise ClassifierFileError(f"{pipeline_path} holds a {type(pipeline).__name__}, {state_path} "
                                      f"says {kind} (which saves a {expected_type.__name__})")
        if getattr(pipeline, "n_features_in_", None) != n_features:
            raise ClassifierFileError(f"{pipeline_path} reads {getattr(pipeline, 'n_features_in_', None)} features, "
                                      f"{state_path} says {n_features}")

        model = cls(**params)
        model.pipeline_ = pipeline
        model.platt_ = (float(platt[0]), float(platt[1]))
        model.n_features_in_ = n_features
        model.classes_ = np.array([0, 1])
        try:
            model._set_state(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ClassifierFileError(f"{state_path}: missing or malformed {kind} state "
                                      f"({type(exc).__name__}: {exc})") from exc
        return model


def _read_state(state_path: Path) -> dict:
    try:
        state = json.loads(state_path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError: their messages lack the file
        raise ClassifierFileError(f"{state_path} is not valid JSON ({exc})") from exc
    if not isinstance(state, dict):
        raise ClassifierFileError(f"{state_path} holds a JSON {type(state).__name__}, not an object")
    return state


class AdditiveClassifier(_CalibratedClassifier):
    def __init__(self, n_knots: int = 6, degree: int = 3, C: float = 0.5, n_quantiles: int = 200):
        self.n_knots = n_knots
        self.degree = degree
        self.C = C
        self.n_quantiles = n_quantiles

    def fit(self, X, y, sample_weight=None):
        X, y, weights = _balanced(X, y, sample_weight)
        self.pipeline_ = Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("quantile", QuantileTransformer(n_quantiles=min(self.n_quantiles, len(X)),
                                             output_distribution="uniform", subsample=None)),
            ("spline", SplineTransformer(n_knots=self.n_knots, degree=self.degree, knots="uniform")),
            ("logit", LogisticRegression(C=self.C, max_iter=5000)),
        ])
        self.pipeline_.fit(X, y, logit__sample_weight=weights)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        self.basis_mean_ = self._basis(X).mean(axis=0)
        self.platt_ = (1.0, 0.0)
        return self

    def _basis(self, X):
        steps = self.pipeline_.named_steps
        X = np.asarray(X, dtype=float)
        return steps["spline"].transform(steps["quantile"].transform(steps["impute"].transform(X)))

    def contributions(self, X):
        """(n_docs, n_features): each feature's calibrated share of the log-odds, relative to the
        average training document (so the shares plus a constant sum to the decision function)."""
        basis = self._basis(X) - self.basis_mean_
        coef = self.pipeline_.named_steps["logit"].coef_[0]
        per_feature = (basis * coef).reshape(len(basis), self.n_features_in_, -1).sum(axis=2)
        return self.platt_[0] * per_feature

    def _state(self) -> dict:
        return {"basis_mean": self.basis_mean_.tolist()}

    @staticmethod
    def _pipeline_type():
        return Pipeline

    def _set_state(self, state: dict) -> None:
        basis_mean = np.asarray(state["basis_mean"], dtype=float)
        if basis_mean.ndim != 1 or len(basis_mean) % self.n_features_in_:
            raise ValueError(f"basis_mean has shape {basis_mean.shape}, not a multiple of "
                             f"{self.n_features_in_} features")
        self.basis_mean_ = basis_mean


class BoostedClassifier(_CalibratedClassifier):
    def __init__(self, max_iter: int = 400, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 40, l2_regularization: float = 1.0, random_state: int = 0,
                 monotonic_cst: list[int] | None = None):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.monotonic_cst = monotonic_cst

    def fit(self, X, y, sample_weight=None):
        from sklearn.ensemble import HistGradientBoostingClassifier

        X, y, weights = _balanced(X, y, sample_weight)
        self.pipeline_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            early_stopping=False, random_state=self.random_state, monotonic_cst=self.monotonic_cst)
        self.pipeline_.fit(X, y, sample_weight=weights)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        self.medians_ = np.nanmedian(X, axis=0)
        self.platt_ = (1.0, 0.0)
        return self

    def contributions(self, X):
        """(n_docs, n_features): log-odds minus the log-odds with that feature set to its median."""
        X = np.asarray(X, dtype=float)
        n, d = X.shape
        base = self.decision_function(X)
        occluded = np.repeat(X[:, None, :], d, axis=1)
        occluded[:, np.arange(d), np.arange(d)] = self.medians_
        return base[:, None] - self.decision_function(occluded.reshape(n * d, d)).reshape(n, d)

    def _state(self) -> dict:
        return {"medians": [None if np.isnan(v) else float(v) for v in self.medians_]}

    @staticmethod
    def _pipeline_type():
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier

    def _set_state(self, state: dict) -> None:
        medians = np.array([np.nan if v is None else v for v in state["medians"]], dtype=float)
        if medians.shape != (self.n_features_in_,):
            raise ValueError(f"{len(medians)} medians for {self.n_features_in_} features")
        self.medians_ = medians


def load_classifier(directory: Path, name: str) -> _CalibratedClassifier:
    return _CalibratedClassifier.load(directory, name)
