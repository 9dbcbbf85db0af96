"""Readers on damaged input: cut-short and corrupt compressed files, broken WARC and Parquet files,
pathologically nested HTML, and record ids of every JSON type.

Each broken file must give the records that can be read, then exactly one `unreadable_file` document
that says where (which byte) the file broke; no exception may escape a reader, and a ranged read must
agree with a full read. The texts are made by code (filter_helpers): fine for plumbing.
"""

from __future__ import annotations

import gzip
import json
import random
import time
import zlib

import pytest
import zstandard

from tests.helpers.corpus import html_page, http_response, plumbing_text, warc_record
from filters.pipeline.readers import ReaderOptions, expand_inputs, make_reader
from filters.pipeline.readers.html import MAX_HTML_DEPTH, html_nesting


def read_all(path, options=ReaderOptions(), start=0, stop=None):
    source = expand_inputs([str(path)])[0]
    return list(make_reader(source, options, start, stop).read())


def jsonl_bytes(n: int, words: int = 60) -> bytes:
    return "".join(json.dumps({"id": f"r{i}", "text": plumbing_text(i, words)}) + "\n" for i in range(n)).encode()


def compress(data: bytes, kind: str, frame_bytes: int | None = None) -> bytes:
    """gzip or zstd, in one member/frame or in one per `frame_bytes` of input."""
    pieces = [data[i:i + frame_bytes] for i in range(0, len(data), frame_bytes)] if frame_bytes else [data]
    if kind == "gz":
        return b"".join(gzip.compress(p, mtime=0) for p in pieces)
    compressor = zstandard.ZstdCompressor()
    return b"".join(compressor.compress(p) for p in pieces)


def complete_lines_in(cut: bytes, kind: str) -> int:
    """How many whole lines the data that does decompress holds: what a reader can and must give."""
    out = []
    while cut:
        decoder = zlib.decompressobj(31) if kind == "gz" else zstandard.ZstdDecompressor().decompressobj()
        out.append(decoder.decompress(cut))
        if not decoder.eof:
            break
        cut = decoder.unused_data
    return b"".join(out).count(b"\n")


def check_broken_file(docs, readable: int, offset_text: str):
    """`readable` clean records at ordinals 0.., then one unreadable_file row naming `offset_text`."""
    assert [d.quarantine for d in docs] == [None] * readable + ["unreadable_file"]
    assert [d.ordinal for d in docs] == list(range(readable + 1))
    last = docs[-1]
    assert offset_text in last.detail, last.detail
    assert last.id  # never null


# --- 1. cut-short .jsonl.zst / .jsonl.gz ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["zst", "gz"])
def test_small_cut_file_is_one_unreadable_row(tmp_path, kind):
    packed = compress(jsonl_bytes(12), kind)
    path = tmp_path / f"cut.jsonl.{kind}"
    path.write_bytes(packed[: len(packed) * 6 // 10])
    docs = read_all(path)
    unit = "zstd frame" if kind == "zst" else "gzip member"
    check_broken_file(docs, complete_lines_in(path.read_bytes(), kind),
                      f"the file ends inside a {unit} after compressed byte {path.stat().st_size}")
    assert "cut short" in docs[-1].detail


@pytest.mark.parametrize("kind", ["zst", "gz"])
@pytest.mark.parametrize("frame_bytes", [None, 20_000])
def test_cut_file_gives_every_complete_record_then_one_row(tmp_path, kind, frame_bytes):
    packed = compress(jsonl_bytes(1500), kind, frame_bytes)
    path = tmp_path / f"half.jsonl.{kind}"
    path.write_bytes(packed[: len(packed) // 2])
    docs = read_all(path)
    readable = complete_lines_in(path.read_bytes(), kind)
    assert 500 < readable < 1000
    # the partial last line belongs to the unreadable rest: no invalid_json row for it
    check_broken_file(docs, readable, f"after compressed byte {path.stat().st_size}")
    assert [d.id for d in docs[:-1]] == [f"r{i}" for i in range(readable)]


def test_cut_file_ranged_reads_agree_with_the_full_read(tmp_path):
    packed = compress(jsonl_bytes(300), "zst", 5_000)
    path = tmp_path / "ranged.jsonl.zst"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    whole = [(d.ordinal, d.quarantine, d.id) for d in read_all(path)]
    count = whole[-1][0] + 1
    pieces = [(d.ordinal, d.quarantine, d.id) for start in range(0, count, 37)
              for d in read_all(path, start=start, stop=min(start + 37, count))]
    assert pieces == whole and whole[-1][1] == "unreadable_file"


# --- 2. corrupt compressed input never escapes ------------------------------------------------------

def _garbled(data: bytes, at: float, size: int = 64) -> bytes:
    middle = int(len(data) * at)
    return data[:middle] + bytes((b * 7 + 91) % 256 for b in data[middle:middle + size]) + data[middle + size:]


@pytest.mark.parametrize("name, make, what", [
    ("corrupt.jsonl.zst", lambda: _garbled(compress(jsonl_bytes(400), "zst", 8_000), 0.5), "damaged zstd data"),
    ("text.jsonl.zst", lambda: jsonl_bytes(3), "Unknown frame descriptor"),
    ("corrupt.jsonl.gz", lambda: compress(jsonl_bytes(400), "gz", 8_000)[:60_000] + b"not gzip at all" * 40,
     "damaged gzip data"),
    ("text.jsonl.gz", lambda: jsonl_bytes(3), "incorrect header check"),
])
def test_corrupt_compressed_jsonl_ends_the_file_with_one_row(tmp_path, name, make, what):
    path = tmp_path / name
    path.write_bytes(make())
    docs = read_all(path)  # must not raise
    bad = docs[-1]
    assert bad.quarantine == "unreadable_file" and what in bad.detail and "compressed bytes" in bad.detail
    assert all(d.quarantine is None for d in docs[:-1])
    assert [d.ordinal for d in docs] == list(range(len(docs)))
    if name.startswith("text"):
        assert len(docs) == 1 and "compressed bytes 0-" in bad.detail


@pytest.mark.parametrize("kind", ["zst", "gz"])
def test_records_decompressed_before_the_damage_are_kept(tmp_path, kind):
    """The damage is found only at the end (zstd's content checksum, gzip's CRC): the records that
    decompressed before it were lost with the failed call's output; they must all be read."""
    data = jsonl_bytes(300)
    if kind == "zst":
        whole = zstandard.ZstdCompressor(write_checksum=True).compress(data)
        broken = whole[:-1] + bytes([whole[-1] ^ 0xFF])  # the last byte of the checksum
    else:
        whole = gzip.compress(data, mtime=0)
        broken = whole[:-8] + bytes([whole[-8] ^ 0xFF]) + whole[-7:]  # the CRC-32
    path = tmp_path / f"checksum.jsonl.{kind}"
    path.write_bytes(broken)
    docs = read_all(path)
    # zstd fails at the checksum's last byte; zlib once it has read the whole CRC-32 (its 4th byte)
    check_broken_file(docs, 300, f"compressed byte {len(broken) - (1 if kind == 'zst' else 5)}")
    assert [d.id for d in docs[:-1]] == [f"r{i}" for i in range(300)]


def test_oversized_line_in_a_compressed_file_is_never_held(tmp_path):
    """A 64 MiB line from a few KB of zstd: quarantined as too large, the next line still read."""
    path = tmp_path / "bomb.jsonl.zst"
    with open(path, "wb") as handle:
        writer = zstandard.ZstdCompressor().stream_writer(handle)
        for _ in range(64):
            writer.write(b"a" * (1 << 20))
        writer.write(b"\n" + json.dumps({"id": "after", "text": "x"}).encode() + b"\n")
        writer.flush(zstandard.FLUSH_FRAME)
    docs = read_all(path, ReaderOptions(max_bytes=10_000))
    assert [(d.quarantine, d.ordinal) for d in docs] == [("too_large", 0), (None, 1)]
    assert docs[1].id == "after" and len(docs[0].raw) == 4096


def test_damaged_parquet_names_where(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": [f"p{i}" for i in range(50)], "text": [plumbing_text(i) for i in range(50)]})
    good = tmp_path / "good.parquet"
    pq.write_table(table, good, row_group_size=10)
    data = good.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    (doc,) = read_all(cut)
    assert doc.quarantine == "unreadable_file" and doc.ordinal == 0 and doc.id
    assert f"{len(data) // 2} bytes long" in doc.detail and "footer" in doc.detail
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet" * 50)
    (doc,) = read_all(garbage)
    assert doc.quarantine == "unreadable_file" and doc.id

    # a damaged row group: the rows before it, then one row naming the group's bytes
    metadata = pq.ParquetFile(good).metadata
    column = metadata.row_group(2).column(1)
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(data[:start + 4] + b"\xff" * 200 + data[start + 204:])
    docs = read_all(broken)
    assert [d.quarantine for d in docs] == [None] * 20 + ["unreadable_file"]
    assert "row group 2 (rows 20-29, file bytes" in docs[-1].detail and docs[-1].ordinal == 20


# --- WARC: damaged, cut short, one row for the rest --------------------------------------------------

def warc_records(n: int, words: int = 80) -> list[bytes]:
    """n gzip-compressed response records, one member each (as WARC files are written)."""
    return [warc_record("response", f"http://w.example/{i}", "2021-03-04T05:06:07Z",
                        http_response(html_page(f"Page {i}", [plumbing_text(100 + i, words)])),
                        "application/http; msgtype=response") for i in range(n)]


def as_zstd(records: list[bytes]) -> bytes:
    compressor = zstandard.ZstdCompressor()
    return b"".join(compressor.compress(gzip.decompress(r)) for r in records)


def test_cut_warc_gz_gives_one_row_for_the_broken_record(tmp_path):
    records = warc_records(6)
    data = b"".join(records)
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[:-300])
    docs = read_all(path)
    assert [d.quarantine for d in docs] == [None] * 5 + ["unreadable_file"]  # not two rows for record 5
    last = docs[-1]
    last_start = sum(len(r) for r in records[:5])
    assert last.ordinal == 5 and last.id
    assert f"after compressed byte {len(data) - 300}" in last.detail and f"at byte {last_start}" in last.detail
    assert [d.ordinal for d in read_all(path, start=5, stop=6)] == [5]
    assert [d.quarantine for d in read_all(path, start=0, stop=5)] == [None] * 5


def test_cut_plain_warc_gives_one_row(tmp_path):
    plain = b"".join(gzip.decompress(r) for r in warc_records(4))
    path = tmp_path / "cut.warc"
    path.write_bytes(plain[:-200])
    docs = read_all(path)
    assert [d.quarantine for d in docs] == [None] * 3 + ["unreadable_file"]
    assert "cut short" in docs[-1].detail and "at byte " in docs[-1].detail


@pytest.mark.parametrize("suffix", ["warc.gz", "warc.zst"])
def test_garbage_inside_a_compressed_warc_is_one_row_naming_the_byte(tmp_path, suffix):
    records = warc_records(6)
    if suffix == "warc.gz":
        lengths = [len(r) for r in records]
        data = b"".join(records)
    else:
        compressor = zstandard.ZstdCompressor()
        frames = [compressor.compress(gzip.decompress(r)) for r in records]
        lengths = [len(f) for f in frames]
        data = b"".join(frames)
    broken_at = lengths[0] + lengths[1]  # record 2's member/frame starts here
    path = tmp_path / f"garbage.{suffix}"
    path.write_bytes(data[:broken_at + 30] + b"\x00\xff" * 100 + data[broken_at + 230:])
    docs = read_all(path)  # must not raise
    assert [d.quarantine for d in docs] == [None, None, "unreadable_file"]
    assert docs[2].ordinal == 2 and docs[2].id
    assert f"starts at byte {broken_at}" in docs[2].detail, docs[2].detail
    assert docs[2].source["offset"] >= broken_at
    # a range that ends where the file breaks does not report the break: the next range does
    assert [d.quarantine for d in read_all(path, start=0, stop=2)] == [None, None]
    assert [(d.ordinal, d.quarantine) for d in read_all(path, start=2, stop=3)] == [(2, "unreadable_file")]


def test_cut_warc_zst_names_the_byte(tmp_path):
    data = as_zstd(warc_records(5))
    path = tmp_path / "cut.warc.zst"
    path.write_bytes(data[:-150])
    docs = read_all(path)
    assert [d.quarantine for d in docs][-1] == "unreadable_file"
    assert sum(d.quarantine is not None for d in docs) == 1
    assert f"after compressed byte {len(data) - 150}" in docs[-1].detail


def test_single_member_warc_gz_is_not_reported_damaged(tmp_path):
    """A .warc.gz compressed as one stream: record positions are not member starts, yet it is whole."""
    blob = random.Random(0).randbytes(1 << 20)  # incompressible: the last record starts mid-stream
    records = warc_records(40) + [warc_record("resource", "http://w.example/blob", "2021-03-04T05:06:07Z", blob,
                                              "application/octet-stream")]
    path = tmp_path / "one-stream.warc.gz"
    path.write_bytes(gzip.compress(b"".join(gzip.decompress(r) for r in records), mtime=0))
    docs = read_all(path)
    assert [d.quarantine for d in docs] == [None] * 40 + ["binary"]
    last = docs[-1].source["offset"]  # where the check of the tail starts: inside the one member
    assert 0 < last < path.stat().st_size and path.read_bytes()[last:last + 2] != b"\x1f\x8b"


# --- 3. deeply nested HTML ------------------------------------------------------------------------

def test_deeply_nested_page_is_quarantined_quickly(tmp_path):
    deep = ("<html><body>" + "<div>" * 200_000 + "<p>" + plumbing_text(1) + "</p>" + "</div>" * 200_000
            + "</body></html>").encode()
    good = html_page("Fine", [plumbing_text(2, 80)])
    path = tmp_path / "deep.warc.gz"
    path.write_bytes(
        warc_record("response", "http://deep.example/", "2021-03-04T05:06:07Z", http_response(deep),
                    "application/http; msgtype=response")
        + warc_record("response", "http://fine.example/", "2021-03-04T05:06:08Z", http_response(good),
                      "application/http; msgtype=response"))
    started = time.perf_counter()
    docs = read_all(path)
    assert time.perf_counter() - started < 5
    assert [(d.fields["url"], d.quarantine) for d in docs] == [("http://deep.example/", "extract_failed"),
                                                               ("http://fine.example/", None)]
    assert f"nested deeper than {MAX_HTML_DEPTH} elements" in docs[0].detail
    assert plumbing_text(2, 80) in docs[1].text


def test_nesting_check_spares_ordinary_pages():
    # thousands of <li>, <p>, <td> left open, unclosed inline tags inside closed blocks, tags in scripts
    rows = "".join(f"<tr><td>{i}<td><div><span><font>cell</div>" for i in range(3000))
    page = ("<html><head><script>var t = '" + "<div>" * 5000 + "';</script></head><body><ul>"
            + "<li>item <a href=#>link" * 5000 + "</ul>" + "<p>para" * 5000 + "<table>" + rows + "</table>"
            + "<div>" * 200 + "</div>" * 200 + "</body></html>")
    assert html_nesting(page) is None
    assert "nested deeper than" in html_nesting("<div>" * (MAX_HTML_DEPTH + 1))
    # many chains, each allowed on its own, add up to too much work
    chains = ("<div>" * 1_500 + "x" + "</div>" * 1_500) * 20
    assert "add up to more than" in html_nesting(chains)


# --- 5. ids keep their JSON type; every row has an id ------------------------------------------------

def test_ids_keep_their_type_and_bad_ids_are_derived_but_kept(tmp_path):
    lines = [
        {"id": 1, "text": plumbing_text(1)},
        {"id": "1", "text": plumbing_text(2)},
        {"id": 0, "text": plumbing_text(3)},
        {"id": True, "text": plumbing_text(4)},
        {"id": 1.0, "text": plumbing_text(5)},
        {"id": [1], "text": plumbing_text(6)},
        {"id": {"a": 1}, "text": plumbing_text(7)},
        {"id": "", "text": plumbing_text(8)},
        {"id": None, "text": plumbing_text(9)},
        {"text": plumbing_text(10)},
    ]
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "[1, 2]\n42\n\"just a string\"\n")
    docs = read_all(path)
    assert docs[0].id == 1 and type(docs[0].id) is int
    assert docs[1].id == "1" and type(docs[1].id) is str
    assert docs[2].id == 0  # a falsy id is still an id
    for doc, original in zip(docs[3:9], [True, 1.0, [1], {"a": 1}, "", None]):
        assert isinstance(doc.id, str) and len(doc.id) == 16 and doc.quarantine is None
        assert doc.fields["id"] == original and type(doc.fields["id"]) is type(original)
    assert "id" not in docs[9].fields and docs[9].id
    assert len({d.id for d in docs[:10]}) == 10
    for doc in docs[10:]:  # not objects: quarantined, each with its own non-null id
        assert doc.quarantine == "invalid_json" and isinstance(doc.id, str) and doc.id
    assert len({d.id for d in docs[10:]}) == 3
    assert [d.id for d in read_all(path)] == [d.id for d in docs]  # derived ids are stable


def test_every_quarantine_row_has_an_id(tmp_path):
    path = tmp_path / "mixed.jsonl.zst"
    lines = [json.dumps({"text": 5}), "[]", "{oops", json.dumps({"id": False}), "\"s\"",
             json.dumps({"id": 7, "text": plumbing_text(1)})]
    data = compress(("\n".join(lines) + "\n").encode() + jsonl_bytes(200), "zst", 2_000)
    path.write_bytes(data[: len(data) * 3 // 4])
    docs = read_all(path)
    assert docs[-1].quarantine == "unreadable_file"
    assert all(d.id is not None and d.id != "" for d in docs)
    assert docs[5].id == 7


# --- 6. markup that the old nesting scan read differently from the parser -----------------------------

def _warc_of_pages(pages: dict[str, bytes]) -> bytes:
    return b"".join(warc_record("response", url, "2021-03-04T05:06:07Z", http_response(body),
                                "application/http; msgtype=response") for url, body in pages.items())


@pytest.mark.parametrize("name, markup", [
    ("self-closing div", "<div/>"),  # HTML ignores "/>" on <div>: 50,000 levels deep for the parser
    ("quoted <", '<div a="<">'),  # '<' inside a quoted value does not end the tag
])
def test_markup_hiding_deep_nesting_is_quarantined_quickly(tmp_path, name, markup):
    bad = ("<html><body>" + markup * 50_000 + "<p>" + plumbing_text(1) + "</p></body></html>").encode()
    good = html_page("Fine", [plumbing_text(2, 80)])
    path = tmp_path / "hidden.warc.gz"
    path.write_bytes(_warc_of_pages({"http://bad.example/": bad, "http://fine.example/": good}))
    started = time.perf_counter()
    docs = read_all(path)
    assert time.perf_counter() - started < 5
    assert [(d.fields["url"], d.quarantine) for d in docs] == [("http://bad.example/", "extract_failed"),
                                                               ("http://fine.example/", None)]
    assert f"nested deeper than {MAX_HTML_DEPTH} elements" in docs[0].detail
    assert plumbing_text(2, 80) in docs[1].text


def test_both_hiding_markups_in_one_warc_and_a_good_page_after_them(tmp_path):
    pages = {"http://slash.example/": ("<div/>" * 50_000 + "<p>x</p>").encode(),
             "http://quote.example/": ('<div a="<">' * 50_000 + "<p>x</p>").encode(),
             "http://fine.example/": html_page("Fine", [plumbing_text(3, 80)])}
    path = tmp_path / "both.warc"
    path.write_bytes(b"".join(gzip.decompress(r) for r in [_warc_of_pages({u: b}) for u, b in pages.items()]))
    started = time.perf_counter()
    docs = read_all(path)
    assert time.perf_counter() - started < 5
    assert [d.quarantine for d in docs] == ["extract_failed", "extract_failed", None]
    assert all(d.detail and "nested deeper than" in d.detail for d in docs[:2])
    assert plumbing_text(3, 80) in docs[2].text


@pytest.mark.parametrize("markup", [
    "<div/>" * 3000,
    '<div a="<">' * 3000,
    "<div a='>'>" * 3000,
    "<div a=x/>" * 3000,  # an unquoted value keeps the '/': not self-closing either
    "<span><div></span>" * 3000,  # the </span> cannot close across the <div>: the divs nest
    "<title></title x>" + "<div>" * 3000,  # an end tag with attributes still ends the title
    "<script-x>" + "<div>" * 3000 + "</script>",  # not a <script>
    "<!-->" + "<div>" * 3000 + "-->",  # "<!-->" is a whole comment
    "<svg><style>" + "<g>" * 3000 + "</style></svg>",  # <style> in <svg> holds markup
    "<svg>" + "<div/>" * 3000,  # <div> leaves the <svg>, and its "/" counts for nothing again
])
def test_scan_reads_tags_as_the_parser_does(markup):
    assert "nested deeper than" in html_nesting("<html><body>" + markup)


@pytest.mark.parametrize("markup", [
    "<svg>" + "<path d='M0 0'/>" * 5000 + "</svg>",  # in <svg>, "/>" closes any element
    "<svg/>" * 5000 + "<math/>" * 5000,
    "<br/><img src=x.png/><input/>" * 3000,
    "<script>if (a < b) { x = '<div>'; }</script>" * 3000,
    "<p><b>bold <i>both</i></b> plain</p>" * 5000,
    "<!-- <div> --><div a='<div>'>x</div>" * 5000,
])
def test_scan_spares_markup_that_does_not_nest(markup):
    assert html_nesting("<html><body>" + markup + "</body></html>") is None


def test_formatting_tags_the_parser_reopens_are_counted(tmp_path):
    """Unclosed formatting tags are reopened by the parser wherever text goes on after them: 1,000 distinct
    <b> reopened in each of 1,000 paragraphs are a million elements from 13 KB; misnested ones make the
    parser's "adoption agency" slow (30 s for 38 KB in lexbor). Both are refused before parsing."""
    bolds = "".join(f"<b a={i}>" for i in range(1000))
    reopened = "<html><body><p>" + bolds + "<p>x" * 1000
    untangled = "<html><body>" + "".join(f"<b a={i}>" for i in range(100)) + "<div>" * 1000 + "</b>" * 8000
    assert html_nesting(reopened) is not None
    assert "misnested formatting tags" in html_nesting(untangled)
    path = tmp_path / "formatting.warc.gz"
    path.write_bytes(_warc_of_pages({"http://reopened.example/": reopened.encode(),
                                     "http://untangled.example/": untangled.encode(),
                                     "http://fine.example/": html_page("Fine", [plumbing_text(4, 80)])}))
    started = time.perf_counter()
    docs = read_all(path)
    assert time.perf_counter() - started < 5
    assert [d.quarantine for d in docs] == ["extract_failed", "extract_failed", None]


def test_parsed_tree_backstop_refuses_what_a_scan_misses():
    """Whatever the scan lets through, the parsed tree is measured before extraction."""
    from resiliparse.parse.html import HTMLTree

    from filters.pipeline.readers.html import MAX_NESTING_WORK, parsed_html_problem

    started = time.perf_counter()
    deep = HTMLTree.parse("<html><body>" + "<div>" * 50_000 + "x")
    assert "nested deeper than" in parsed_html_problem(deep, 1)
    wide = HTMLTree.parse("<html><body>" + "<div>" * 1_000 + "<br>x" * 20_000)  # 40,000 nodes 1,000 deep
    assert "add up to more than" in parsed_html_problem(wide, 20_000)
    assert time.perf_counter() - started < 5
    ordinary = HTMLTree.parse(html_page("Fine", [plumbing_text(5, 80)] * 200).decode())
    assert parsed_html_problem(ordinary, 500) is None
    assert MAX_NESTING_WORK >= 10_000_000


# --- 7. a plain .warc cut inside a record's header; messages -------------------------------------------

def _plain(records: list[bytes]) -> bytes:
    return b"".join(gzip.decompress(r) for r in records)


def _header_cut_points() -> list[int]:
    header_length = _plain(warc_records(1)).index(b"\r\n\r\n") + 4
    # inside "WARC/1.0", before the type is read, inside a header, inside Content-Length, at the blank line
    return [3, 9, 20, 60, header_length - 10, header_length - 4, header_length - 2, header_length - 1]


@pytest.mark.parametrize("cut", _header_cut_points())
def test_plain_warc_cut_inside_a_header_gives_one_row(tmp_path, cut):
    records = [_plain([r]) for r in warc_records(4)]
    start = sum(len(r) for r in records[:3])
    path = tmp_path / "cut-header.warc"
    path.write_bytes(b"".join(records)[:start + cut])
    docs = read_all(path)
    check_broken_file(docs, 3, f"at byte {start}")
    assert docs[-1].source["offset"] == start
    assert "read on" not in docs[-1].detail


def test_plain_warc_with_skipped_record_types_gives_no_spurious_row(tmp_path):
    info = warc_record("warcinfo", "", "2021-03-04T05:06:07Z", b"software: synthsieve-test\r\n",
                       "application/warc-fields")
    request = warc_record("request", "http://w.example/0", "2021-03-04T05:06:07Z",
                          b"GET /0 HTTP/1.1\r\nHost: w.example\r\n\r\n", "application/http; msgtype=request")
    metadata = warc_record("metadata", "http://w.example/0", "2021-03-04T05:06:07Z", b"fetchTimeMs: 12\r\n",
                           "application/warc-fields")
    responses = warc_records(2)
    whole = _plain([info, request, responses[0], metadata, responses[1], metadata])
    for name, data in [("whole.warc", whole), ("blank-lines.warc", whole + b"\r\n\r\n\n"),
                       ("ends-with-request.warc", _plain([info, responses[0], responses[1], request]))]:
        path = tmp_path / name
        path.write_bytes(data)
        docs = read_all(path)
        assert [d.quarantine for d in docs] == [None, None], name
        assert [d.fields["warc_type"] for d in docs] == ["response", "response"]
    # the last record a skipped type, cut inside its header: the row names where it starts
    last_start = len(whole) - len(_plain([metadata]))
    path = tmp_path / "cut-metadata.warc"
    path.write_bytes(whole[:last_start + 25])
    docs = read_all(path)
    check_broken_file(docs, 2, f"at byte {last_start}")
    assert docs[-1].source["offset"] == last_start
    # and cut inside its block
    path.write_bytes(whole[:-6])
    check_broken_file(read_all(path), 2, f"WARC record at byte {last_start}")


def test_unreadable_first_record_message_reads_well(tmp_path):
    records = warc_records(3)
    plain = tmp_path / "garbage-first.warc"
    plain.write_bytes(b"this is not a WARC file\r\n" * 4 + _plain(records))
    (doc,) = read_all(plain)
    assert doc.quarantine == "unreadable_file"
    assert "fastwarc cannot read the WARC record at byte 0: OSError" in doc.detail, doc.detail
    assert "read on" not in doc.detail and "on:" not in doc.detail

    compressed = tmp_path / "garbage-first.warc.gz"
    compressed.write_bytes(gzip.compress(b"this is not a WARC record\r\n" * 4, mtime=0) + b"".join(records))
    (doc,) = read_all(compressed)
    assert doc.quarantine == "unreadable_file"
    assert "fastwarc cannot read the first WARC record: OSError" in doc.detail, doc.detail

    second = tmp_path / "garbage-second.warc.gz"
    second.write_bytes(records[0] + gzip.compress(b"not a record\r\n" * 4, mtime=0) + records[1])
    docs = read_all(second)
    assert [d.quarantine for d in docs] == [None, "unreadable_file"]
    assert "fastwarc cannot read the WARC record after the one at byte 0: OSError" in docs[1].detail, docs[1].detail

    plain_second = tmp_path / "garbage-second.warc"
    plain_second.write_bytes(_plain(records[:1]) + b"not a record\r\n" * 4 + _plain(records[1:]))
    docs = read_all(plain_second)
    assert [d.quarantine for d in docs] == [None, "unreadable_file"]
    start = len(_plain(records[:1]))
    assert f"fastwarc cannot read the WARC record at byte {start}: OSError" in docs[1].detail, docs[1].detail
    assert docs[1].source["offset"] == start
