"""Near-duplicate groups over the whole run: datasketch MinHash signatures, LSH banding, components.

Pass 1 (`MinHashSigner`, per input source, in parallel) streams each document's signature to disk.
`MinHashClusterer` then bands the signatures as datasketch's MinHashLSH does (b bands of r = n/b rows;
documents sharing any band are candidates), keeps the candidate pairs whose estimated Jaccard
similarity reaches the band threshold (1/b)^(1/r), and takes connected components.

Instead of MinHashLSH's in-memory hash tables (hundreds of bytes per document and band), each band
is a sort of one 64-bit key per document, one band at a time, with signatures read from memory-mapped
files. Peak memory is bounded by a few 64-bit arrays over the run's documents, under 64 bytes per
document (measured: about 33 bytes per document at 10% duplicates, plus about 30 MB of fixed working
buffers), whatever the document lengths, shingle size or number of bands. Signatures live on disk
under OUT/.synthsieve/minhash/: num_perm x 4 bytes per document (512 bytes at the default 128).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from filters.store.atomic import fsync_dir, publish, read_json, temporary_name, write_json
from filters.document import Document
from filters.pipeline.step import PipelineStep

_SCHEME = "affine32"  # datasketch >= 2.0 hash scheme; pinned so signatures do not change with defaults
# What a shingle is made of (detector.features.shingles.shingles over normalize_for_scoring); part of the run's
# settings, so a run resumed under another tokenisation is refused instead of mixing signatures.
_SHINGLES = "hygiene-normalised lower-cased words, CJK characters as words"
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PAIR_CHUNK = 1 << 13
_KEY_CHUNK = 1 << 18


@dataclass(frozen=True)
class MinHashSettings:
    """shingle_size: words per shingle (a CJK character counts as a word). Smaller catches looser
        paraphrase but also shared boilerplate.
    num_perm: signature length; more = a sharper similarity estimate, linear cost in time and disk.
    bands: LSH bands; with r = num_perm / bands rows each, the similarity at which pairs are found
        half the time is about (1/bands)^(1/r): 16 x 8 -> 0.71, 32 x 4 -> 0.42, 8 x 16 -> 0.88.
    max_chars: only the head of a document is shingled, which bounds the cost of huge documents.
    """

    shingle_size: int = 5
    num_perm: int = 128
    bands: int = 16
    seed: int = 1
    max_chars: int = 100_000

    def __post_init__(self):
        if self.shingle_size < 1:
            raise ValueError("shingle size must be at least 1")
        if self.num_perm < 2 or self.bands < 1 or self.num_perm % self.bands:
            raise ValueError(f"--num-perm ({self.num_perm}) must be a multiple of --bands ({self.bands})")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    @property
    def threshold(self) -> float:
        return (1.0 / self.bands) ** (1.0 / self.rows)

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": self.rows, "jaccard_threshold": round(self.threshold, 4),
                "hash_scheme": _SCHEME, "shingles": _SHINGLES}


class MinHashSigner(PipelineStep):
    """Sets `signature` (uint32[num_perm]) on every readable document."""

    name = "minhash_signer"

    def __init__(self, settings: MinHashSettings = MinHashSettings()):
        from datasketch import MinHash

        super().__init__()
        self.settings = settings
        self._template = MinHash(num_perm=settings.num_perm, seed=settings.seed, scheme=_SCHEME)

    def signature(self, text: str) -> np.ndarray:
        from datasketch import MinHash

        from detector.features.shingles import shingles
        from detector.features.hygiene import normalize_for_scoring

        minhash = MinHash(num_perm=self.settings.num_perm, seed=self.settings.seed,
                          permutations=self._template.permutations, scheme=_SCHEME)
        # The detector's shingles of the hygiene-normalised text, so invisible characters and homoglyph
        # tricks do not split a family.
        clean = normalize_for_scoring(text[: self.settings.max_chars]).text
        minhash.update_batch(shingles(clean, self.settings.shingle_size))
        return np.asarray(minhash.hashvalues, dtype=np.uint32)

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if not doc.is_quarantined:
                doc.signature = self.signature(doc.text)
                self.stats["signed"] += 1
            yield doc


class SignatureStore:
    """Per-source signature files under one directory; a source is done when its .json record exists."""

    def __init__(self, directory: Path, settings: MinHashSettings):
        self.directory = Path(directory)
        self.settings = settings

    def _path(self, index: int, kind: str) -> Path:
        return self.directory / f"{kind}-{index:05d}.bin"

    def done(self, index: int) -> dict | None:
        return read_json(self.directory / f"{index:05d}.json")

    def write(self, index: int, docs: Iterable[Document]) -> dict:
        """Streams signatures and ordinals to disk (constant memory); returns the source's counts."""
        self.directory.mkdir(parents=True, exist_ok=True)
        finals = {kind: self._path(index, kind) for kind in ("sig", "ord", "idh")}
        handles = {kind: open(temporary_name(path), "wb") for kind, path in finals.items()}
        records = signed = quarantined = 0
        try:
            for doc in docs:
                records = max(records, doc.ordinal + 1)
                handles["idh"].write(np.uint64(id_hash(doc.id)).astype("<u8").tobytes())
                if doc.is_quarantined:
                    quarantined += 1
                    continue
                handles["sig"].write(doc.signature.astype("<u4").tobytes())
                handles["ord"].write(np.int64(doc.ordinal).astype("<i8").tobytes())
                signed += 1
            for handle in handles.values():
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            for handle in handles.values():
                handle.close()
        for kind, path in finals.items():
            os.replace(temporary_name(path), path)
        fsync_dir(self.directory)
        record = {"source": index, "records": records, "documents": signed + quarantined, "signed": signed,
                  "quarantined": quarantined}
        write_json(self.directory / f"{index:05d}.json", record)
        return record

    def signatures(self, index: int, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros((0, self.settings.num_perm), dtype=np.uint32)
        return np.memmap(self._path(index, "sig"), dtype="<u4", mode="r", shape=(count, self.settings.num_perm))

    def id_hashes(self, index: int, count: int) -> np.ndarray:
        """`id_hash` of every document of source `index` (quarantined ones too), in input order."""
        if count == 0:
            return np.zeros(0, dtype=np.uint64)
        return np.memmap(self._path(index, "idh"), dtype="<u8", mode="r", shape=(count,))

    def find_duplicate_ids(self, counts: list[int]) -> dict:
        """Ids that more than one document of the run carries (counts[i] = documents of source i).

        One 64-bit hash per document is sorted (8 bytes each, within the pass's memory bound); the
        shared hashes are kept in dup-ids.bin for the shard pass, which marks those documents.
        """
        hashes = np.concatenate([np.asarray(self.id_hashes(i, n)) for i, n in enumerate(counts)] or
                                [np.zeros(0, dtype=np.uint64)])
        values, sizes = np.unique(hashes, return_counts=True)
        shared = values[sizes > 1]
        path = self.directory / "dup-ids.bin"
        with open(temporary_name(path), "wb") as handle:
            handle.write(shared.astype("<u8").tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        publish(temporary_name(path), path)
        return {"ids": int(len(shared)), "documents": int(sizes[sizes > 1].sum())}

    def duplicate_ids(self) -> np.ndarray:
        path = self.directory / "dup-ids.bin"
        return np.fromfile(path, dtype="<u8") if path.exists() else np.zeros(0, dtype=np.uint64)

    def ordinals(self, index: int, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        return np.memmap(self._path(index, "ord"), dtype="<i8", mode="r", shape=(count,))


def id_hash(value) -> int:
    """A 64-bit hash of a record id that tells its type apart: the id 1 and the id "1" differ."""
    digest = hashlib.blake2b(f"{type(value).__name__}\0{value}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def band_keys(columns: np.ndarray, band: int) -> np.ndarray:
    """One 64-bit key per row of an (n, r) uint32 block; equal blocks give equal keys."""
    key = np.full(columns.shape[0], ((band + 1) * int(_MIX)) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    for j in range(columns.shape[1]):
        key ^= columns[:, j].astype(np.uint64)
        key *= _MIX
        key ^= key >> np.uint64(29)
    return key


class MinHashClusterer:
    """Groups near-duplicates across every source of a run and writes each document's cluster.

    cluster_id is "<source index>-<ordinal>" of the cluster's first member in input order, so it is
    stable for a given input list and points at a real record; cluster_size counts readable members.
    """

    def __init__(self, store: SignatureStore):
        self.store = store
        self.settings = store.settings

    def cluster(self, counts: list[int]) -> dict:
        """counts[i] = signed documents of source i. Returns summary statistics."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        total = int(offsets[-1])
        signatures = [self.store.signatures(i, n) for i, n in enumerate(counts)]
        labels = np.arange(total, dtype=np.int64)
        rows = self.settings.rows
        threshold = self.settings.threshold
        candidates = verified = 0
        for band in range(self.settings.bands):
            if total < 2:
                break
            columns = slice(band * rows, (band + 1) * rows)
            keys = np.empty(total, dtype=np.uint64)
            for i, sig in enumerate(signatures):
                for start in range(0, len(sig), _KEY_CHUNK):
                    block = np.asarray(sig[start:start + _KEY_CHUNK, columns])
                    keys[offsets[i] + start:offsets[i] + start + len(block)] = band_keys(block, band)
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            del keys
            starts_run = np.empty(total, dtype=bool)
            starts_run[0] = True
            np.not_equal(ordered[1:], ordered[:-1], out=starts_run[1:])
            del ordered
            members = np.flatnonzero(~starts_run)
            run_head = np.arange(total, dtype=np.int64)
            run_head[members] = 0
            np.maximum.accumulate(run_head, out=run_head)
            first, other = order[run_head[members]], order[members]
            del order, run_head, starts_run, members
            unmerged = labels[first] != labels[other]
            first, other = first[unmerged], other[unmerged]
            candidates += len(first)
            keep = self._similar(signatures, offsets, first, other, threshold)
            first, other = first[keep], other[keep]
            verified += len(first)
            if len(first):
                graph = coo_matrix((np.ones(len(first), dtype=np.int8), (labels[first], labels[other])),
                                   shape=(total, total))
                _, components = connected_components(graph, directed=False)
                labels = components[labels].astype(np.int64)
        # The representative is the first member in input order, whatever order components came in.
        representative = np.full(total, total, dtype=np.int64)
        np.minimum.at(representative, labels, np.arange(total, dtype=np.int64))
        sizes = np.bincount(labels, minlength=total)
        clusters = int((sizes > 1).sum())
        rep = representative[labels]
        del representative
        sizes = sizes[labels]
        del labels
        clustered = int((sizes > 1).sum())
        self._write(counts, offsets, rep, sizes)
        return {"documents": total, "candidate_pairs": int(candidates), "similar_pairs": int(verified),
                "documents_in_clusters": clustered, "clusters": clusters}

    def _similar(self, signatures, offsets, first, other, threshold) -> np.ndarray:
        keep = np.zeros(len(first), dtype=bool)
        for start in range(0, len(first), _PAIR_CHUNK):
            a = self._rows(signatures, offsets, first[start:start + _PAIR_CHUNK])
            b = self._rows(signatures, offsets, other[start:start + _PAIR_CHUNK])
            keep[start:start + _PAIR_CHUNK] = (a == b).mean(axis=1) >= threshold
        return keep

    @staticmethod
    def _rows(signatures, offsets, indices) -> np.ndarray:
        out = np.empty((len(indices), signatures[0].shape[1] if signatures else 0), dtype=np.uint32)
        source = np.searchsorted(offsets, indices, side="right") - 1
        for s in np.unique(source):
            mask = source == s
            out[mask] = signatures[s][indices[mask] - offsets[s]]
        return out

    def _write(self, counts, offsets, rep, sizes) -> None:
        """Per source, rows of (first member's source, first member's ordinal, cluster size)."""
        directory = self.store.directory
        for i, n in enumerate(counts):
            block = np.empty((n, 3), dtype="<i8")
            rep_i = rep[offsets[i]:offsets[i + 1]]
            block[:, 0] = np.searchsorted(offsets, rep_i, side="right") - 1
            for s in np.unique(block[:, 0]):
                mask = block[:, 0] == s
                block[mask, 1] = np.asarray(self.store.ordinals(int(s), counts[s]))[rep_i[mask] - offsets[s]]
            block[:, 2] = sizes[offsets[i]:offsets[i + 1]]
            path = directory / f"clu-{i:05d}.bin"
            with open(temporary_name(path), "wb") as handle:
                handle.write(block.tobytes())
                handle.flush()
                os.fsync(handle.fileno())
            publish(temporary_name(path), path)


class ClusterTable:
    """One source's cluster assignment, memory-mapped: ordinal -> (cluster_id, cluster_size)."""

    def __init__(self, store: SignatureStore, index: int, count: int):
        self.ordinals = store.ordinals(index, count)
        self.clusters = (np.memmap(store.directory / f"clu-{index:05d}.bin", dtype="<i8", mode="r",
                                   shape=(count, 3)) if count else np.zeros((0, 3), dtype=np.int64))

    def lookup(self, ordinal: int) -> tuple[str, int]:
        position = int(np.searchsorted(self.ordinals, ordinal))
        if position >= len(self.ordinals) or int(self.ordinals[position]) != ordinal:
            raise LookupError(f"record {ordinal} has no near-duplicate entry: the input changed during the run")
        source, first, size = (int(v) for v in self.clusters[position])
        return cluster_id(source, first), size


def cluster_id(source: int, ordinal: int) -> str:
    return f"{source:05d}-{ordinal:010d}"


class ClusterAnnotator(PipelineStep):
    """Writes cluster_id and cluster_size, computed over the whole run, on each readable document, and
    marks a document whose id another record of the run carries too (`duplicate_id`)."""

    name = "cluster_annotator"

    def __init__(self, table: ClusterTable, duplicate_ids: np.ndarray | None = None):
        super().__init__()
        self.table = table
        self.duplicate_ids = duplicate_ids if duplicate_ids is not None else np.zeros(0, dtype=np.uint64)

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if not doc.is_quarantined:
                doc.cluster_id, doc.cluster_size = self.table.lookup(doc.ordinal)
                self.stats["in_cluster" if doc.cluster_size > 1 else "singleton"] += 1
                if len(self.duplicate_ids):
                    key = np.uint64(id_hash(doc.id))
                    position = int(np.searchsorted(self.duplicate_ids, key))
                    doc.duplicate_id = position < len(self.duplicate_ids) and self.duplicate_ids[position] == key
                    self.stats["duplicate_id"] += int(doc.duplicate_id)
            yield doc
