"""Builders of small inputs for the filter's plumbing tests, and readers of its output.

The texts made here are written by code: they are fine for parsing, routing and resume tests, and are
never used as an example of human writing.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from pathlib import Path

from filters.document import PARTITIONS
from filters.store.manifest import Manifest
from filters.store.output import iter_rows

WORDS = ("river stone market lamp winter garden letter engine orchard bridge signal harbor window "
         "copper meadow ladder candle basket thunder pepper silver marble forest ribbon tunnel "
         "compass lantern saddle velvet anchor blossom canyon fossil glacier island jungle kettle "
         "meteor nectar oyster pillar quartz rocket spindle timber umbrella violin walnut yarn zephyr").split()


def plumbing_text(seed: int, words: int = 60) -> str:
    rng = random.Random(seed)
    sentences, count = [], 0
    while count < words:
        n = rng.randint(6, 14)
        sentence = " ".join(rng.choice(WORDS) for _ in range(n))
        sentences.append(sentence.capitalize() + ".")
        count += n
    return " ".join(sentences)


def near_duplicate(text: str, seed: int) -> str:
    """The same text with one word changed: a member of the same near-duplicate family."""
    rng = random.Random(seed)
    words = text.split()
    words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def write_jsonl(path: Path, records, opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record)) + "\n")
    return path


def corpus_records(n: int, seed: int = 0, families: int = 3, family_size: int = 4) -> list[dict]:
    """n records with ids; the first families*family_size form near-duplicate families."""
    records = []
    for i in range(n):
        if i < families * family_size:
            base = plumbing_text(10_000 + i // family_size)
            text = base if i % family_size == 0 else near_duplicate(base, i)
        else:
            text = plumbing_text(seed * 100_000 + i)
        records.append({"id": f"doc-{i:05d}", "text": text, "meta": {"n": i}})
    return records


def warc_record(warc_type: str, uri: str, date: str, block: bytes, content_type: str) -> bytes:
    header = (f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: {date}\r\n"
              f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uri + warc_type)}>\r\n"
              f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n").encode()
    return gzip.compress(header + block + b"\r\n\r\n", mtime=0)


def http_response(body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def html_page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> <a href='/about'>About"
            f"</a> <a href='/contact'>Contact</a></nav><article><h1>{title}</h1>{body}</article>"
            f"<footer>Copyright 2019 Example Ltd. All rights reserved.</footer></body></html>").encode()


def read_output(out: Path) -> dict[str, list[dict]]:
    """Rows per partition, from the shard files that the manifest lists."""
    manifest = Manifest.load(out)
    rows = {p: [] for p in PARTITIONS}
    for shard in manifest["shards"]:
        for item in shard["files"]:
            rows[item["partition"]].extend(iter_rows(out / item["path"]))
    return rows


def assignment(out: Path) -> dict[str, tuple[str, float | None]]:
    """id -> (partition, p_machine) for every row of a finished run."""
    result = {}
    for partition, rows in read_output(out).items():
        for row in rows:
            key = row["id"]
            assert key not in result, f"{key} is in two partitions or twice"
            result[key] = (partition, row["synthsieve"].get("p_machine"))
    return result


def shard_digests(out: Path) -> dict[str, str]:
    manifest = Manifest.load(out)
    return {item["path"]: item["sha256"] for shard in manifest["shards"] for item in shard["files"]}
