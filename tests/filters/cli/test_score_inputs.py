"""`synthsieve score` streams its inputs, and one rule says which decoded texts are worth scoring.

The texts written here are made by code: they are used only for plumbing (batching, ordering,
decoding, messages), never as an example of human writing.
"""

from __future__ import annotations

import ast
import codecs
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import filters.cli.score
from filters.cli import cli
from detector.inputs import (BINARY_CONTROL, BINARY_NUL, EMPTY, LONE_SURROGATE, PROBE_CHARS, TEXT_PROBLEMS,
                             UnreadableInput, decode_document, read_document, text_problem)
from tests.helpers.fake_detector import FakeDetector
from tests.helpers.corpus import plumbing_text
from filters.document import BINARY, Document, EMPTY as EMPTY_REASON, UNDECODABLE
from filters.pipeline.normaliser import Normaliser
from tests.helpers import ROOT



class RecordingDetector(FakeDetector):
    """FakeDetector with what the `score` command reads (`lm.token_cap`, `model_label`); each `score`
    call records its texts and what had been written to stdout and stderr by then."""

    model_label = "fake"

    def __init__(self, snapshot=None):
        super().__init__()
        self.lm = SimpleNamespace(token_cap=64, batch_tokens=4096)
        self.calls: list[dict] = []
        self._snapshot = snapshot

    def score(self, texts, cluster_sizes=None, thresholds=None, cheap=None):
        out, err = self._snapshot() if self._snapshot else ("", "")
        self.calls.append({"texts": list(texts), "stdout": out, "stderr": err})
        return super().score(texts, cluster_sizes, thresholds, cheap)


def _files(tmp_path, n, bad=()):
    """n inputs: plumbing texts, except the positions in `bad`, which are missing files."""
    paths = []
    for i in range(n):
        path = tmp_path / f"doc{i:03d}.txt"
        if i not in bad:
            path.write_text(plumbing_text(i, words=20), encoding="utf-8")
        paths.append(str(path))
    return paths


def _run_in_process(monkeypatch, capsys, args):
    """Run `synthsieve score ARGS` here with a RecordingDetector; returns (exit code, out, err, detector)."""
    seen = {"out": "", "err": ""}

    def snapshot():
        captured = capsys.readouterr()
        seen["out"] += captured.out
        seen["err"] += captured.err
        return seen["out"], seen["err"]

    fake = RecordingDetector(snapshot)
    monkeypatch.setattr(filters.cli.score, "load_detector", lambda *a, **k: fake)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["score", *args], prog_name="synthsieve", standalone_mode=False)
    snapshot()
    return exit_info.value.code, seen["out"], seen["err"], fake


# --- 1. streaming ----------------------------------------------------------------------------------


def test_score_calls_the_detector_per_batch_and_prints_each_batch_before_scoring_the_next(
        tmp_path, monkeypatch, capsys):
    n, batch = 11, 4
    paths = _files(tmp_path, n, bad={5})
    code, out, err, fake = _run_in_process(monkeypatch, capsys, ["--json", "--batch-docs", str(batch), *paths])
    assert code == 1  # one input was missing
    # Every call holds at most one batch; the missing file leaves its batch one short.
    assert [len(call["texts"]) for call in fake.calls] == [4, 3, 3]
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [p for i, p in enumerate(paths) if i != 5]
    # When batch k is scored, stdout holds exactly the results of the batches before it, and the
    # error for the missing input (batch 2) is on stderr only once batch 2 is scored.
    printed_before = [[json.loads(line)["path"] for line in call["stdout"].splitlines()] for call in fake.calls]
    assert printed_before == [[], paths[:4], [p for p in paths[:8] if p != paths[5]]]
    assert [paths[5] in call["stderr"] for call in fake.calls] == [False, False, True]
    assert f"synthsieve: {paths[5]}: no such file" in err


def test_streamed_results_are_those_of_scoring_everything_at_once(tmp_path, monkeypatch, capsys):
    paths = _files(tmp_path, 9)
    _, streamed, _, fake = _run_in_process(monkeypatch, capsys, ["--batch-docs", "2", *paths])
    assert max(len(call["texts"]) for call in fake.calls) == 2
    texts = [Path(p).read_text(encoding="utf-8") for p in paths]
    at_once = FakeDetector().score(texts)
    expected = [filters.cli.score._score_line(p, s, "fake", False) for p, s in zip(paths, at_once)]
    assert streamed.splitlines() == expected


def test_real_detector_streamed_in_small_batches_matches_one_call(tiny_reference_model, tmp_path):
    from detector import Detector

    paths = _files(tmp_path, 5)
    result = CliRunner().invoke(cli, ["score", "--json", "--batch-docs", "2", "--reference-model",
                                      str(tiny_reference_model), "--token-cap", "64", *paths])
    assert result.exit_code == 0, result.output
    streamed = [json.loads(line) for line in result.stdout.splitlines()]
    at_once = Detector.load(reference_model=tiny_reference_model, token_cap=64).score(
        [read_document(p, 64) for p in paths])
    assert [line["path"] for line in streamed] == paths
    for line, score in zip(streamed, at_once):
        assert line["p_machine"] == pytest.approx(score.p_machine, abs=2e-6)
        assert (line["decision"], line["language"], line["n_tokens"]) == (score.decision, score.language,
                                                                          score.n_tokens)


_PIPE_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from types import SimpleNamespace
    import filters.cli.score
    from tests.helpers.fake_detector import FakeDetector  # `python -c` runs in the repository root

    go = Path(sys.argv[1])
    third = Path(sys.argv[4]).read_text(encoding="utf-8")  # the first text of the second batch

    class Gated(FakeDetector):
        model_label = "fake"
        lm = SimpleNamespace(token_cap=64, batch_tokens=4096)

        def score(self, texts, *args, **kwargs):
            if third in texts:  # the second batch waits until the reader has seen the first
                deadline = time.monotonic() + 20
                while not go.exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                if not go.exists():
                    sys.exit(99)
            return super().score(texts, *args, **kwargs)

    filters.cli.score.load_detector = lambda *a, **k: Gated()
    filters.cli.cli.main(["score", "--batch-docs", "2", *sys.argv[2:]], prog_name="synthsieve")
""")


def test_first_batch_reaches_a_pipe_before_the_second_batch_is_scored(tmp_path):
    """A real pipe, as with `synthsieve score *.txt > out`: nothing is held back in a buffer."""
    paths = _files(tmp_path, 4)
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", _PIPE_SCRIPT, str(go), *paths], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = [proc.stdout.readline(), proc.stdout.readline()]
        go.touch()
        rest, err = proc.communicate(timeout=60)
    finally:
        go.touch()
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert [line.split("\t")[0] for line in first] == paths[:2]
    assert [line.split("\t")[0] for line in rest.splitlines()] == paths[2:]


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, monkeypatch, capsys):
    paths = _files(tmp_path, 5)
    _, _, err, _ = _run_in_process(monkeypatch, capsys, ["--batch-docs", "2", *paths])
    progress = [line for line in err.splitlines() if line.startswith("synthsieve score:")]
    assert progress and "5/5 documents" in progress[-1] and "docs/s" in progress[-1]
    # One batch's worth of inputs: no progress noise around a quick `score a.txt`.
    _, _, err, _ = _run_in_process(monkeypatch, capsys, paths[:2])
    assert err == ""


def test_score_help_documents_streaming():
    result = CliRunner().invoke(cli, ["score", "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "--batch-docs" in result.output and "streamed" in result.output
    assert "as soon as it is scored" in result.output and "progress" in result.output


# --- 2. messages -----------------------------------------------------------------------------------

_SAMPLE = "Plumbing text, with a non-ASCII letter (é) and one outside the BMP (\U0001F600).\n"


@pytest.mark.parametrize("encoding,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                                          ("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE),
                                          ("utf-8", codecs.BOM_UTF8)])
def test_text_with_a_byte_order_mark_is_decoded(tmp_path, encoding, bom):
    raw = bom + _SAMPLE.encode(encoding)
    path = tmp_path / "doc.txt"
    path.write_bytes(raw)
    assert read_document(str(path), 64) == _SAMPLE
    # The head of a longer input may end inside a character (or a surrogate pair): that one is dropped.
    for cut in range(1, 9):
        fits = [n for n in range(len(_SAMPLE) + 1) if len(bom + _SAMPLE[:n].encode(encoding)) <= len(raw) - cut]
        assert decode_document(raw[:-cut], truncated=True) == _SAMPLE[: max(fits)]


def test_utf16_file_is_scored_by_the_cli(tmp_path, monkeypatch, capsys):
    path = tmp_path / "utf16.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + plumbing_text(1).encode("utf-16-le"))
    code, out, err, fake = _run_in_process(monkeypatch, capsys, [str(path)])
    assert code == 0 and err == "" and out.startswith(str(path) + "\t")
    assert fake.calls[0]["texts"] == [plumbing_text(1)]


def test_without_a_byte_order_mark_nul_bytes_are_still_binary():
    with pytest.raises(UnreadableInput, match=r"binary \(contains NUL bytes\)"):
        decode_document(_SAMPLE.encode("utf-16-le"), truncated=False)
    with pytest.raises(UnreadableInput, match="not valid UTF-16"):
        decode_document(codecs.BOM_UTF16_LE + b"a\x00\x00\xd8b\x00", truncated=False)


def test_symbolic_link_messages(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.txt")
    (tmp_path / "real.txt").write_text(_SAMPLE)
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    for name, message in (("loop", "symbolic link loop"), ("a", "symbolic link loop"),
                          ("dangling", "broken symbolic link"), ("missing.txt", "no such file")):
        with pytest.raises(UnreadableInput) as info:
            read_document(str(tmp_path / name), 64)
        assert str(info.value) == message, name
    assert read_document(str(tmp_path / "link.txt"), 64) == _SAMPLE


def _read_with_timeout(path, seconds=10):
    outcome = {}

    def target():
        try:
            outcome["text"] = read_document(path, 64)
        except UnreadableInput as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"reading {path} blocked"
    return outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_and_devices_are_not_regular_files_and_do_not_hang(tmp_path, monkeypatch, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _read_with_timeout(str(fifo)) == {"error": "not a regular file (a FIFO)"}
    if os.path.exists("/dev/null"):
        assert _read_with_timeout("/dev/null") == {"error": "not a regular file (a character device)"}
    assert _read_with_timeout(str(tmp_path)) == {"error": "is a directory"}
    good = _files(tmp_path, 1)[0]
    code, out, err, _ = _run_in_process(monkeypatch, capsys, [str(fifo), good])
    assert code == 1 and out.startswith(good + "\t")
    assert f"synthsieve: {fifo}: not a regular file" in err


def test_standard_input_is_still_read(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=__import__("io").BytesIO(_SAMPLE.encode())))
    code, out, _, fake = _run_in_process(monkeypatch, capsys, ["-"])
    assert code == 0 and out.startswith("-\t") and fake.calls[0]["texts"] == [_SAMPLE]


INVISIBLE_ONLY = ["\u200b", "\u200b\u200d\ufeff", "\u202e\u2066\u2069 \u200f\n\u00ad", " \ufeff\t\u2060 "]


@pytest.mark.parametrize("text", INVISIBLE_ONLY)
def test_text_of_only_invisible_characters_is_empty(text, tmp_path, monkeypatch, capsys):
    assert text_problem(text) == EMPTY
    path = tmp_path / "invisible.txt"
    path.write_text(text, encoding="utf-8")
    code, out, err, fake = _run_in_process(monkeypatch, capsys, [str(path)])
    assert (code, out, fake.calls) == (1, "", [])
    assert err.strip() == f"synthsieve: {path}: empty"
    (doc,) = Normaliser().run([Document(ordinal=0, source={}, text=text)])
    assert doc.quarantine == EMPTY_REASON


def test_a_bom_alone_is_empty():
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE):
        with pytest.raises(UnreadableInput, match="^empty$"):
            decode_document(bom, truncated=False)


def test_invisible_characters_around_text_do_not_make_it_empty():
    text = "\u200b" * 200 + "x" + "\u200d" * 200
    assert text_problem(text) is None and decode_document(text.encode(), truncated=False) == text


# --- one rule: text_problem is what both the score command and the filter's normaliser apply -------

RULE_CASES = [
    ("", EMPTY),
    (" \n\t\r ", EMPTY),
    ("\u200b\u200d\ufeff\u202a", EMPTY),
    (plumbing_text(1), None),
    ("nul\u0000" * 50, BINARY_NUL),
    (plumbing_text(2)[:200] + "\u0000", BINARY_NUL),
    ("\u0001\u0002\u0003" * 30, BINARY_CONTROL),
    # The two places used to disagree: the detector allowed form feed but not vertical tab, the filter
    # both. Now one rule allows both, and C1 controls: cp1252 quotes read as Latin-1 are common in crawls.
    ("word\u000b" * 40, None),
    ("word\u000c" * 40, None),
    ("word\u0085" * 40, None),
    ("\u0093Hello,\u0094 she said. \u0093Goodbye.\u0094", None),
    ("\U000e0041\U000e0042\ufe0f\u2800" * 10, EMPTY),  # tag characters and the like draw nothing
    (plumbing_text(3) + "\u000c" + plumbing_text(4), None),  # a page break in real text is fine
    # Only the first PROBE_CHARS characters are probed for control share.
    ("a" * PROBE_CHARS + "\u0001" * 2000, None),
    ("bad \ud800 surrogate", LONE_SURROGATE),
]


@pytest.mark.parametrize("text,problem", RULE_CASES)
def test_one_rule_for_the_score_command_and_the_filter(text, problem):
    assert text_problem(text) == problem
    # The score command's decoding applies it (NUL bytes are caught before decoding, as binary).
    if problem != LONE_SURROGATE:
        if problem is None:
            assert decode_document(text.encode("utf-8"), truncated=False) == text
        else:
            with pytest.raises(UnreadableInput) as info:
                decode_document(text.encode("utf-8"), truncated=False)
            assert str(info.value) == problem or (problem == BINARY_NUL and "binary" in str(info.value))
    # The filter's normaliser maps it onto its quarantine reasons, which keep their names.
    (doc,) = Normaliser().run([Document(ordinal=0, source={}, text=text)])
    expected = {None: None, EMPTY: EMPTY_REASON, BINARY_NUL: BINARY, BINARY_CONTROL: BINARY,
                LONE_SURROGATE: UNDECODABLE}[problem]
    assert doc.quarantine == expected
    assert (doc.scoring_text is not None) == (problem is None)


def test_every_problem_has_a_quarantine_reason():
    from filters.pipeline import normaliser

    assert set(normaliser._QUARANTINE) == set(TEXT_PROBLEMS)
    assert {reason for reason, _ in normaliser._QUARANTINE.values()} == {EMPTY_REASON, BINARY, UNDECODABLE}


def test_the_rule_is_defined_once_and_detector_never_imports_filters():
    for path in (ROOT / "detector").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("filters"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("filters") for a in node.names), path
    source = (ROOT / "filters" / "pipeline" / "normaliser.py").read_text(encoding="utf-8")
    assert "text_problem" in source and "re.compile" not in source and "strip()" not in source
