"""Zero-shot LM features: every one of them from a single batched forward pass of the reference LM.

Per scored token t (the target of position t-1) with next-token distribution p:
  log-likelihood ll_t = log p(x_t); entropy H_t = -sum p log p; rank_t = 1 + #{v : log p(v) > ll_t}.
Document features aggregate these. Fast-DetectGPT's analytic criterion (sampling and scoring with the
same model) is (sum ll - sum E_p[log p]) / sqrt(sum Var_p[log p]). The Binoculars-style ratio is the
log-perplexity over the mean entropy (with one model, the cross-perplexity is the entropy).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from detector.features.precision import DEFAULT_PRECISION, check_precision
from detector.reference_lm import ReferenceModelSource, resolve_reference_model

# Bump when a change alters any LM feature value: cached features are keyed by it.
LM_FEATURE_VERSION = "lm1"

LM_FEATURE_NAMES = (
    "lm_mean_loglik",
    "lm_mean_entropy",
    "lm_mean_logrank",
    "lm_top1_share",
    "lm_top10_share",
    "lm_top100_share",
    "lm_top1000_share",
    "lm_surprisal_std",
    "lm_sentence_surprisal_std",
    "lm_burstiness",
    "lm_fast_detectgpt",
    "lm_binoculars_ratio",
)
_SENTENCE_END = re.compile(r"[.!?。！？؟]+[\"'”’)\]]*\s+|\n+")


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# What the pass keeps beside the statistics when asked (`PerplexityFeatures(keep_outputs=True)`):
# hidden states pooled at these layers (hidden_states[0] is the embedding output), and per-token
# sequences. Bump LM_OUTPUTS_VERSION when either changes: cached outputs are keyed by it.
LM_OUTPUTS_VERSION = "lmo1"
POOLED_LAYERS = (5, 10, 15, 20, 25, 30)
TOKEN_SEQUENCE_NAMES = ("loglik", "entropy", "var_logp", "log_rank")


@dataclass
class LMResult:
    """LM outputs of one document; `features` is None when it had too few tokens to score.

    hidden: (2, len(POOLED_LAYERS), hidden size) float16, the mean over the document's tokens and the
        last token's state at each pooled layer (None unless outputs were kept, or too few tokens).
    tokens: (len(TOKEN_SEQUENCE_NAMES), n_tokens) float16 per-token sequences, same condition.
    """

    n_tokens: int
    features: np.ndarray | None
    hidden: np.ndarray | None = None
    tokens: np.ndarray | None = None


class PerplexityFeatures:
    """Batched LM feature extractor with length bucketing and a token cap.

    Parameters mirror the CLI: `reference_model` (None = shipped SmolLM2, else a local directory or
    .gguf), `token_cap` (tokens scored per document), `batch_tokens` (padded tokens per forward pass),
    `compile_statistics` (fuse the per-token statistics with torch.compile, and int8's quantize and
    rescale steps), `precision` ("bf16", or "int8": the linear layers in int8 on the CPU, see
    detector/features/int8.py; with no device named it runs on the CPU, a GPU device is refused).
    """

    names = LM_FEATURE_NAMES

    def __init__(self, reference_model=None, token_cap: int = 512, batch_tokens: int = 4096,
                 device: str | None = None, compile_statistics: bool = False, keep_outputs: bool = False,
                 precision: str = DEFAULT_PRECISION):
        self.reference_model = reference_model
        self.precision = check_precision(precision, device)
        # Pooled hidden states and per-token sequences from the same forward pass (LMResult.hidden,
        # LMResult.tokens); off by default, as only models that read them need them.
        self.keep_outputs = keep_outputs
        # Worth its one-off compile only for bulk work (eval, corpus filtering, benchmarks).
        self.compile_statistics = compile_statistics
        self.token_cap = int(token_cap)
        self.batch_tokens = int(batch_tokens)
        self.device = device
        self._model = None
        self._tokenizer = None
        self.source: ReferenceModelSource | None = None

    def load(self) -> "PerplexityFeatures":
        if self._model is not None:
            return self
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.source = resolve_reference_model(self.reference_model)
        # int8 is a CPU path: it takes the CPU when no device is named, even where CUDA is present.
        self.device = self.device or ("cpu" if self.precision == "int8" else pick_device())
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.source.directory))
        model = AutoModelForCausalLM.from_pretrained(str(self.source.directory), dtype=torch.bfloat16)
        if self.precision == "int8":
            from detector.features.int8 import quantize_linears

            quantize_linears(model, compiled=self.compile_statistics)
        self._model = model.to(self.device).eval()
        tok = self._tokenizer
        self._prefix_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self._pad_id = tok.pad_token_id if tok.pad_token_id is not None else (self._prefix_id or 0)
        return self

    @property
    def tokenizer(self):
        return self.load()._tokenizer

    def tokenize(self, texts: list[str]):
        """Token ids and character offsets, capped; the first id is the context prefix (BOS/EOS)."""
        tok = self.tokenizer
        # A huge document only needs its head: ~8 chars per token is generous for every script.
        heads = [t[: self.token_cap * 8] for t in texts]
        enc = tok(heads, add_special_tokens=False, return_offsets_mapping=True,
                  truncation=True, max_length=self.token_cap)
        ids = [[self._prefix_id, *row] for row in enc["input_ids"]]
        return ids, enc["offset_mapping"]

    def count_tokens(self, texts: list[str]) -> list[int]:
        ids, _ = self.tokenize(texts)
        return [len(row) - 1 for row in ids]

    def compute(self, texts: list[str]) -> list[LMResult]:
        """LM features for each text, batched by similar length to waste little padding."""
        self.load()
        ids, offsets = self.tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        results: list[LMResult | None] = [None] * len(texts)
        batch: list[int] = []
        for index in order:
            longest = max(len(ids[index]), *(len(ids[j]) for j in batch)) if batch else len(ids[index])
            if batch and longest * (len(batch) + 1) > self.batch_tokens:
                self._run_batch(batch, ids, offsets, texts, results)
                batch = []
            batch.append(index)
        if batch:
            self._run_batch(batch, ids, offsets, texts, results)
        return results  # type: ignore[return-value]

    def _run_batch(self, batch, ids, offsets, texts, results) -> None:
        import torch

        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        with torch.inference_mode():
            output = self._model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                 output_hidden_states=self.keep_outputs)
            logits = output.logits
            layers = self._pooled_layers(output.hidden_states) if self.keep_outputs else None
            for row, i in enumerate(batch):
                n = len(ids[i]) - 1
                if n < 2:
                    results[i] = LMResult(max(n, 0), None)
                    continue
                statistics = compiled_token_statistics if self.compile_statistics else _token_statistics
                token_stats = statistics(logits[row, :n], input_ids[row, 1 : n + 1].to(self.device))
                result = LMResult(n, _document_features(token_stats, offsets[i][:n], texts[i]))
                if layers is not None:
                    # Positions 1..n hold the document's tokens (0 is the context prefix).
                    states = layers[:, row, 1 : n + 1].float()
                    result.hidden = torch.stack([states.mean(dim=1), states[:, -1]]).half().cpu().numpy()
                    ll, entropy, _, var_logp, rank = token_stats
                    result.tokens = np.stack([ll, entropy, var_logp, np.log(rank)]).astype(np.float16)
                results[i] = result


    def _pooled_layers(self, hidden_states):
        """(layers, batch, width, hidden) for POOLED_LAYERS, clipped to the model's depth (a small local
        model has fewer layers; its deepest stands in for the missing ones)."""
        import torch

        deepest = len(hidden_states) - 1
        return torch.stack([hidden_states[min(layer, deepest)] for layer in POOLED_LAYERS])


def _token_statistics(logits, targets):
    """Per-token (loglik, entropy, E[log p], Var[log p], rank) as float64 numpy arrays.

    Written for few passes over the vocabulary (eagerly, it costs as much as the forward pass):
    in-place log-softmax, and the two expectations as batched dot products.
    """
    import torch

    logp = logits.float()
    target_logit = logp.gather(-1, targets[:, None])
    rank = 1 + (logp > target_logit).sum(-1)
    logp.sub_(torch.logsumexp(logp, dim=-1, keepdim=True))
    ll = logp.gather(-1, targets[:, None]).squeeze(-1)
    p = logp.exp()
    mean_logp = torch.bmm(p[:, None, :], logp[:, :, None]).reshape(-1)
    p.mul_(logp)
    second_moment = torch.bmm(p[:, None, :], logp[:, :, None]).reshape(-1)
    var_logp = (second_moment - mean_logp.square()).clamp_min(0)
    stack = torch.stack([ll, -mean_logp, mean_logp, var_logp, rank.float()])
    return stack.double().cpu().numpy()


def _statistics_graph(logits, targets):
    """The same statistics written plainly, for torch.compile to fuse into one pass per reduction."""
    import torch

    z = logits.float()
    target_logit = z.gather(-1, targets[:, None])
    rank = 1 + (z > target_logit).sum(-1)
    lse = torch.logsumexp(z, dim=-1, keepdim=True)
    logp = z - lse
    p = logp.exp()
    mean_logp = (p * logp).sum(-1)
    second_moment = (p * logp * logp).sum(-1)
    ll = (target_logit - lse).squeeze(-1)
    return torch.stack([ll, -mean_logp, mean_logp, (second_moment - mean_logp.square()).clamp_min(0),
                        rank.float()])


_COMPILED = None


def compiled_token_statistics(logits, targets):
    """`_token_statistics` fused by torch.compile: ~10x faster on CPU after a ~20 s first compile."""
    global _COMPILED
    if _COMPILED is None:
        import torch

        _COMPILED = torch.compile(_statistics_graph, dynamic=True)
    return _COMPILED(logits, targets).double().cpu().numpy()


def _sentence_ids(offsets, text: str) -> np.ndarray:
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    starts = np.array([start for start, _ in offsets])
    return np.searchsorted(np.array(ends, dtype=np.int64), starts, side="right")


def _document_features(stats: np.ndarray, offsets, text: str) -> np.ndarray:
    ll, entropy, mean_logp, var_logp, rank = stats
    surprisal = -ll
    sentence = _sentence_ids(offsets, text)
    sentence_means = np.array([surprisal[sentence == s].mean() for s in np.unique(sentence)])
    sentence_std = float(sentence_means.std()) if len(sentence_means) > 1 else 0.0
    mean_surprisal = float(surprisal.mean())
    fast_detect = float((ll.sum() - mean_logp.sum()) / math.sqrt(max(var_logp.sum(), 1e-9)))
    return np.array([
        float(ll.mean()),
        float(entropy.mean()),
        float(np.log(rank).mean()),
        float((rank <= 1).mean()),
        float((rank <= 10).mean()),
        float((rank <= 100).mean()),
        float((rank <= 1000).mean()),
        float(surprisal.std()),
        sentence_std,
        sentence_std / max(mean_surprisal, 1e-6),
        fast_detect / math.sqrt(len(ll)),  # per-token scale, so length does not set the value
        mean_surprisal / max(float(entropy.mean()), 1e-6),
    ])
