"""The int8 reference LM (detector/features/int8.py) on the tiny random Llama: same outputs, close values."""

import numpy as np
import pytest
import torch

from detector.features import lm as lm_module
from detector.features.lm import PerplexityFeatures
from detector.features.precision import Int8PrecisionError, check_precision

# Written here, so machine-made: used only where the label does not matter.
TEXTS = [
    "The quick brown fox jumps over the lazy dog. Then it rests. Data pipelines stream records.",
    "Records stream. The dog sleeps while the fox runs over the brown field and the lazy data moves.",
    "Short one.",
    "a",
]


@pytest.fixture(scope="module")
def pair(tiny_reference_model):
    def make(precision):
        return PerplexityFeatures(reference_model=tiny_reference_model, token_cap=64, batch_tokens=256,
                                  keep_outputs=True, precision=precision).load()

    return make("bf16"), make("int8")


def test_int8_gives_the_same_outputs_with_close_values(pair):
    bf16, int8 = pair
    for a, b in zip(bf16.compute(TEXTS), int8.compute(TEXTS)):
        assert a.n_tokens == b.n_tokens
        if a.features is None:
            assert b.features is None and b.hidden is None and b.tokens is None
            continue
        assert b.features.shape == a.features.shape and np.isfinite(b.features).all()
        np.testing.assert_allclose(b.features, a.features, atol=0.05, rtol=0.05)
        # The probe reads float16 arrays of the same shape as bf16's, from the same forward pass.
        assert b.hidden.shape == a.hidden.shape and b.hidden.dtype == a.hidden.dtype == np.float16
        assert np.abs(b.hidden.astype(float) - a.hidden.astype(float)).max() < 0.1 * np.abs(a.hidden).max()
        assert b.tokens.shape == a.tokens.shape and b.tokens.dtype == np.float16


def test_int8_replaces_every_linear_layer_but_the_output_head(pair):
    from detector.features.int8 import Int8Linear

    _, int8 = pair
    model = int8._model
    assert isinstance(model.lm_head, torch.nn.Linear)
    assert not any(isinstance(m, torch.nn.Linear) for name, m in model.named_modules() if name != "lm_head")
    assert sum(isinstance(m, Int8Linear) for m in model.modules()) == 2 * 7  # q k v o gate up down per layer


def test_int8_values_do_not_depend_on_batch_companions(pair):
    _, int8 = pair
    together = int8.compute(TEXTS[:2])
    alone = [int8.compute([t])[0] for t in TEXTS[:2]]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.features, b.features, atol=2e-2, rtol=2e-2)


def test_shared_input_layers_match_separate_int8_products_in_any_call_order():
    from detector.features.int8 import Int8SharedInput, int8_weight, kernels

    torch.manual_seed(0)
    linears = [torch.nn.Linear(16, n, bias=n == 8) for n in (24, 8, 8)]
    shared = Int8SharedInput(linears, kernels(False))
    x = torch.randn(2, 5, 16)

    def separate(linear):
        q = x.reshape(-1, 16)
        row_scale = q.abs().amax(-1, keepdim=True) / 127
        w, w_scale = int8_weight(linear.weight)
        product = torch.round(q / row_scale).clamp(-127, 127).to(torch.int8).int() @ w.int()
        out = product.float() * row_scale * w_scale
        return (out + (linear.bias if linear.bias is not None else 0)).reshape(2, 5, -1)

    expected = [separate(linear) for linear in linears]
    for order in ((0, 1, 2), (2, 0, 1), (1, 1, 0)):
        for index in order:
            torch.testing.assert_close(shared.output(index, x), expected[index], atol=1e-4, rtol=1e-4)
    # A new input is computed afresh even while outputs for the last one are pending.
    shared.output(0, x)
    y = torch.randn(2, 5, 16)
    assert not torch.allclose(shared.output(1, y), expected[1])
    # And int8 stays close to the float product.
    torch.testing.assert_close(shared.output(0, x), linears[0](x).detach(), atol=0.05, rtol=0.05)


def test_a_model_without_linear_layers_is_refused():
    from detector.features.int8 import quantize_linears

    with pytest.raises(Int8PrecisionError, match="bf16"):
        quantize_linears(torch.nn.Sequential(torch.nn.ReLU()))


def test_precision_values_and_devices_are_checked():
    assert check_precision("bf16", "cuda") == "bf16"
    assert check_precision("int8", "cpu") == "int8"
    assert check_precision("int8", None) == "int8"  # device not chosen yet: checked again at load
    with pytest.raises(ValueError, match="bf16, int8"):
        check_precision("fp16", None)
    with pytest.raises(Int8PrecisionError, match="CPU only"):
        check_precision("int8", "cuda:0")
    with pytest.raises(Int8PrecisionError):
        PerplexityFeatures(precision="int8", device="cuda")


def test_int8_without_a_device_runs_on_the_cpu_even_where_cuda_would_be_picked(tiny_reference_model, monkeypatch):
    # No GPU needed: the device choice is what decides.
    monkeypatch.setattr(lm_module, "pick_device", lambda: "cuda")
    features = PerplexityFeatures(reference_model=tiny_reference_model, token_cap=64, precision="int8").load()
    assert features.device == "cpu" and next(features._model.parameters()).device.type == "cpu"
    assert features.compute(TEXTS[:1])[0].features is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_int8_on_a_real_cuda_device_is_refused(tiny_reference_model):
    with pytest.raises(Int8PrecisionError):
        PerplexityFeatures(reference_model=tiny_reference_model, precision="int8", device="cuda").load()
