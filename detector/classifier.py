"""A calibrated additive classifier: each feature's effect is a smooth curve, and the log-odds is their sum.

Why additive: the `reasons` given with every decision are then exact (a feature's contribution is its
own term of the log-odds), and each curve is flat outside the range seen in training, so a feature
far out of distribution (a new domain) cannot push the score without bound.

Pipeline: median imputation -> per-feature quantile transform (robust to scale and outliers) ->
cubic B-spline basis -> class-balanced L2 logistic regression; then Platt scaling fit on held-out data.
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
    "scipy.interpolate._bsplines.BSpline",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
    "builtins.slice",
    # sklearn keeps the array-API namespace function it used; a plain numpy alias.
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


class AdditiveClassifier(BaseEstimator, ClassifierMixin):
    def __init__(self, n_knots: int = 6, degree: int = 3, C: float = 0.5, n_quantiles: int = 200):
        self.n_knots = n_knots
        self.degree = degree
        self.C = C
        self.n_quantiles = n_quantiles

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        # Balanced weights: machine text outnumbers human two to one, and the prior must not decide.
        weights = compute_sample_weight("balanced", y)
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=float)
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

    def calibrate(self, X, y) -> "AdditiveClassifier":
        """Platt scaling on held-out data, class-balanced so calibrated p=0.5 sits between the classes."""
        z = self.raw_log_odds(X)[:, None]
        y = np.asarray(y, dtype=int)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(z, y, sample_weight=compute_sample_weight("balanced", y))
        self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        return self

    def _basis(self, X):
        steps = self.pipeline_.named_steps
        X = np.asarray(X, dtype=float)
        return steps["spline"].transform(steps["quantile"].transform(steps["impute"].transform(X)))

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

    def contributions(self, X):
        """(n_docs, n_features): each feature's calibrated share of the log-odds, relative to the
        average training document (so the shares plus a constant sum to the decision function)."""
        basis = self._basis(X) - self.basis_mean_
        coef = self.pipeline_.named_steps["logit"].coef_[0]
        per_feature = (basis * coef).reshape(len(basis), self.n_features_in_, -1).sum(axis=2)
        return self.platt_[0] * per_feature

    # --- persistence: skops for the sklearn pipeline, JSON for the rest; never pickle ---------------

    def save(self, directory: Path, name: str) -> list[Path]:
        import skops.io as sio

        directory.mkdir(parents=True, exist_ok=True)
        pipeline_path = directory / f"{name}.skops"
        sio.dump(self.pipeline_, pipeline_path)
        state_path = directory / f"{name}.json"
        state_path.write_text(json.dumps({
            "params": self.get_params(), "platt": list(self.platt_),
            "basis_mean": self.basis_mean_.tolist(), "n_features_in": self.n_features_in_}, indent=1))
        return [pipeline_path, state_path]

    @classmethod
    def load(cls, directory: Path, name: str) -> "AdditiveClassifier":
        import skops.io as sio

        pipeline_path = directory / f"{name}.skops"
        untrusted = set(sio.get_untrusted_types(file=pipeline_path)) - set(TRUSTED_SKOPS_TYPES)
        if untrusted:
            raise ValueError(f"{pipeline_path} holds types synthsieve does not load: {sorted(untrusted)}")
        state = json.loads((directory / f"{name}.json").read_text())
        model = cls(**state["params"])
        model.pipeline_ = sio.load(pipeline_path, trusted=TRUSTED_SKOPS_TYPES)
        model.platt_ = tuple(state["platt"])
        model.basis_mean_ = np.asarray(state["basis_mean"])
        model.n_features_in_ = state["n_features_in"]
        model.classes_ = np.array([0, 1])
        return model
