"""Readers: every input format, its ids, sources, dates, ranges and quarantine reasons."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
import zstandard

from tests.helpers.corpus import html_page, http_response, plumbing_text, warc_record, write_jsonl
from filters.pipeline.normaliser import Normaliser
from filters.pipeline.readers import InputError, ReaderOptions, expand_inputs, make_reader
from filters.pipeline.step import run_pipeline


def read_all(path, options=ReaderOptions(), start=0, stop=None):
    source = expand_inputs([str(path)])[0]
    return list(run_pipeline([make_reader(source, options, start, stop), Normaliser(score_chars=2000)]))


def by_reason(docs):
    return {d.ordinal: d.quarantine for d in docs}


MIXED_LINES = [
    json.dumps({"id": "a", "text": plumbing_text(1), "lang": "en", "meta": {"k": [1, 2]}}),
    "{not json",
    "",
    json.dumps({"id": "c"}),
    json.dumps(["a", "list"]),
    json.dumps({"id": "e", "text": "   \n "}),
    json.dumps({"text": plumbing_text(2)}),
    json.dumps({"id": "g", "text": "bad \ud800 surrogate"}),
    json.dumps({"id": "h", "text": "nul\u0000" * 50}),
    json.dumps({"id": 42, "text": plumbing_text(3), "date": "2019-05-04T10:00:00Z"}),
    json.dumps({"id": "j", "text": 17}),
]


def test_jsonl_reasons_ids_sources_and_untouched_fields(tmp_path):
    path = tmp_path / "mixed.jsonl"
    with open(path, "wb") as handle:
        for line in MIXED_LINES:
            handle.write(line.encode() + b"\n")
        handle.write(b'{"id": "k", "text": "caf\xe9"}\n')  # Latin-1 byte: not UTF-8
    docs = read_all(path)
    assert by_reason(docs) == {0: None, 1: "invalid_json", 3: "no_text", 4: "invalid_json", 5: "empty",
                               6: None, 7: "undecodable", 8: "binary", 9: None, 10: "no_text",
                               11: "undecodable"}
    first = docs[0]
    assert first.id == "a" and first.fields == {"lang": "en", "meta": {"k": [1, 2]}}
    assert first.source == {"file": str(path), "line": 1}
    assert docs[-1].source["line"] == 12
    assert next(d for d in docs if d.ordinal == 9).id == 42  # an integer id keeps its type
    assert next(d for d in docs if d.ordinal == 9).date == "2019-05-04T10:00:00+00:00"
    bad = next(d for d in docs if d.ordinal == 1)
    assert bad.raw == b"{not json" and bad.id  # quarantined records still get an id
    derived = next(d for d in docs if d.ordinal == 6).id
    assert derived and derived == next(d for d in read_all(path) if d.ordinal == 6).id


def test_derived_ids_differ_between_records_and_stay_stable(tmp_path):
    text = plumbing_text(5)
    path = write_jsonl(tmp_path / "noids.jsonl", [{"text": text}, {"text": text}, {"text": plumbing_text(6)}])
    ids = [d.id for d in read_all(path)]
    assert len(set(ids)) == 3
    assert ids == [d.id for d in read_all(path)]


def test_custom_text_and_id_fields(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"doc_id": "x1", "content": plumbing_text(7), "text": "other"}])
    (doc,) = read_all(path, ReaderOptions(text_field="content", id_field="doc_id"))
    assert doc.id == "x1" and doc.text == plumbing_text(7)
    assert doc.fields == {"text": "other"}


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl_reads_like_plain(tmp_path, suffix):
    lines = [json.dumps({"id": str(i), "text": plumbing_text(i)}) for i in range(30)] + ["{bad"]
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(lines) + "\n")
    packed = tmp_path / f"packed{suffix}"
    data = plain.read_bytes()
    if suffix.endswith(".gz"):
        packed.write_bytes(gzip.compress(data))
    else:  # two frames: readers must read across frames
        compressor = zstandard.ZstdCompressor()
        packed.write_bytes(compressor.compress(data[:500]) + compressor.compress(data[500:]))
    expected = [(d.ordinal, d.text, d.quarantine, d.raw) for d in read_all(plain)]
    assert [(d.ordinal, d.text, d.quarantine, d.raw) for d in read_all(packed)] == expected
    assert [d.id for d in read_all(packed)][:30] == [str(i) for i in range(30)]


def test_truncated_gzip_quarantines_the_rest_of_the_file(tmp_path):
    lines = "".join(json.dumps({"id": str(i), "text": plumbing_text(i, 200)}) + "\n" for i in range(200))
    data = gzip.compress(lines.encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    docs = read_all(path)
    assert docs[-1].quarantine == "unreadable_file"
    assert [d.quarantine for d in docs[:-1]] == [None] * (len(docs) - 1)
    assert 0 < len(docs) - 1 < 200
    assert [d.ordinal for d in docs] == list(range(len(docs)))


def test_oversized_line_is_quarantined_without_losing_the_next_one(tmp_path):
    big = json.dumps({"id": "big", "text": "word " * 50_000})
    path = write_jsonl(tmp_path / "big.jsonl", [big, {"id": "after", "text": plumbing_text(9)}])
    docs = read_all(path, ReaderOptions(max_bytes=10_000))
    assert [(d.quarantine, d.ordinal) for d in docs] == [("too_large", 0), (None, 1)]
    assert len(docs[0].raw) == 4096 and docs[1].id == "after"


def test_ranges_partition_the_records_exactly(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"id": str(i), "text": plumbing_text(i)} for i in range(23)]
                       + ["", "{oops"])
    whole = [d.ordinal for d in read_all(path)]
    pieces = [d.ordinal for start in range(0, 25, 7) for d in read_all(path, start=start, stop=start + 7)]
    assert pieces == whole and len(whole) == 24  # the blank line is not a record


def test_long_text_is_truncated_for_scoring_only(tmp_path):
    text = plumbing_text(11, words=2000)
    (doc,) = read_all(write_jsonl(tmp_path / "long.jsonl", [{"id": "l", "text": text}]))
    assert doc.text == text
    assert len(doc.scoring_text) <= 2000 and text.startswith(doc.scoring_text)


def test_parquet_fields_ranges_and_limits(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    n = 25
    texts = [plumbing_text(i) for i in range(n)]
    texts[3] = None
    texts[4] = "x" * 5000
    table = pa.table({"body": texts, "key": [f"p{i}" for i in range(n)], "score": list(range(n)),
                      "crawled": [dt.datetime(2020, 1, 1 + i % 28) for i in range(n)],
                      "date": ["2021-06-01"] * n})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=6)
    options = ReaderOptions(text_field="body", id_field="key", max_bytes=4000)
    docs = read_all(path, options)
    assert [d.ordinal for d in docs] == list(range(n))
    assert by_reason(docs)[3] == "no_text" and by_reason(docs)[4] == "too_large"
    assert docs[0].id == "p0" and docs[0].source == {"file": str(path), "offset": 0}
    assert docs[7].fields["score"] == 7 and docs[7].fields["crawled"] == dt.datetime(2020, 1, 8)
    assert docs[7].date == "2021-06-01T00:00:00"
    middle = read_all(path, options, start=5, stop=14)
    assert [d.ordinal for d in middle] == list(range(5, 14))
    assert [d.text for d in middle] == [d.text for d in docs[5:14]]


def test_text_directory(tmp_path):
    root = tmp_path / "pages"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(plumbing_text(1))
    (root / "sub" / "b.txt").write_text(plumbing_text(2))
    (root / "sub" / "c.txt").write_bytes(b"\x89PNG\x00\x00\x00")
    (root / "d.txt").write_bytes(b"caf\xe9 au lait")
    (root / "e.txt").write_text("")
    (root / "notes.md").write_text("not a .txt file")
    docs = read_all(root)
    assert [(d.id, d.quarantine) for d in docs] == [
        ("a.txt", None), ("d.txt", "undecodable"), ("e.txt", "empty"), ("sub/b.txt", None), ("sub/c.txt", "binary")]
    assert docs[0].text == plumbing_text(1) and docs[0].source == {"file": str(root / "a.txt"), "offset": 0}


def make_warc(path, paragraphs):
    page = html_page("Trains", paragraphs)
    latin = "<html><body><article><p>Caf\xe9 cr\xe8me, na\xefve fa\xe7ade.</p><p>" + " ".join(paragraphs) + \
        "</p></article></body></html>"
    records = [
        warc_record("warcinfo", "", "2021-01-01T00:00:00Z", b"software: test\r\n", "application/warc-fields"),
        warc_record("request", "http://a.example/", "2021-03-04T05:06:07Z", b"GET / HTTP/1.1\r\n\r\n",
                    "application/http; msgtype=request"),
        warc_record("response", "http://a.example/", "2021-03-04T05:06:07Z", http_response(page),
                    "application/http; msgtype=response"),
        warc_record("response", "http://a.example/logo.png", "2021-03-04T05:06:08Z",
                    http_response(b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"), "application/http; msgtype=response"),
        warc_record("response", "http://b.example/", "2019-11-30T23:59:59Z",
                    http_response(latin.encode("latin-1"), "text/html; charset=iso-8859-1"),
                    "application/http; msgtype=response"),
        warc_record("response", "http://c.example/big", "2021-03-04T05:06:09Z",
                    http_response(html_page("Big", paragraphs * 400)), "application/http; msgtype=response"),
        warc_record("response", "http://d.example/empty", "2021-03-04T05:06:10Z",
                    http_response(b"<html><body><nav>Home</nav></body></html>"), "application/http; msgtype=response"),
    ]
    path.write_bytes(b"".join(records))
    return path


def test_warc_made_here(tmp_path):
    paragraphs = [plumbing_text(i, 40) for i in range(4)]
    path = make_warc(tmp_path / "crawl.warc.gz", paragraphs)
    docs = read_all(path, ReaderOptions(max_bytes=50_000))
    assert [(d.fields["url"], d.quarantine) for d in docs] == [
        ("http://a.example/", None), ("http://a.example/logo.png", "binary"), ("http://b.example/", None),
        ("http://c.example/big", "too_large"), ("http://d.example/empty", "extract_failed")]
    page = docs[0]
    assert all(p in page.text for p in paragraphs)
    assert "Home" not in page.text and "Copyright" not in page.text  # boilerplate removed
    assert page.date == "2021-03-04T05:06:07+00:00" and page.id.startswith("urn:uuid:")
    assert page.fields["content_type"] == "text/html"
    assert "Café crème, naïve façade." in docs[2].text
    assert docs[2].date.startswith("2019-11-30")
    offsets = [d.source["offset"] for d in docs]
    assert offsets == sorted(offsets) and offsets[0] > 0  # byte offsets, after warcinfo and request
    assert [d.ordinal for d in read_all(path, start=1, stop=3)] == [1, 2]


def test_wet_conversion_records(tmp_path):
    texts = [plumbing_text(20 + i) for i in range(3)]
    path = tmp_path / "crawl.warc.wet.gz"
    path.write_bytes(b"".join(warc_record("conversion", f"http://e.example/{i}", "2020-02-02T00:00:00Z",
                                          t.encode(), "text/plain") for i, t in enumerate(texts)))
    docs = read_all(path)
    assert [d.text for d in docs] == texts and all(d.date.startswith("2020-02-02") for d in docs)


def test_truncated_warc_is_quarantined_not_fatal(tmp_path):
    path = make_warc(tmp_path / "whole.warc.gz", [plumbing_text(1)])
    cut = tmp_path / "cut.warc.gz"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) - 300])
    docs = read_all(cut, ReaderOptions(max_bytes=50_000))
    assert docs and docs[-1].quarantine == "unreadable_file"
    garbage = tmp_path / "garbage.warc.gz"
    garbage.write_bytes(b"this is not a warc file at all" * 10)
    (doc,) = read_all(garbage)
    assert doc.quarantine == "unreadable_file" and doc.ordinal == 0


def test_expand_inputs(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "c.parquet.tmp"):
        (tmp_path / name).write_text("")
    sources = expand_inputs([str(tmp_path / "*.jsonl"), str(tmp_path / "a.jsonl")])
    assert [s.path for s in sources] == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    assert [s.index for s in sources] == [0, 1]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.warc.gz")])
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="unknown input format"):
        expand_inputs([str(tmp_path / "c.parquet.tmp")])
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match="must hold .txt files"):
        expand_inputs([str(tmp_path / "empty_dir")])


def test_text_files_are_decoded_as_the_score_command_decodes_them(tmp_path):
    # A UTF-16 file with a byte-order mark was quarantined as binary by the filter while `score` read it.
    texts = tmp_path / "texts"
    texts.mkdir()
    body = plumbing_text(41)
    (texts / "utf16.txt").write_bytes("\ufeff".encode("utf-16-le") + body.encode("utf-16-le"))
    (texts / "utf8bom.txt").write_bytes(b"\xef\xbb\xbf" + body.encode())
    (texts / "nul.txt").write_bytes(b"abc\x00def")
    (texts / "latin1.txt").write_bytes("caf\u00e9".encode("latin-1"))
    source = expand_inputs([str(texts)])[0]
    docs = {d.id: d for d in make_reader(source, ReaderOptions()).read()}
    assert docs["utf16.txt"].text == body and docs["utf8bom.txt"].text == body
    assert docs["nul.txt"].quarantine == "binary"
    assert docs["latin1.txt"].quarantine == "undecodable" and "UTF-8" in docs["latin1.txt"].detail
