"""Safety of the tools that read a finished run: rethreshold and report.

A manifest's shard paths are checked before anything is opened, copied or written; rethreshold copies
through the crash-safe publish; cheap-stage rows are never flagged; a --suspect below the ground
threshold lowers the ground with it; and invisible controls of crawled text (bidi overrides and the
like) never reach the report's files raw. The texts written here are placeholders made by code.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from tests.helpers.fake_detector import FakeDetectorLoader
from tests.helpers.corpus import corpus_records, read_output, write_jsonl
from filters.store import atomic
from filters.store.manifest import Manifest
from filters.store.output import ManifestPathError, iter_partition, shard_file, shard_files
from filters.executor.rethreshold import RethresholdError, rethreshold
from filters.executor.run import run_filter
from filters.executor.settings import FilterSettings

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
        "\u200f", "\u061c"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run of 60 records and two bad lines (so quarantine files exist), three shards."""
    root = tmp_path_factory.mktemp("finished")
    source = write_jsonl(root / "crawl.jsonl", corpus_records(60)[:30] + ["{broken"] + corpus_records(60)[30:]
                         + ["{also broken"])
    out = root / "out"
    manifest = run_filter([str(source)], out, FilterSettings(shard_size=21, batch_size=8),
                          detector_loader=FakeDetectorLoader(), workers=1)
    assert manifest["status"] == "complete" and manifest["counts"]["partitions"]["quarantine"] == 2
    return out


def copy_run(finished, base):
    """A copy of the finished run under base/runs/run, next to a file outside it that must stay put."""
    run = base / "runs" / "run"
    shutil.copytree(finished, run)
    (base / "planted.txt").write_text("not part of any run")
    return run


def edit_manifest(run, change):
    manifest = json.loads((run / "manifest.json").read_text())
    change(manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def quarantine_entry(manifest):
    return next(item for shard in manifest["shards"] for item in shard["files"] if item["partition"] == "quarantine")


def scored_entry(manifest):
    return next(item for shard in manifest["shards"] for item in shard["files"] if item["partition"] == "grounded")


# --- 1. manifest paths ---------------------------------------------------------------------------

CRAFTED = {
    "dot-dot": "grounded/../../planted.txt",
    "dot-dot in the name": "quarantine/part-00000-00000.jsonl.zst/../../../planted.txt",
    "absolute": "/etc/passwd",
    "backslash": "quarantine\\..\\..\\planted.txt",
    "unknown partition": "report/part-00000-00000.jsonl.zst",
    "other name": "quarantine/planted.txt",
    "hidden temporary": "quarantine/.part-00000-00000.jsonl.zst.tmp",
    "three parts": "quarantine/sub/part-00000-00000.jsonl.zst",
}


@pytest.mark.parametrize("crafted", CRAFTED.values(), ids=CRAFTED.keys())
def test_rethreshold_refuses_a_manifest_path_that_is_not_a_shard_file_of_the_run(finished, tmp_path, crafted):
    run = copy_run(finished, tmp_path)
    edit_manifest(run, lambda m: quarantine_entry(m).update(path=crafted))
    out = tmp_path / "runs" / "elsewhere" / "out2"
    with pytest.raises(RethresholdError, match="shard file entry") as error:
        rethreshold(run, out, suspect=0.9)
    assert ascii(crafted) in str(error.value)  # the message names the entry
    # Nothing was copied anywhere, and nothing was written under --out.
    assert not (tmp_path / "runs" / "elsewhere" / "planted.txt").exists()
    assert not (tmp_path / "runs" / "planted.txt").exists()
    assert not out.exists()


def test_the_reported_exploit_copies_nothing_out_of_the_run(finished, tmp_path):
    """The reproduced defect: a quarantine entry `grounded/../../planted.txt` copied base/planted.txt to
    a place outside --out (out2/grounded/../../planted.txt)."""
    run = copy_run(finished, tmp_path)
    (tmp_path / "runs" / "planted.txt").write_text("secret next to the run")
    edit_manifest(run, lambda m: quarantine_entry(m).update(path="grounded/../../planted.txt"))
    out = tmp_path / "runs" / "x" / "out2"
    with pytest.raises(RethresholdError):
        rethreshold(run, out)
    assert not (tmp_path / "runs" / "x" / "planted.txt").exists()


def test_rethreshold_refuses_a_scored_entry_a_partition_mismatch_a_foreign_key_and_a_bad_shard_key(
        finished, tmp_path):
    run = copy_run(finished, tmp_path)
    original = json.loads((run / "manifest.json").read_text())
    cases = [
        lambda m: scored_entry(m).update(path="grounded/../../planted.txt"),
        lambda m: scored_entry(m).update(partition="quarantine"),  # says quarantine, lies in grounded/
        lambda m: scored_entry(m).update(path=m["shards"][1]["files"][0]["path"]),  # another shard's file
        lambda m: m["shards"][0].update(key="../../evil"),
        lambda m: m["shards"][0].update(files="grounded/part-00000-00000.jsonl.zst"),
    ]
    for n, case in enumerate(cases):
        (run / "manifest.json").write_text(json.dumps(original))
        edit_manifest(run, case)
        with pytest.raises(RethresholdError):
            rethreshold(run, tmp_path / f"out{n}")
        assert not (tmp_path / f"out{n}").exists()


def test_rethreshold_refuses_a_shard_file_that_links_out_of_the_run(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    entry = quarantine_entry(manifest)
    (run / entry["path"]).unlink()
    os.symlink(tmp_path / "planted.txt", run / entry["path"])
    with pytest.raises(RethresholdError, match="outside the run directory"):
        rethreshold(run, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_rethreshold_command_says_one_line_and_exits_1(finished, tmp_path):
    from filters.cli.filter import rethreshold_command

    run = copy_run(finished, tmp_path)
    edit_manifest(run, lambda m: quarantine_entry(m).update(path="grounded/../../planted.txt"))
    result = CliRunner().invoke(rethreshold_command, [str(run), "--out", str(tmp_path / "out2"), "--no-progress"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("synthsieve: error:") and "planted.txt" in lines[0]


def test_output_readers_refuse_a_crafted_manifest(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    with pytest.raises(ManifestPathError, match="shard file entry"):
        shard_file(run, {"partition": "grounded", "path": "grounded/../../planted.txt"})
    with pytest.raises(ManifestPathError):
        shard_file(run, {"partition": "grounded", "path": "grounded/part-00000-00000.jsonl.zst"}, key="00000-00001")
    good = shard_file(run, {"partition": "grounded", "path": "grounded/part-00000-00000.jsonl.zst"}, key="00000-00000")
    assert good.path == run / "grounded" / "part-00000-00000.jsonl.zst"
    assert good.relative == "grounded/part-00000-00000.jsonl.zst"
    assert shard_files(run) and all(p.resolve().is_relative_to(run.resolve()) for p in shard_files(run))
    edit_manifest(run, lambda m: scored_entry(m).update(path="grounded/../../planted.txt"))
    with pytest.raises(ManifestPathError, match="planted"):
        shard_files(run)
    with pytest.raises(ManifestPathError):
        list(iter_partition(run, "grounded"))


def test_report_refuses_a_crafted_manifest(finished, tmp_path):
    from filters.report import ReportInputError, load_run
    from filters.cli.report import report_command

    run = copy_run(finished, tmp_path)
    assert load_run(run).n == 62  # the untouched copy reads fine
    edit_manifest(run, lambda m: scored_entry(m).update(path="grounded/../../planted.txt"))
    with pytest.raises(ReportInputError, match="planted"):
        load_run(run)
    result = CliRunner().invoke(report_command, [str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 1 and "Traceback" not in result.output and "planted" in result.output
    # A flat list of file names, the other form the report accepts, goes through the same check.
    edit_manifest(run, lambda m: m.update(shards=["quarantine/../../planted.txt"]))
    with pytest.raises(ReportInputError, match="planted"):
        load_run(run)


# --- 2. the copy of quarantine files is atomic.publish ------------------------------------------

def test_rethreshold_copies_quarantine_through_atomic_publish(finished, tmp_path, monkeypatch):
    published = []
    original = atomic.publish

    def recording(temporary, final):
        assert temporary.name.startswith(".") and temporary.name.endswith(".tmp") and temporary.exists()
        published.append(final)
        original(temporary, final)

    monkeypatch.setattr(atomic, "publish", recording)
    out = tmp_path / "out2"
    manifest = rethreshold(finished, out, suspect=0.9)
    copied = [out / item["path"] for shard in manifest["shards"] for item in shard["files"]
              if item["partition"] == "quarantine"]
    assert copied and all(path in published for path in copied)
    source = Manifest.load(finished)
    for shard_before, shard_after in zip(source["shards"], manifest["shards"]):
        before = [i for i in shard_before["files"] if i["partition"] == "quarantine"]
        after = [i for i in shard_after["files"] if i["partition"] == "quarantine"]
        assert after == before  # same path, rows, bytes and sha256
        for item in after:
            assert (out / item["path"]).read_bytes() == (finished / item["path"]).read_bytes()
    assert not list(out.rglob(".*.tmp"))


def test_copy_file_is_crash_safe_and_reports_what_it_wrote(tmp_path):
    import hashlib

    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(3 << 20))
    target = tmp_path / "dir" / "b.bin"
    target.parent.mkdir()
    written = atomic.copy_file(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert written == {"bytes": 3 << 20, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    assert not atomic.temporary_name(target).exists()


# --- 3. the cheap stage never flags, whatever the thresholds ---------------------------------------

def test_rethreshold_never_flags_a_row_the_cheap_stage_decided(finished, tmp_path):
    out = tmp_path / "low"
    rethreshold(finished, out, suspect=0.05, ground=0.01)
    rows = [(p, r["synthsieve"]) for p, rs in read_output(out).items() if p != "quarantine" for r in rs]
    cheap = [(p, m) for p, m in rows if m["decided_by"] == "cheap"]
    lm = [(p, m) for p, m in rows if m["decided_by"] == "lm"]
    # The test means something: cheap rows at or above the new suspect threshold exist ...
    assert any(m["p_machine"] >= 0.05 for _, m in cheap)
    # ... and none of them is flagged; they wait in uncertain for the LM's evidence.
    assert all(p != "suspected_synthetic" for p, _ in cheap)
    assert all(p == "uncertain" for p, m in cheap if m["p_machine"] >= 0.05)
    # LM rows are decided by the thresholds as asked.
    assert all(p == "suspected_synthetic" for p, m in lm if m["p_machine"] >= 0.05)
    assert all(m["decision"] == p for p, m in rows)


# --- 4. --suspect alone below the ground threshold --------------------------------------------------

def test_with_overrides_lowers_ground_to_follow_suspect_and_refuses_ground_above_suspect():
    from detector.decision import Thresholds

    shipped = Thresholds(suspect=0.992, ground=0.974, overwhelming=0.995)
    lowered = shipped.with_overrides(suspect=0.9)  # the README's example
    assert (lowered.suspect, lowered.ground, lowered.overwhelming) == (0.9, 0.9, 0.995)
    assert shipped.with_overrides(suspect=0.98).ground == 0.974  # above the ground: the ground stays
    assert shipped.with_overrides(ground=0.5) == Thresholds(suspect=0.992, ground=0.5, overwhelming=0.995)
    with pytest.raises(ValueError, match="ground"):
        shipped.with_overrides(ground=0.995)  # above suspect: raising suspect would flag less than asked
    with pytest.raises(ValueError):
        shipped.with_overrides(suspect=0.2, ground=0.5)  # both given and out of order


def test_rethreshold_with_suspect_alone_below_ground_lowers_ground_and_says_so(finished, tmp_path, capsys):
    before = Manifest.load(finished)["thresholds"]
    assert before["ground"] == 0.3 and before["suspect"] == 0.8
    manifest = rethreshold(finished, tmp_path / "out2", suspect=0.2)
    assert manifest["thresholds"]["suspect"] == 0.2 and manifest["thresholds"]["ground"] == 0.2
    assert "lowered from 0.3 to 0.2" in manifest["thresholds_note"]
    assert "ground threshold was lowered" in capsys.readouterr().err
    assert Manifest.load(tmp_path / "out2")["thresholds_note"] == manifest["thresholds_note"]
    with pytest.raises(ValueError, match="ground"):
        rethreshold(finished, tmp_path / "out3", ground=0.9)
    assert "thresholds_note" not in rethreshold(finished, tmp_path / "out4", suspect=0.9)


# --- 5. invisible controls in the report ---------------------------------------------------------

@pytest.mark.parametrize("char", BIDI + ["\x1b", "\x00", "\x9b", "\u200b", "\u2060", "\ufeff", "\U000e0041"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_escaping_functions_neutralise_invisible_controls(char):
    from filters.report.fmt import visible
    from filters.report.render_html import e
    from filters.report.render_markdown import m

    value = f"abc{char}def"
    for escaped in (visible(value), e(value), m(value)):
        assert char not in escaped
        assert f"u{ord(char):04x}" in escaped.lower() or f"u{ord(char):08x}" in escaped.lower()
    assert e("a\u200db") == "a\u200db"  # a joiner inside a word stays


def test_report_files_hold_no_raw_bidi_override(tmp_path):
    from filters.report import build_report, write_report

    source = tmp_path / f"crawl{RLO}gpj.jsonl"
    text = f"Placeholder page {RLO}txet desrever{RLO} repeated " * 8
    records = [{"id": f"r{i}", "text": text, "source": f"forum{RLO}moc.elpmaxe"} for i in range(4)]
    records += [{"id": f"u{i}", "text": f"placeholder record {i} " * (5 + i),
                 "url": f"https://ho{RLO}st{i % 2}.example/p"} for i in range(30)]
    records += ["{broken json"]
    write_jsonl(source, records)
    out = tmp_path / "out"
    run_filter([str(source)], out, FilterSettings(shard_size=50, batch_size=8), detector_loader=FakeDetectorLoader(),
               workers=1)
    report = build_report([out], with_plots=False)
    data = report.data
    assert any(RLO in b["key"] for b in data["by_source"]["buckets"])  # the raw values did reach the report
    assert any(RLO in c["excerpt"] for c in data["near_duplicate_clusters"]["largest"])
    paths = write_report(report, tmp_path / "report")
    for name in ("html", "markdown", "json"):
        content = paths[name].read_text(encoding="utf-8")
        assert not any(char in content for char in BIDI), name
    page = paths["html"].read_text(encoding="utf-8")
    assert "forum\\u202emoc.elpmaxe" in page and "txet desrever" in page
    assert "forum\\\\u202emoc.elpmaxe" in paths["markdown"].read_text(encoding="utf-8")
    # report.json writes them as JSON escapes: the values read back unchanged.
    written = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert [b["key"] for b in written["by_source"]["buckets"]] == [b["key"] for b in data["by_source"]["buckets"]]
    assert [c["excerpt"] for c in written["near_duplicate_clusters"]["largest"]] == [
        c["excerpt"] for c in data["near_duplicate_clusters"]["largest"]]


def test_rethreshold_says_which_listed_shard_files_are_missing(finished, tmp_path):
    import shutil as shutil_module

    from filters.executor.rethreshold import RethresholdError, rethreshold

    copy = tmp_path / "run"
    shutil_module.copytree(finished, copy)
    victim = next((copy / "grounded").glob("part-*"))
    victim.unlink()
    with pytest.raises(RethresholdError, match="missing"):
        rethreshold(copy, tmp_path / "again")
    assert not (tmp_path / "again" / "manifest.json").exists()
