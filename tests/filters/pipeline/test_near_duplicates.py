"""Near-duplicate clustering: who is grouped with whom, cluster ids, and the memory bound."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np

from tests.helpers.corpus import WORDS
from filters.document import Document
from filters.pipeline.near_duplicates import ClusterTable, MinHashClusterer, MinHashSettings, MinHashSigner, SignatureStore


def words(seed, n=300):
    rng = random.Random(seed)
    return [f"{rng.choice(WORDS)}{rng.randrange(50)}" for _ in range(n)]


def edited(tokens, share, seed):
    """A copy with `share` of its words replaced."""
    rng = random.Random(seed)
    tokens = list(tokens)
    for i in rng.sample(range(len(tokens)), int(share * len(tokens))):
        tokens[i] = f"new{rng.randrange(10**6)}"
    return tokens


def cluster_texts(tmp_path, sources, settings=MinHashSettings()):
    store = SignatureStore(tmp_path, settings)
    signer = MinHashSigner(settings)
    counts = []
    for index, texts in enumerate(sources):
        docs = [Document(ordinal=i, source={}, text=t) if t is not None
                else Document(ordinal=i, source={}).send_to_quarantine("empty") for i, t in enumerate(texts)]
        counts.append(store.write(index, signer.run(docs))["signed"])
    summary = MinHashClusterer(store).cluster(counts)
    tables = [ClusterTable(store, i, n) for i, n in enumerate(counts)]
    return summary, tables


def test_light_edits_cluster_and_heavy_edits_do_not(tmp_path):
    base = words(1)
    texts = [" ".join(base), " ".join(edited(base, 0.02, 2)), " ".join(edited(base, 0.6, 3)),
             " ".join(words(4)), None, " ".join(edited(base, 0.01, 5)).upper()]
    other_file = [" ".join(words(6)), " ".join(edited(base, 0.02, 7))]
    summary, (first, second) = cluster_texts(tmp_path, [texts, other_file])
    family = {first.lookup(0), first.lookup(1), first.lookup(5), second.lookup(1)}
    assert family == {("00000-0000000000", 4)}
    assert first.lookup(2) == ("00000-0000000002", 1) and first.lookup(3) == ("00000-0000000003", 1)
    assert second.lookup(0) == ("00001-0000000000", 1)
    assert summary["clusters"] == 1 and summary["documents_in_clusters"] == 4 and summary["documents"] == 7


def chinese(seed, n=300):
    """n CJK characters with clause punctuation and no spaces, as Chinese is written."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append(chr(0x4E00 + rng.randrange(400)))
        if rng.random() < 0.07:
            out.append("，" if rng.random() < 0.7 else "。")
    return "".join(out)


def test_unspaced_cjk_text_is_shingled_by_character(tmp_path):
    """Three characters changed in 300: one family. As whole clauses for words, the copy fell apart."""
    base = chinese(1)
    copy = list(base)
    rng = random.Random(2)
    for i in rng.sample([i for i, c in enumerate(copy) if c not in "，。"], 3):
        copy[i] = chr(0x4E00 + 500 + rng.randrange(100))
    summary, (table,) = cluster_texts(tmp_path, [[base, "".join(copy), chinese(3)]])
    assert table.lookup(1) == ("00000-0000000000", 2) and table.lookup(2) == ("00000-0000000002", 1)
    assert summary["clusters"] == 1


def test_invisible_characters_and_homoglyphs_do_not_split_a_family(tmp_path):
    base = " ".join(words(20))
    disguised = base.replace("a", "\u0430").replace("e", "e\u200b")  # Cyrillic a, zero-width spaces
    assert disguised != base
    _, (table,) = cluster_texts(tmp_path, [[base, disguised]])
    assert table.lookup(1) == ("00000-0000000000", 2)


def test_signatures_are_the_detectors_shingles_of_the_normalised_text():
    from datasketch import MinHash

    from detector.features.shingles import shingles
    from detector.features.hygiene import normalize_for_scoring

    settings = MinHashSettings(num_perm=32, bands=8)
    text = "Ｔhe  \u200bQuick brown fox — jumps over the lazy dog, 今天天气很好"
    expected = MinHash(num_perm=32, seed=settings.seed, scheme="affine32")
    expected.update_batch(shingles(normalize_for_scoring(text).text, settings.shingle_size))
    np.testing.assert_array_equal(MinHashSigner(settings).signature(text), expected.hashvalues.astype(np.uint32))


def test_bands_set_the_similarity_that_groups(tmp_path):
    base = words(10, 400)
    texts = [" ".join(base), " ".join(edited(base, 0.25, 11))]  # about 0.6 Jaccard on single words
    strict, (table,) = cluster_texts(tmp_path / "strict", [texts], MinHashSettings(shingle_size=1, bands=16))
    loose, (loose_table,) = cluster_texts(tmp_path / "loose", [texts], MinHashSettings(shingle_size=1, bands=64))
    assert table.lookup(1) == ("00000-0000000001", 1) and strict["clusters"] == 0  # threshold 0.71
    assert loose_table.lookup(1) == ("00000-0000000000", 2) and loose["clusters"] == 1  # threshold 0.13


def test_memory_stays_within_the_documented_bound(tmp_path):
    """Under 64 bytes per document plus fixed buffers (module docstring), on 120,000 documents."""
    settings = MinHashSettings()
    n = 120_000
    rng = np.random.default_rng(0)
    counts = []
    for index in range(2):
        signatures = rng.integers(0, 2**32, size=(n // 2, settings.num_perm), dtype=np.uint32)
        signatures[1::10] = signatures[0::10][: len(signatures[1::10])]
        signatures.tofile(tmp_path / f"sig-{index:05d}.bin")
        np.arange(n // 2, dtype=np.int64).tofile(tmp_path / f"ord-{index:05d}.bin")
        counts.append(n // 2)
    tracemalloc.start()
    try:
        summary = MinHashClusterer(SignatureStore(tmp_path, settings)).cluster(counts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["documents_in_clusters"] == 24_000 and summary["clusters"] == 12_000
    assert peak < 64 * n + 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"
