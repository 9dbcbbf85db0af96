"""Two small learned models over the reference LM's kept outputs (`LMResult.hidden`, `LMResult.tokens`).

`HiddenStateProbe` is a linear probe on mean-pooled hidden states: the residual stream carries more than
the next-token distribution the zero-shot statistics summarise. `TokenSequenceModel` is a small
convolutional network over the per-token sequences (in the spirit of SeqXGPT): document averages throw
away *where* a text is predictable; the local rhythm of surprisal (runs of near-certain tokens, how
surprise follows surprise) is lost in a mean.

Both follow scikit-learn conventions (parameters in `__init__`, fitted attributes end in `_`), score in
log-odds of label 1 = machine, give NaN for documents without LM outputs, and are saved as plain NPZ
archives (read with allow_pickle=False). A file that cannot be read back exactly raises
`LMEvidenceFileError`, a ValueError whose message names the file and the problem.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.special import expit

from detector.features.lm import POOLED_LAYERS, TOKEN_SEQUENCE_NAMES

# Recorded in every saved file and checked on load; bump when a change alters what a saved model means
# (its inputs, channels or architecture).
LM_EVIDENCE_VERSION = "lme1"

HIDDEN_PROBE_LAYERS = (10, 20, 30)
SEQUENCE_CHANNEL_NAMES = TOKEN_SEQUENCE_NAMES + ("loglik_plus_entropy", "loglik_diff")


class LMEvidenceFileError(ValueError):
    """A saved LM evidence model cannot be loaded; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------------------
# Inputs


def hidden_probe_inputs(hidden) -> np.ndarray:
    """(n, len(HIDDEN_PROBE_LAYERS) * hidden size) float32: the mean-pooled states (`hidden[:, 0]`) at
    HIDDEN_PROBE_LAYERS, concatenated in that order.

    `hidden` is the stacked (n, 2, len(POOLED_LAYERS), hidden size) array, or a sequence of per-document
    (2, len(POOLED_LAYERS), hidden size) arrays with None for documents without outputs. Rows that are
    all zero (how stacked arrays mark documents without outputs) come back as NaN rows.
    """
    if not isinstance(hidden, np.ndarray):
        hidden = list(hidden)
        present = [h for h in hidden if h is not None]
        if not present:
            raise ValueError("hidden_probe_inputs: no document has hidden states, the width is unknown")
        template = np.zeros_like(np.asarray(present[0]))
        hidden = np.stack([template if h is None else np.asarray(h) for h in hidden])
    if hidden.ndim != 4 or hidden.shape[1] != 2 or hidden.shape[2] != len(POOLED_LAYERS):
        raise ValueError(f"hidden states must have shape (n, 2, {len(POOLED_LAYERS)}, hidden size), "
                         f"got {hidden.shape}")
    positions = [POOLED_LAYERS.index(layer) for layer in HIDDEN_PROBE_LAYERS]
    x = hidden[:, 0, positions, :].reshape(len(hidden), -1).astype(np.float32)
    x[~np.any(x != 0, axis=1)] = np.nan  # all-zero rows; rows already NaN stay NaN
    return x


def sequence_channels(tokens) -> np.ndarray:
    """(len(SEQUENCE_CHANNEL_NAMES), n) float32 channels of one document's (4, n) token sequences.

    loglik, entropy, var_logp and log_rank as given, then loglik + entropy = E_p[-log p] - (-log p(x_t)),
    the gap between the expected and the actual surprisal (Fast-DetectGPT's per-token term; positive
    where the token is less surprising than the model expected), and the first difference of loglik
    (0 at t = 0), how surprise changes from one token to the next.
    """
    tokens = np.asarray(tokens, dtype=np.float32)
    if tokens.ndim != 2 or tokens.shape[0] != len(TOKEN_SEQUENCE_NAMES):
        raise ValueError(f"token sequences must have shape ({len(TOKEN_SEQUENCE_NAMES)}, n), got {tokens.shape}")
    loglik, entropy = tokens[0], tokens[1]
    diff = np.zeros_like(loglik)
    diff[1:] = np.diff(loglik)
    return np.concatenate([tokens, (loglik + entropy)[None], diff[None]]).astype(np.float32)


def _has_tokens(tokens) -> bool:
    """False for documents without outputs (None or no tokens); a wrong shape fails later, loudly."""
    return tokens is not None and np.asarray(tokens).size > 0


def _sample_weights(sample_weight, n: int) -> np.ndarray:
    """Per-row weights (all 1 when None): finite, non-negative, one per row."""
    if sample_weight is None:
        return np.ones(n)
    weight = np.asarray(sample_weight, dtype=float).ravel()
    if weight.size != n:
        raise ValueError(f"sample_weight has {weight.size} values for {n} rows")
    if not np.all(np.isfinite(weight)) or (weight < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    return weight


def _binary_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if len(y) != n:
        raise ValueError(f"{n} documents but {len(y)} labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (human) or 1 (machine), got {np.unique(y)[:5]}")
    return y.astype(np.int64)


# ---------------------------------------------------------------------------------------------------
# NPZ files: no pickle, every array read eagerly so that a damaged member fails here, not later.


def _config_array(model: str, params: dict, **extra) -> np.ndarray:
    """The JSON config as a 0-d unicode array (not an object array, which would need pickle)."""
    return np.array(json.dumps({"model": model, "version": LM_EVIDENCE_VERSION, "params": params, **extra}))


def _read_npz(path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LMEvidenceFileError(f"{path}: not a readable npz archive ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise LMEvidenceFileError(f"{path}: a single .npy array, not an npz archive")
    try:
        with data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise LMEvidenceFileError(f"{path}: damaged npz member ({type(exc).__name__}: {exc})") from exc


def _read_config(arrays: dict, path, model: str, param_names: Sequence[str]) -> dict:
    """The config's params, after checking that it describes `model` at this version."""
    raw = arrays.get("config")
    if raw is None:
        raise LMEvidenceFileError(f"{path}: missing key 'config'")
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise LMEvidenceFileError(f"{path}: 'config' must be a 0-d unicode array, got {raw.dtype} {raw.shape}")
    try:
        config = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise LMEvidenceFileError(f"{path}: 'config' is not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("model") != model:
        found = config.get("model") if isinstance(config, dict) else config
        raise LMEvidenceFileError(f"{path}: config describes {found!r}, not a {model}")
    if config.get("version") != LM_EVIDENCE_VERSION:
        raise LMEvidenceFileError(f"{path}: version {config.get('version')!r}, "
                                  f"this code reads {LM_EVIDENCE_VERSION!r}")
    params = config.get("params")
    if not isinstance(params, dict) or set(params) != set(param_names):
        raise LMEvidenceFileError(f"{path}: config params {params!r} do not match {sorted(param_names)}")
    return config


def _require(arrays: dict, path, name: str, shape: tuple) -> np.ndarray:
    """The float array `name` with exactly `shape` and finite values."""
    if name not in arrays:
        raise LMEvidenceFileError(f"{path}: missing key {name!r}")
    value = arrays[name]
    if value.shape != shape:
        raise LMEvidenceFileError(f"{path}: {name!r} has shape {value.shape}, expected {shape}")
    if value.dtype.kind != "f":
        raise LMEvidenceFileError(f"{path}: {name!r} has dtype {value.dtype}, expected floats")
    if not np.all(np.isfinite(value)):
        raise LMEvidenceFileError(f"{path}: {name!r} has non-finite values")
    return value


def _check_no_extra(arrays: dict, path, expected: set) -> None:
    extra = sorted(set(arrays) - expected)
    if extra:
        raise LMEvidenceFileError(f"{path}: unexpected keys {extra}")


def _proba(scores: np.ndarray) -> np.ndarray:
    machine = expit(scores)
    return np.column_stack([1.0 - machine, machine])


# ---------------------------------------------------------------------------------------------------
# Hidden-state probe


class HiddenStateProbe:
    """Class-balanced L2 logistic regression on standardised `hidden_probe_inputs`.

    `fit`, `decision_function` and `predict_proba` take the (n, features) inputs, or the stacked
    (n, 2, layers, hidden size) hidden states, which they turn into inputs. Rows with NaN (documents
    without outputs) are left out of the fit and score NaN.
    """

    _PARAMS = ("C", "max_iter")

    def __init__(self, C: float = 0.05, max_iter: int = 2000):
        self.C = C
        self.max_iter = max_iter

    def get_params(self) -> dict:
        return {"C": float(self.C), "max_iter": int(self.max_iter)}

    @staticmethod
    def _inputs(X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 4:
            return hidden_probe_inputs(X)
        X = X.astype(np.float32, copy=False)
        if X.ndim != 2:
            raise ValueError(f"probe inputs must be 2-d (n, features) or 4-d hidden states, got shape {X.shape}")
        return X

    def fit(self, X, y, sample_weight=None) -> "HiddenStateProbe":
        """sample_weight, when given, multiplies the class-balanced weights (e.g. source weights)."""
        from sklearn.linear_model import LogisticRegression

        X = self._inputs(X)
        y = _binary_labels(y, len(X))
        weight = _sample_weights(sample_weight, len(X))
        keep = ~np.isnan(X).any(axis=1)
        X, y, weight = X[keep].astype(np.float64), y[keep], weight[keep]
        if len(np.unique(y)) != 2:
            raise ValueError("HiddenStateProbe.fit needs both classes among rows with hidden states")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 1e-8, scale, 1.0)  # constant features: leave them at 0
        model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter, solver="lbfgs")
        model.fit((X - self.mean_) / self.scale_, y, sample_weight=weight)
        self.coef_ = model.coef_[0].astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of machine, shape (n,); NaN for rows without hidden states."""
        X = self._inputs(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"probe was fitted on {self.n_features_in_} features, got {X.shape[1]}")
        return ((X.astype(np.float64) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities [human, machine]; NaN rows for rows without hidden states."""
        return _proba(self.decision_function(X))

    def save(self, path) -> None:
        # Written through a handle: np.savez given a name would append ".npz" to it.
        with open(path, "wb") as handle:
            np.savez(handle, config=_config_array("HiddenStateProbe", self.get_params()),
                     layers=np.array(HIDDEN_PROBE_LAYERS, dtype=np.int64),
                     mean=self.mean_, scale=self.scale_, coef=self.coef_,
                     intercept=np.array([self.intercept_]))

    @classmethod
    def load(cls, path) -> "HiddenStateProbe":
        arrays = _read_npz(path)
        config = _read_config(arrays, path, "HiddenStateProbe", cls._PARAMS)
        _check_no_extra(arrays, path, {"config", "layers", "mean", "scale", "coef", "intercept"})
        layers = arrays.get("layers")
        if layers is None:
            raise LMEvidenceFileError(f"{path}: missing key 'layers'")
        if layers.dtype.kind not in "iu" or tuple(layers.tolist()) != HIDDEN_PROBE_LAYERS:
            raise LMEvidenceFileError(f"{path}: probe reads layers {layers.tolist()}, this code gives "
                                      f"inputs from {list(HIDDEN_PROBE_LAYERS)}")
        # The width comes from coef (the hidden size is the model's); the other arrays must match it.
        coef = arrays.get("coef")
        if coef is None:
            raise LMEvidenceFileError(f"{path}: missing key 'coef'")
        if coef.ndim != 1 or coef.shape[0] == 0 or coef.shape[0] % len(HIDDEN_PROBE_LAYERS):
            raise LMEvidenceFileError(f"{path}: 'coef' must be 1-d with a multiple of "
                                      f"{len(HIDDEN_PROBE_LAYERS)} entries, got shape {coef.shape}")
        width = coef.shape
        probe = cls(**config["params"])
        probe.coef_ = _require(arrays, path, "coef", width).astype(np.float64)
        probe.mean_ = _require(arrays, path, "mean", width).astype(np.float64)
        probe.scale_ = _require(arrays, path, "scale", width).astype(np.float64)
        if np.any(probe.scale_ <= 0):
            raise LMEvidenceFileError(f"{path}: 'scale' has non-positive entries")
        probe.intercept_ = float(_require(arrays, path, "intercept", (1,))[0])
        probe.n_features_in_ = width[0]
        return probe


# ---------------------------------------------------------------------------------------------------
# Token-sequence model


def _network(channels: int, width: int, kernel: int):
    import torch
    from torch import nn

    class SequenceNet(nn.Module):
        """Two length-preserving convolutions (the second dilated: a receptive field of 3 * (kernel - 1)
        + 1 tokens), then masked mean- and max-pooling over the document, then a linear head."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(channels, width, kernel, padding=kernel // 2)
            self.conv2 = nn.Conv1d(width, width, kernel, padding=(kernel // 2) * 2, dilation=2)
            self.head = nn.Linear(2 * width, 1)

        def forward(self, x, mask):  # x (batch, channels, length), mask (batch, length) bool
            m = mask[:, None, :].to(x.dtype)
            # Zeroing padded positions between layers makes a document's score independent of how much
            # padding its batch adds (padding then looks exactly like the convolutions' own zeros).
            h = nn.functional.gelu(self.conv1(x * m)) * m
            h = nn.functional.gelu(self.conv2(h))
            mean = (h * m).sum(-1) / m.sum(-1).clamp(min=1.0)
            peak = h.masked_fill(~mask[:, None, :], float("-inf")).amax(-1)
            return self.head(torch.cat([mean, peak], dim=1)).squeeze(-1)

    return SequenceNet()


class TokenSequenceModel:
    """A small 1-d CNN over `sequence_channels` of the first `max_len` tokens of each document.

    `fit(tokens, y)` and `decision_function(tokens)` take a sequence of per-document (4, n) arrays
    (`LMResult.tokens`); documents with None or no tokens are left out of the fit and score NaN.
    Channels are standardised with per-channel statistics of the training tokens and clipped to
    +-CLIP (var_logp in particular is heavy-tailed). Training: class-balanced BCE with logits, AdamW
    with cosine decay of the learning rate, batches of similar lengths (padding costs time), seeded
    initialisation and shuffling.
    """

    _PARAMS = ("max_len", "width", "kernel", "epochs", "batch_size", "lr", "weight_decay", "seed")
    CLIP = 8.0

    def __init__(self, max_len: int = 256, width: int = 32, kernel: int = 5, epochs: int = 6,
                 batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-2, seed: int = 0,
                 device: str | None = None):
        self.max_len = max_len
        self.width = width
        self.kernel = kernel
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device

    def get_params(self) -> dict:
        """The saved parameters (the device is a choice of where to run, not part of the model)."""
        return {"max_len": int(self.max_len), "width": int(self.width), "kernel": int(self.kernel),
                "epochs": int(self.epochs), "batch_size": int(self.batch_size), "lr": float(self.lr),
                "weight_decay": float(self.weight_decay), "seed": int(self.seed)}

    def _device(self):
        import torch

        return torch.device(self.device or "cpu")

    def _channels(self, tokens) -> list[np.ndarray | None]:
        return [sequence_channels(np.asarray(t)[:, : self.max_len]) if _has_tokens(t) else None for t in tokens]

    def _padded(self, channels: list[np.ndarray]):
        """Standardised, clipped, zero-padded (n, channels, max length) tensor, mask and lengths."""
        import torch

        lengths = np.array([c.shape[1] for c in channels])
        x = np.zeros((len(channels), len(SEQUENCE_CHANNEL_NAMES), lengths.max(initial=1)), dtype=np.float32)
        mean, std = self.channel_mean_[:, None], self.channel_std_[:, None]
        for i, c in enumerate(channels):
            x[i, :, : c.shape[1]] = np.clip(np.nan_to_num((c - mean) / std), -self.CLIP, self.CLIP)
        mask = np.arange(x.shape[2])[None, :] < lengths[:, None]
        return torch.from_numpy(x), torch.from_numpy(mask), lengths

    def fit(self, tokens: Sequence, y, sample_weight=None) -> "TokenSequenceModel":
        """sample_weight, when given, multiplies the class-balanced weights (e.g. source weights)."""
        import torch

        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (length-preserving convolutions), got {self.kernel}")
        tokens = list(tokens)
        y = _binary_labels(y, len(tokens))
        extra = _sample_weights(sample_weight, len(tokens))
        channels = self._channels(tokens)
        keep = [i for i, c in enumerate(channels) if c is not None]
        channels, y, extra = [channels[i] for i in keep], y[keep].astype(np.float32), extra[keep]
        if len(np.unique(y)) != 2:
            raise ValueError("TokenSequenceModel.fit needs both classes among documents with tokens")

        # Per-channel statistics over every training token (float64 sums: millions of tokens).
        total = sum(c.shape[1] for c in channels)
        s1 = sum(c.sum(axis=1, dtype=np.float64) for c in channels)
        s2 = sum((c.astype(np.float64) ** 2).sum(axis=1) for c in channels)
        self.channel_mean_ = (s1 / total).astype(np.float32)
        std = np.sqrt(np.maximum(s2 / total - (s1 / total) ** 2, 0.0))
        self.channel_std_ = np.where(std > 1e-6, std, 1.0).astype(np.float32)

        x, mask, lengths = self._padded(channels)
        device = self._device()
        x, mask = x.to(device), mask.to(device)
        target = torch.from_numpy(y).to(device)
        # Balanced weights, as sklearn's class_weight="balanced": n / (2 * n_class).
        counts = np.bincount(y.astype(np.int64), minlength=2)
        balanced = (len(y) / (2.0 * counts))[y.astype(np.int64)] * extra
        weight = torch.from_numpy(balanced.astype(np.float32)).to(device)

        # Initialise under a forked RNG: seeded and reproducible, without resetting the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = _network(len(SEQUENCE_CHANNEL_NAMES), self.width, self.kernel)
        network.to(device).train()
        optimiser = torch.optim.AdamW(network.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        rng = np.random.default_rng(self.seed)
        steps = self.epochs * -(-len(y) // self.batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(steps, 1))
        self.train_loss_ = []
        for _ in range(self.epochs):
            epoch_loss, seen = 0.0, 0
            for batch in _length_batches(lengths, self.batch_size, rng):
                width = int(lengths[batch].max())
                index = torch.from_numpy(batch).to(device)
                logits = network(x[index, :, :width], mask[index, :width])
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, target[index], weight=weight[index], reduction="mean")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                epoch_loss += loss.item() * len(batch)
                seen += len(batch)
            self.train_loss_.append(epoch_loss / seen)
        self.network_ = network.eval()
        return self

    def decision_function(self, tokens: Sequence) -> np.ndarray:
        """Log-odds of machine, shape (n,); NaN for documents with None or no tokens."""
        import torch

        channels = self._channels(list(tokens))
        scores = np.full(len(channels), np.nan)
        present = [i for i, c in enumerate(channels) if c is not None]
        if not present:
            return scores
        # Sorted by length so that each batch pads little; scores do not depend on the batching.
        present.sort(key=lambda i: channels[i].shape[1])
        device = self._device()
        self.network_.to(device).eval()
        step = max(self.batch_size, 256)
        with torch.inference_mode():
            for start in range(0, len(present), step):
                batch = present[start : start + step]
                x, mask, _ = self._padded([channels[i] for i in batch])
                scores[batch] = self.network_(x.to(device), mask.to(device)).double().cpu().numpy()
        return scores

    def predict_proba(self, tokens: Sequence) -> np.ndarray:
        """(n, 2) probabilities [human, machine]; NaN rows for documents without tokens."""
        return _proba(self.decision_function(tokens))

    def save(self, path) -> None:
        arrays = {f"param/{name}": value.detach().cpu().float().numpy()
                  for name, value in self.network_.state_dict().items()}
        with open(path, "wb") as handle:
            np.savez(handle, config=_config_array("TokenSequenceModel", self.get_params(),
                                                  channels=list(SEQUENCE_CHANNEL_NAMES)),
                     channel_mean=self.channel_mean_, channel_std=self.channel_std_, **arrays)

    @classmethod
    def load(cls, path, device: str | None = None) -> "TokenSequenceModel":
        import torch

        arrays = _read_npz(path)
        config = _read_config(arrays, path, "TokenSequenceModel", cls._PARAMS)
        if config.get("channels") != list(SEQUENCE_CHANNEL_NAMES):
            raise LMEvidenceFileError(f"{path}: model reads channels {config.get('channels')}, this code "
                                      f"gives {list(SEQUENCE_CHANNEL_NAMES)}")
        params = config["params"]
        try:
            model = cls(**params, device=device)
            if model.kernel < 1 or model.kernel % 2 == 0 or model.width < 1:
                raise ValueError(f"kernel {model.kernel}, width {model.width}")
            network = _network(len(SEQUENCE_CHANNEL_NAMES), model.width, model.kernel)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise LMEvidenceFileError(f"{path}: config params {params} do not build a network ({exc})") from exc
        n = len(SEQUENCE_CHANNEL_NAMES)
        model.channel_mean_ = _require(arrays, path, "channel_mean", (n,)).astype(np.float32)
        model.channel_std_ = _require(arrays, path, "channel_std", (n,)).astype(np.float32)
        if np.any(model.channel_std_ <= 0):
            raise LMEvidenceFileError(f"{path}: 'channel_std' has non-positive entries")
        expected = network.state_dict()
        state = {}
        for name, value in expected.items():
            array = _require(arrays, path, f"param/{name}", tuple(value.shape))
            state[name] = torch.from_numpy(array.astype(np.float32))
        _check_no_extra(arrays, path, {"config", "channel_mean", "channel_std"} | {f"param/{k}" for k in expected})
        network.load_state_dict(state)
        model.network_ = network.eval()
        return model


def _length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches of similar lengths in random order: shuffle, sort within pools of 16 batches by
    length, cut, then shuffle the batches (random batch composition, little padding)."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 16
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
