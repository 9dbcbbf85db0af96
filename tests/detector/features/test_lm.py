import numpy as np
import pytest
import torch

from detector.features.lm import LM_FEATURE_NAMES, PerplexityFeatures, _token_statistics
from detector.reference_lm import ReferenceModelError, fingerprint_directory, resolve_reference_model

TEXTS = [
    "The quick brown fox jumps over the lazy dog. Then it rests. Data pipelines stream records.",
    "Records stream. The dog sleeps while the fox runs over the brown field and the lazy data moves.",
    "Short one.",
]


@pytest.fixture(scope="module")
def extractor(tiny_reference_model):
    return PerplexityFeatures(reference_model=tiny_reference_model, token_cap=64, batch_tokens=256).load()


def test_token_statistics_match_a_direct_computation():
    torch.manual_seed(0)
    logits = torch.randn(7, 50) * 3
    targets = torch.randint(0, 50, (7,))
    ll, entropy, mean_logp, var_logp, rank = _token_statistics(logits, targets)
    logp = torch.log_softmax(logits.double(), -1)
    p = logp.exp()
    expected_ll = logp[torch.arange(7), targets]
    np.testing.assert_allclose(ll, expected_ll.numpy(), atol=1e-4)
    np.testing.assert_allclose(entropy, -(p * logp).sum(-1).numpy(), atol=1e-4)
    np.testing.assert_allclose(var_logp, ((p * logp**2).sum(-1) - (p * logp).sum(-1) ** 2).numpy(), atol=1e-3)
    np.testing.assert_array_equal(rank, (1 + (logp > expected_ll[:, None]).sum(-1)).numpy())


def test_features_have_expected_shape_and_ranges(extractor):
    results = extractor.compute(TEXTS)
    for result in results[:2]:
        f = dict(zip(LM_FEATURE_NAMES, result.features))
        assert result.n_tokens > 10
        assert f["lm_mean_loglik"] < 0
        assert f["lm_mean_entropy"] > 0
        assert 0 <= f["lm_top1_share"] <= f["lm_top10_share"] <= f["lm_top100_share"] <= f["lm_top1000_share"] <= 1
        assert f["lm_binoculars_ratio"] == pytest.approx(-f["lm_mean_loglik"] / f["lm_mean_entropy"], rel=1e-6)


def test_batching_and_order_do_not_change_features(extractor):
    together = extractor.compute(TEXTS)
    alone = [extractor.compute([t])[0] for t in TEXTS]
    for a, b in zip(together, alone):
        assert a.n_tokens == b.n_tokens
        np.testing.assert_allclose(a.features, b.features, rtol=2e-2, atol=2e-2)


def test_token_cap_truncates_long_documents(extractor):
    long_text = " ".join(TEXTS[0] for _ in range(200))
    [result] = extractor.compute([long_text])
    assert result.n_tokens == extractor.token_cap


def test_too_short_text_gets_no_features(extractor):
    [result] = extractor.compute(["a"])
    assert result.features is None


def test_any_local_model_directory_resolves_with_a_stable_fingerprint(tiny_reference_model, tmp_path):
    source = resolve_reference_model(tiny_reference_model)
    assert source.directory == tiny_reference_model
    assert source.sha256 == fingerprint_directory(tiny_reference_model)
    with pytest.raises(ReferenceModelError):
        resolve_reference_model(tmp_path)  # no config.json
    with pytest.raises(ReferenceModelError):
        resolve_reference_model(tmp_path / "missing.gguf")


def test_fingerprint_changes_when_weights_change(tiny_reference_model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_reference_model, copy)
    assert fingerprint_directory(copy) == fingerprint_directory(tiny_reference_model)
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert fingerprint_directory(copy) != fingerprint_directory(tiny_reference_model)


def test_compiled_statistics_match_the_eager_ones(tiny_reference_model):
    eager = PerplexityFeatures(reference_model=tiny_reference_model, token_cap=64).compute(TEXTS[:2])
    fused = PerplexityFeatures(reference_model=tiny_reference_model, token_cap=64,
                               compile_statistics=True).compute(TEXTS[:2])
    for a, b in zip(eager, fused):
        np.testing.assert_allclose(a.features, b.features, rtol=1e-3, atol=1e-3)
