"""One corpus holding every kind of damaged input beside good files, through `run_filter`, in both
output formats: the run completes, every record that can be read is in exactly one partition, and
every unreadable remainder has a quarantine row with its reason.

What "can be read" is worked out here independently of the readers: for a compressed file cut short
or damaged, the complete lines in what zlib/zstd decompress before the break. The texts are made by
code (filter_helpers); they are plumbing, never an example of human writing.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from tests.helpers.fake_detector import FakeDetectorLoader
from tests.helpers.corpus import html_page, http_response, plumbing_text, read_output, warc_record
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings


def _jsonl(prefix: str, n: int) -> bytes:
    seed = zlib.crc32(prefix.encode()) % 1000  # not hash(): it differs between processes
    return "".join(json.dumps({"id": f"{prefix}-{i}", "text": plumbing_text(seed + i)}) + "\n"
                   for i in range(n)).encode()


def _zstd_frames(data: bytes, frame: int) -> bytes:
    compressor = zstandard.ZstdCompressor()
    return b"".join(compressor.compress(data[i:i + frame]) for i in range(0, len(data), frame))


def _decompressed(data: bytes, kind: str) -> bytes:
    """What decompresses before the data breaks or ends (the reference): fed a byte at a time, so the
    output just before a damaged byte counts too."""
    out = bytearray()
    decoder = None
    for index in range(len(data)):
        if decoder is None:
            decoder = zlib.decompressobj(31) if kind == "gz" else zstandard.ZstdDecompressor().decompressobj()
        try:
            out += decoder.decompress(data[index:index + 1])
        except (zlib.error, zstandard.ZstdError):
            break
        if decoder.eof:
            decoder = None
    return bytes(out)


def _readable_lines(data: bytes, kind: str) -> int:
    return _decompressed(data, kind).count(b"\n")


def _why_unreadable(line: bytes) -> str | None:
    """The quarantine reason of a garbled JSON line, or None if it happens to be a readable record."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "undecodable"
    except ValueError:
        return "invalid_json"
    return None if isinstance(record, dict) and isinstance(record.get("text"), str) else "invalid_json"


def _page(uri: str, html: bytes, second: int) -> bytes:
    return warc_record("response", uri, f"2021-03-04T05:06:{second:02d}Z", http_response(html),
                       "application/http; msgtype=response")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(input paths, expected): per input file, the positions that must be scored and the quarantine
    reasons (with a word their detail must hold) that must appear for it."""
    root = tmp_path_factory.mktemp("damaged")
    expected: dict[str, dict] = {}

    def expect(path, lines=(), offsets=(), quarantine=()):
        expected[str(path)] = {"lines": set(lines), "offsets": set(offsets), "quarantine": list(quarantine)}

    good = root / "good.jsonl"
    good.write_bytes(_jsonl("good", 15))
    expect(good, lines=range(1, 16))

    big = _zstd_frames(_jsonl("cut", 400), 6000)  # many frames, cut in the middle of one
    cut = big[: len(big) // 2]
    (root / "cut.jsonl.zst").write_bytes(cut)
    expect(root / "cut.jsonl.zst", lines=range(1, _readable_lines(cut, "zst") + 1),
           quarantine=[("unreadable_file", "byte")])

    small = zstandard.ZstdCompressor().compress(_jsonl("small", 12))
    (root / "small.jsonl.zst").write_bytes(small[: int(len(small) * 0.6)])
    expect(root / "small.jsonl.zst", quarantine=[("unreadable_file", "byte")])

    frames = _zstd_frames(_jsonl("garbled", 200), 5000)
    middle = len(frames) // 2
    garbled = frames[:middle] + bytes(range(256)) * 2 + frames[middle + 512:]
    (root / "garbled.jsonl.zst").write_bytes(garbled)
    expect(root / "garbled.jsonl.zst", lines=range(1, _readable_lines(garbled, "zst") + 1),
           quarantine=[("unreadable_file", "byte")])

    (root / "plain.jsonl.zst").write_bytes(_jsonl("plain", 5))  # not zstd at all
    expect(root / "plain.jsonl.zst", quarantine=[("unreadable_file", "byte")])

    gz = b"".join(gzip.compress(_jsonl(f"gz{i}", 40), mtime=0) for i in range(4))
    gz_cut = gz[: int(len(gz) * 0.7)]
    (root / "cut.jsonl.gz").write_bytes(gz_cut)
    expect(root / "cut.jsonl.gz", lines=range(1, _readable_lines(gz_cut, "gz") + 1),
           quarantine=[("unreadable_file", "byte")])

    gz_whole = gzip.compress(_jsonl("gzbad", 300), mtime=0)
    at = int(len(gz_whole) * 0.95)
    gz_bad = gz_whole[:at] + bytes(b ^ 0xFF for b in gz_whole[at:at + 8]) + gz_whole[at + 8:]
    (root / "damaged.jsonl.gz").write_bytes(gz_bad)
    # Damage near the end: everything before it decompresses, and what zlib gives between the damage
    # and the byte where it fails is garbage, each line of which is a record that cannot be read.
    lines = _decompressed(gz_bad, "gz").split(b"\n")[:-1]
    original = _jsonl("gzbad", 300).split(b"\n")
    assert sum(line == want for line, want in zip(lines, original)) > 250
    why = {n: _why_unreadable(line) for n, line in enumerate(lines, 1) if line.strip()}
    expect(root / "damaged.jsonl.gz", lines=[n for n, reason in why.items() if reason is None],
           quarantine=[("unreadable_file", "byte")] + [(r, "") for r in why.values() if r is not None])

    records = [json.dumps({"id": "dup", "text": plumbing_text(901)}), "{not json",
               json.dumps([1, 2, 3]), json.dumps({"id": 7, "text": plumbing_text(902)}),
               json.dumps({"id": "7", "text": plumbing_text(903), "score": float("nan")}),
               json.dumps({"id": "dup", "text": plumbing_text(904), "synthsieve": {"old": True}}),
               json.dumps({"id": "empty", "text": "\u200b\u200d\ufeff"}), json.dumps({"id": "nt"})]
    (root / "messy.jsonl").write_text("\n".join(records) + "\n")
    expect(root / "messy.jsonl", lines={1, 4, 5, 6},
           quarantine=[("invalid_json", ""), ("invalid_json", "object"), ("empty", ""), ("no_text", "")])

    table = pa.table({"id": [f"pq-{i}" for i in range(30)], "text": [plumbing_text(300 + i) for i in range(30)],
                      "url": [None if i % 2 else f"http://p.example/{i}" for i in range(30)]})
    pq.write_table(table, root / "good.parquet", row_group_size=10)
    expect(root / "good.parquet", offsets=range(30))
    pq.write_table(table, root / "cut.parquet", row_group_size=10)
    (root / "cut.parquet").write_bytes((root / "cut.parquet").read_bytes()[:-200])
    expect(root / "cut.parquet", quarantine=[("unreadable_file", "byte")])

    deep = ("<html><body>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "</body></html>").encode()
    pages = [_page("http://w.example/deep", deep, 0)] + [
        _page(f"http://w.example/{i}", html_page(f"Page {i}", [plumbing_text(400 + i, 70)]), i + 1)
        for i in range(4)]
    (root / "deep.warc.gz").write_bytes(b"".join(pages))
    starts = [sum(len(p) for p in pages[:i]) for i in range(len(pages))]
    expect(root / "deep.warc.gz", offsets=starts[1:], quarantine=[("extract_failed", "nested")])
    warc = b"".join(pages[1:])
    (root / "cut.warc.gz").write_bytes(warc[:-200])
    expect(root / "cut.warc.gz", offsets=[0, len(pages[1]), len(pages[1]) + len(pages[2])],
           quarantine=[("unreadable_file", "byte")])

    texts = root / "texts"
    texts.mkdir()
    for i in range(6):
        (texts / f"t{i}.txt").write_text(plumbing_text(500 + i))
        expect(texts / f"t{i}.txt", offsets=[0])
    os.symlink(texts / "missing.txt", texts / "dangling.txt")
    expect(texts / "dangling.txt", quarantine=[("unreadable_file", "broken symbolic link")])
    os.symlink(texts / "loop-b.txt", texts / "loop-a.txt")
    os.symlink(texts / "loop-a.txt", texts / "loop-b.txt")
    expect(texts / "loop-a.txt", quarantine=[("unreadable_file", "symbolic link loop")])
    expect(texts / "loop-b.txt", quarantine=[("unreadable_file", "symbolic link loop")])
    os.mkfifo(texts / "pipe.txt")
    expect(texts / "pipe.txt", quarantine=[("unreadable_file", "not a regular file")])
    if os.geteuid() != 0:  # root reads any file whatever its mode, so only others can test this
        (texts / "secret.txt").write_text(plumbing_text(600))
        os.chmod(texts / "secret.txt", 0)
        expect(texts / "secret.txt", quarantine=[("unreadable_file", "")])

    os.mkfifo(root / "named-pipe.jsonl")  # a FIFO named on the command line must not block either
    expect(root / "named-pipe.jsonl", quarantine=[("unreadable_file", "not a regular file")])

    inputs = [str(p) for p in (good, root / "cut.jsonl.zst", root / "small.jsonl.zst", root / "garbled.jsonl.zst",
                               root / "plain.jsonl.zst", root / "cut.jsonl.gz", root / "damaged.jsonl.gz",
                               root / "messy.jsonl",
                               root / "good.parquet", root / "cut.parquet", root / "deep.warc.gz",
                               root / "cut.warc.gz", texts, root / "named-pipe.jsonl")]
    return inputs, expected


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_readable_record_lands_once_and_every_remainder_is_quarantined(corpus, tmp_path, fmt):
    inputs, expected = corpus
    manifest = run_filter(inputs, tmp_path / "out", FilterSettings(shard_size=50, batch_size=8, fmt=fmt),
                          detector_loader=FakeDetectorLoader())
    assert manifest["status"] == "complete"
    rows = read_output(tmp_path / "out")

    seen = Counter()
    scored: dict[str, set] = {path: set() for path in expected}
    quarantined: dict[str, list] = {path: [] for path in expected}
    for partition, partition_rows in rows.items():
        for row in partition_rows:
            source = row["synthsieve"]["source"]
            position = source.get("line") if source.get("line") is not None else source.get("offset")
            seen[(source["file"], position)] += 1
            if partition == "quarantine":
                assert row["reason"] and row["detail"] is not None and row["id"] is not None
                quarantined[source["file"]].append((row["reason"], row["detail"]))
            else:
                scored[source["file"]].add(position)
    assert [key for key, n in seen.items() if n > 1] == []  # no record in two partitions or twice
    assert set(scored) == set(expected), "a row names a file that is not an input"

    for path, want in expected.items():
        assert scored[path] == want["lines"] | want["offsets"], path
        reasons = sorted(reason for reason, _ in quarantined[path])
        assert reasons == sorted(reason for reason, _ in want["quarantine"]), (path, quarantined[path])
        for reason, word in want["quarantine"]:
            assert any(r == reason and word in d for r, d in quarantined[path]), (path, reason, word,
                                                                                 quarantined[path])
    counts = manifest["counts"]
    assert counts["documents"] == sum(len(r) for r in rows.values())
    assert counts["partitions"]["quarantine"] == sum(len(q) for q in quarantined.values())
    problems = {i["path"]: i.get("problem") for i in manifest["inputs"]}
    assert "not a regular file" in problems[inputs[-1]]
    dangling = next(p for p in expected if p.endswith("dangling.txt"))
    assert "broken symbolic link" in problems[dangling] and "sha256" in manifest["inputs"][0]
    assert all(problems[p] is None for p in (inputs[0], inputs[8]))


def test_a_file_that_cannot_be_hashed_does_not_stop_the_run(tmp_path, monkeypatch):
    # An unreadable input used to stop the run at input hashing, reported as "cannot write OUT:
    # Permission denied". Root reads any file, so the refusal is simulated where hashing happens.
    import errno

    import filters.store.manifest as manifest_module

    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(3):
        (texts / f"t{i}.txt").write_text(plumbing_text(700 + i))
    real = manifest_module.sha256_file

    def refuse(path):
        if str(path).endswith("t1.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(manifest_module, "sha256_file", refuse)
    manifest = run_filter([str(texts)], tmp_path / "out", FilterSettings(shard_size=50, batch_size=8),
                          detector_loader=FakeDetectorLoader())
    assert manifest["status"] == "complete"
    entry = next(i for i in manifest["inputs"] if i["path"].endswith("t1.txt"))
    assert entry["sha256"] is None and "Permission denied" in entry["problem"]


def test_a_folder_that_cannot_be_listed_is_one_row(tmp_path, monkeypatch):
    # os.walk skips a folder it cannot list without a word, so its files vanished. Root lists any
    # folder, so the refusal is simulated where the listing happens.
    import errno
    import os as os_module

    texts = tmp_path / "texts"
    (texts / "locked").mkdir(parents=True)
    (texts / "locked" / "inside.txt").write_text(plumbing_text(800))
    (texts / "open.txt").write_text(plumbing_text(801))
    real_walk = os_module.walk

    def walk(top, onerror=None, **kwargs):
        for folder, folders, names in real_walk(top, **kwargs):
            if folder.endswith("locked"):
                onerror(PermissionError(errno.EACCES, "Permission denied", folder))
                continue
            yield folder, folders, names

    monkeypatch.setattr(os_module, "walk", walk)
    manifest = run_filter([str(texts)], tmp_path / "out", FilterSettings(shard_size=50, batch_size=8),
                          detector_loader=FakeDetectorLoader())
    rows = read_output(tmp_path / "out")
    assert [r["id"] for r in rows["quarantine"]] == ["locked"]
    assert "cannot be listed" in rows["quarantine"][0]["detail"]
    assert manifest["counts"]["documents"] == 2
