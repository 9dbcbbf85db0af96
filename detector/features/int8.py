"""The reference LM's linear layers in int8 on the CPU (`PerplexityFeatures(precision="int8")`).

W8A8: each weight is rounded to int8 with one scale per output channel; each activation row (one
token) is rounded to int8 with its own scale when the layer runs, and the product is an int8 x int8
matrix multiply with int32 sums (`torch._int_mm`, oneDNN's VNNI kernels on x86), rescaled to bf16.
Everything else (embedding, norms, attention, the output head) stays in bf16, so the logits and the
hidden states have the dtype and the shapes of the bf16 path. The products are not bf16's: the
scores move a little (measured on 20 dev documents with the shipped model at cap 256: p_machine by
0.025 on average, 0.21 at most; scripts/evaluate_precision.py measures it on more).

Why not `torch.ao.quantization.quantize_dynamic` (also deprecated in torch 2.13): it quantizes each
activation with ONE scale for the whole batch. SmolLM2 has tokens whose activations are tens of
times larger than the rest (into the MLP's down projection of layers 1-2, the first token, which
every document starts with, reaches 40-50 times a typical token's largest value), so the other tokens
are rounded coarsely: on dev text it moved a document's mean log-likelihood by about 1.8 nats (top-1
agreement with fp32 0.3, against bf16's 0.97), and a document's values would depend on which
documents share its batch. With a scale per token, a row's product does not depend on the others,
and the mean log-likelihood moved by under 0.1 nat (top-1 agreement 0.86-0.89). What is left comes
from a few outlier channels (SmoothQuant-style rescaling would be the next step).

Layers that read the same input (q/k/v of attention, gate/up of the MLP) share one quantized copy of
it and one matrix multiply. The output head stays in bf16: its int8 product is no faster there
(the rescaling of a 49,152-wide output costs what the multiply saves).
"""

from __future__ import annotations

import torch

from detector.features.precision import Int8PrecisionError

# Children of one module that read the same tensor, fused into one int8 matrix multiply.
SHARED_INPUT_GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
KEEP_IN_BF16 = ("lm_head",)


def _quantize_rows(x):
    """int8 rows of x and their scales (symmetric, one per row)."""
    x = x.float()
    scale = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8) / 127.0
    return torch.round(x / scale).clamp(-127, 127).to(torch.int8), scale


def _rescale(product, row_scale, column_scale, dtype):
    return (product.float() * row_scale * column_scale).to(dtype)


class _Kernels:
    """The quantize and rescale steps, eager or fused by torch.compile (bulk work: a one-off compile
    of a few seconds; eagerly they cost about what the int8 multiply saves)."""

    def __init__(self, compiled: bool):
        if compiled:
            self.quantize = torch.compile(_quantize_rows, dynamic=True)
            self.rescale = torch.compile(_rescale, dynamic=True)
        else:
            self.quantize, self.rescale = _quantize_rows, _rescale


_KERNELS: dict[bool, _Kernels] = {}


def kernels(compiled: bool) -> _Kernels:
    if compiled not in _KERNELS:
        _KERNELS[compiled] = _Kernels(compiled)
    return _KERNELS[compiled]


def int8_weight(weight):
    """(K, N) int8 weight and its (N,) float32 per-output-channel scales, from an (N, K) weight."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1).clamp_min(1e-8) / 127.0
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.t().contiguous(), scale


class Int8SharedInput(torch.nn.Module):
    """Linear layers that read the same input, as one int8 multiply; Int8Linear(self, i) stands in for
    the i-th. The first member called with a tensor computes every member's output and keeps the
    others' until they are asked for with that same tensor; any other call order computes again."""

    def __init__(self, linears, shared_kernels: _Kernels):
        super().__init__()
        weights, scales = zip(*(int8_weight(linear.weight) for linear in linears))
        self.register_buffer("weight", torch.cat(weights, dim=1).contiguous(), persistent=False)
        self.register_buffer("weight_scale", torch.cat(scales), persistent=False)
        if any(linear.bias is not None for linear in linears):
            bias = torch.cat([linear.bias.detach().float() if linear.bias is not None
                              else torch.zeros(linear.out_features) for linear in linears])
            self.register_buffer("bias", bias, persistent=False)
        else:
            self.bias = None
        self.widths = [linear.out_features for linear in linears]
        self.kernels = shared_kernels
        self._input = None
        self._pending: dict[int, torch.Tensor] = {}

    def output(self, index: int, x):
        if self._input is not x or index not in self._pending:
            self._pending = dict(enumerate(self._compute(x)))
            self._input = x
        out = self._pending.pop(index)
        if not self._pending:
            self._input = None
        return out

    def _compute(self, x):
        shape = x.shape
        q, row_scale = self.kernels.quantize(x.reshape(-1, shape[-1]))
        y = self.kernels.rescale(torch._int_mm(q, self.weight), row_scale, self.weight_scale, x.dtype)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return [part.reshape(*shape[:-1], part.shape[-1]) for part in torch.split(y, self.widths, dim=-1)]


class Int8Linear(torch.nn.Module):
    """Stands in for one nn.Linear; its product comes from the Int8SharedInput it belongs to."""

    def __init__(self, shared: Int8SharedInput, index: int, in_features: int, out_features: int):
        super().__init__()
        self.shared = shared
        self.index = index
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x):
        return self.shared.output(self.index, x)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights and activations"


def quantize_linears(model, compiled: bool = False) -> int:
    """Replace the model's nn.Linear layers (all but the output head) by int8 ones, in place; returns
    how many were replaced. A model without any is refused."""
    shared_kernels = kernels(compiled)
    replaced = 0
    for parent_name, parent in list(model.named_modules()):
        linears = {name: child for name, child in parent.named_children()
                   if isinstance(child, torch.nn.Linear)
                   and (f"{parent_name}.{name}" if parent_name else name) not in KEEP_IN_BF16}
        groups = [[n for n in names if n in linears] for names in SHARED_INPUT_GROUPS]
        grouped = {n for group in groups for n in group}
        groups = [group for group in groups if group] + [[n] for n in linears if n not in grouped]
        for group in groups:
            if len({linears[n].in_features for n in group}) != 1:  # not one input after all
                parts = [[n] for n in group]
            else:
                parts = [group]
            for part in parts:
                shared = Int8SharedInput([linears[n] for n in part], shared_kernels)
                for index, name in enumerate(part):
                    linear = linears[name]
                    setattr(parent, name, Int8Linear(shared, index, linear.in_features, linear.out_features))
                    replaced += 1
    if replaced == 0:
        raise Int8PrecisionError("int8 needs a reference model built from torch.nn.Linear layers; this one "
                                 "has none outside its output head: use --precision bf16")
    return replaced
