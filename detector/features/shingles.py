"""MinHash signatures (datasketch) for near-duplicate detection.

The signature is computed per document here; grouping documents into clusters needs the whole corpus
and is done by the corpus filter, which passes each document's cluster size back as a feature.
"""

from __future__ import annotations

import re

import numpy as np
from datasketch import MinHash

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|\w+")


def shingles(text: str, size: int = 5) -> set[bytes]:
    """Word n-grams (CJK characters count as words), lower-cased; short texts give one shingle."""
    words = _TOKEN.findall(text.lower())
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def document_minhash(text: str, num_perm: int = 128, shingle_size: int = 5, seed: int = 1) -> MinHash:
    sketch = MinHash(num_perm=num_perm, seed=seed)
    sketch.update_batch(list(shingles(text, shingle_size)))
    return sketch


def minhash_signature(text: str, num_perm: int = 128, shingle_size: int = 5, seed: int = 1) -> np.ndarray:
    return document_minhash(text, num_perm, shingle_size, seed).hashvalues.astype(np.uint64)
