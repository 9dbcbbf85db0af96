"""`synthsieve report` over filter output directories that the tests write themselves.

The rows follow the filter's output schema. Their texts are placeholders written here (machine-made by
definition); no test claims any of them is human. Where a test needs documents of known origin, the
origin is simulated: it only decides which score distribution a document's stored p_machine is drawn
from, the way the report sees a real run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import zstandard
from click.testing import CliRunner

from filters.report import ReportInputError, build_report, load_run, write_report
from filters.cli.report import report_command
from filters.report.plots import COLOURS
from tests.helpers import ROOT

PARTITIONS = ("grounded", "suspected_synthetic", "uncertain", "quarantine")
THRESHOLDS = {"suspect": 0.8, "ground": 0.3, "overwhelming": 0.995, "min_tokens": 50,
              "supported_languages": ["en"], "target_fpr": 0.01, "target_miss_rate": 0.05}
RATES = {"tpr": 0.85, "fpr": 0.02, "n_machine": 4292, "n_human": 2206}
CHROMIUM = "/usr/bin/chromium"


def load_decision_module():
    """detector/decision.py on its own: the real decision rule without importing torch."""
    spec = importlib.util.spec_from_file_location("_decision_only", ROOT / "detector" / "decision.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


DECISION = load_decision_module()
DECIDE_THRESHOLDS = DECISION.Thresholds.from_dict(THRESHOLDS)


# --- writing a filter output directory -------------------------------------------------------------

def scored_row(i: int, p: float, language: str = "en", n_tokens: int = 300, file: str = "crawl-a.jsonl",
               cluster: str | None = None, cluster_size: int = 1, date: str | None = None,
               text: str | None = None, decision: str | None = None, **fields) -> dict:
    decision = decision or DECISION.decide(p, language, n_tokens, DECIDE_THRESHOLDS)
    return {**fields, "id": f"doc-{i}", "text": text if text is not None else f"placeholder document {i}",
            "synthsieve": {"p_machine": p, "decision": decision, "decided_by": "lm" if i % 3 else "cheap",
                           "reasons": [{"feature": "mean_logprob", "value": -2.5, "contribution": 0.4}],
                           "language": language, "n_tokens": n_tokens, "cluster_id": cluster or f"c-{i}",
                           "cluster_size": cluster_size, "source": {"file": file, "line": i}, "date": date}}


def quarantine_row(i: int, reason: str, file: str = "crawl-a.jsonl") -> dict:
    return {"id": None, "raw": f"{{not json {i}", "reason": reason,
            "synthsieve": {"source": {"file": file, "offset": i * 100}}}


def write_jsonl_zst(path: Path, rows: list[dict]) -> None:
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(payload))


def write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def write_output(directory: Path, rows: list[dict], rates: dict | None = None, fmt: str = "jsonl",
                 model_hash: str = "m" * 64, thresholds: dict | None = None, list_shards: bool = True,
                 inputs: list[dict] | None = None, status: str = "complete", shard_size: int = 1000) -> Path:
    """A `synthsieve filter` output as filters/pipeline/writers.py and filters/store/manifest.py lay it out: shards of
    `shard_size` input rows, each publishing one file per partition it has rows for, listed under the
    shard's `files` in the manifest. Rows go by their decision (quarantine rows by having `raw`)."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".parquet" if fmt == "parquet" else ".jsonl.zst"
    shards, reasons, counts = [], {}, {p: 0 for p in PARTITIONS}
    for index, start in enumerate(range(0, len(rows), shard_size)):
        key = f"{index:05d}"
        by_partition: dict[str, list[dict]] = {}
        for row in rows[start:start + shard_size]:
            by_partition.setdefault(partition_of(row), []).append(row)
        files = []
        for partition, members in sorted(by_partition.items()):
            (directory / partition).mkdir(exist_ok=True)
            name = f"{partition}/part-{key}{suffix}"
            (write_parquet if fmt == "parquet" else write_jsonl_zst)(directory / name, members)
            files.append({"partition": partition, "path": name, "rows": len(members)})
            counts[partition] += len(members)
            for row in members if partition == "quarantine" else []:
                reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
        shards.append({"key": key, "file": "crawl-a.jsonl", "start": start, "stop": start + shard_size,
                       "files": files, "counts": {}})
    files = sorted({r["synthsieve"]["source"]["file"] for r in rows})
    manifest = {
        "synthsieve_version": "0.1.0",
        "model": {"model_id": "test-model", "model_hash": model_hash, "artifact_hashes": {"model.json": "a" * 64},
                  "reference_model_id": "tiny-lm", "reference_model_hash": "r" * 64, "token_cap": 512,
                  "synthsieve_version": "0.1.0", "error_rates": rates if rates is not None else RATES},
        "thresholds": thresholds or THRESHOLDS,
        "settings": {"batch_size": 32},
        "inputs": inputs if inputs is not None else [{"path": f, "size": 1000, "sha256": "s" * 64} for f in files],
        "counts": {"partitions": counts, "stages": {}, "quarantine_reasons": reasons, "documents": len(rows),
                   "tokens": sum(r["synthsieve"].get("n_tokens", 0) for r in rows if "raw" not in r)},
        "started_at": "2024-05-01T10:00:00+00:00", "finished_at": "2024-05-01T10:05:00+00:00", "status": status,
    }
    if list_shards:
        manifest["shards"] = shards
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def partition_of(row):
    return "quarantine" if "raw" in row else row["synthsieve"]["decision"]


# --- simulated corpora -----------------------------------------------------------------------------

# Stored-score distributions for simulated documents of machine and of human origin.
MACHINE_BETA, HUMAN_BETA = (6.0, 1.5), (1.2, 3.0)


def simulated_rows(n: int, machine_share: float, seed: int, languages=("en",), start: int = 0) -> tuple[list, int]:
    """Rows whose stored scores come from the simulated origin; returns rows and the machine count."""
    rng = np.random.default_rng(seed)
    machine = rng.random(n) < machine_share
    p = np.where(machine, rng.beta(*MACHINE_BETA, n), rng.beta(*HUMAN_BETA, n))
    rows = [scored_row(start + i, float(p[i]), language=languages[i % len(languages)],
                       n_tokens=int(rng.integers(60, 900))) for i in range(n)]
    return rows, int(machine.sum())


def measured_rates(seed: int, n_machine: int = 3000, n_human: int = 1500) -> dict:
    """Error rates as the model would store them: measured at `suspect` on a simulated dev set."""
    rng = np.random.default_rng(seed)
    t = THRESHOLDS["suspect"]
    return {"tpr": float((rng.beta(*MACHINE_BETA, n_machine) >= t).mean()),
            "fpr": float((rng.beta(*HUMAN_BETA, n_human) >= t).mean()), "n_machine": n_machine, "n_human": n_human}


# --- a varied output for the section checks --------------------------------------------------------

def varied_rows() -> list[dict]:
    rows, i = [], 0

    def add(count, **kw):
        nonlocal i
        for _ in range(count):
            rows.append(scored_row(i, **kw))
            i += 1

    # English bulk across two files and three length buckets.
    add(120, p=0.05, file="crawl-a.jsonl", n_tokens=300, date="2021-06-01T00:00:00Z", domain="news")
    add(60, p=0.5, file="crawl-a.jsonl", n_tokens=700, date="2023-02-01", domain="news")
    add(30, p=0.9, file="crawl-b.jsonl", n_tokens=1500, date="2023-03-01", domain="blogs")
    add(90, p=0.1, file="crawl-b.jsonl", n_tokens=120, domain="blogs")
    # German: below overwhelming, so uncertain (not judgeable); one overwhelming score is suspected.
    add(40, p=0.2, language="de", file="crawl-a.jsonl", n_tokens=400)
    add(1, p=0.999, language="de", file="crawl-a.jsonl", n_tokens=400)
    # Swahili: a tail the filter would remove wholesale (overwhelming scores).
    add(25, p=0.998, language="sw", file="crawl-b.jsonl", n_tokens=400)
    # Too short to judge.
    add(30, p=0.05, file="crawl-a.jsonl", n_tokens=20)
    # Rare languages, pooled into the long-tail bucket.
    for language in ("is", "mt", "ga"):
        add(3, p=0.05, language=language, file="crawl-b.jsonl", n_tokens=300)
    # URL hosts and an explicit source field take precedence over the file.
    add(15, p=0.05, file="crawl-a.jsonl", url="https://example.org/a/page.html")
    add(5, p=0.05, file="crawl-a.jsonl", url="https://example.org/a/page.html", source="Forum Archive")
    # A near-duplicate cluster of 12 (suspected) and one of 3.
    for k in range(12):
        rows.append(scored_row(i, p=0.95, cluster="big", cluster_size=12, file="crawl-b.jsonl",
                               text=f"Template page number {k}, repeated.\n\n  With   whitespace."))
        i += 1
    for k in range(3):
        rows.append(scored_row(i, p=0.2, cluster="small", cluster_size=3, file="crawl-a.jsonl",
                               text="short cluster text"))
        i += 1
    rows += [quarantine_row(900 + k, "invalid json") for k in range(4)]
    rows += [quarantine_row(950 + k, "empty text", file="crawl-b.jsonl") for k in range(2)]
    return rows


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    rows = varied_rows()
    out = write_output(tmp_path_factory.mktemp("varied") / "out", rows, shard_size=150)
    return rows, out, build_report([out], with_plots=False).data


def test_documents_section_counts_tokens_and_provenance(varied):
    rows, out, report = varied
    section = report["documents"]
    scored = [r for r in rows if "raw" not in r]
    assert section["documents"] == len(rows)
    assert section["scored"] == len(scored) and section["quarantined"] == 6
    assert section["tokens"] == sum(r["synthsieve"]["n_tokens"] for r in scored)
    assert section["decided_by"] == {"cheap": sum(r["synthsieve"]["decided_by"] == "cheap" for r in scored),
                                     "lm": sum(r["synthsieve"]["decided_by"] == "lm" for r in scored)}
    provenance = section["provenance"]
    assert provenance["model"]["model_hash"] == "m" * 64
    assert provenance["model"]["error_rates"] == RATES
    assert provenance["thresholds_hash"] == hashlib.sha256(
        json.dumps(THRESHOLDS, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert [i["path"] for i in provenance["inputs"]] == ["crawl-a.jsonl", "crawl-b.jsonl"]
    assert provenance["status"] == "complete" and section["warnings"] == []


def test_partitions_section_matches_what_was_written(varied):
    rows, _, report = varied
    section = report["partitions"]
    expected = {p: sum(partition_of(r) == p for r in rows) for p in PARTITIONS}
    assert section["counts"] == expected
    assert all(expected[p] > 0 for p in PARTITIONS)
    assert math.isclose(sum(section["shares"].values()), 1.0)
    assert section["shares"]["uncertain"] == pytest.approx(expected["uncertain"] / len(rows))
    assert section["quarantine_reasons"] == {"invalid json": 4, "empty text": 2}


def test_prevalence_section_is_rogan_gladen_at_the_measured_cutoff(varied):
    rows, _, report = varied
    section = report["prevalence"]
    scores = np.array([r["synthsieve"]["p_machine"] for r in rows if "raw" not in r])
    flagged = int((scores >= THRESHOLDS["suspect"]).sum())
    q = flagged / len(scores)
    assert section["flagged"] == flagged and section["n"] == len(scores)
    # German p=0.999 and Swahili are flagged both ways; nothing between suspect and overwhelming is
    # unjudgeable here, so the two counts agree.
    assert section["flagged_by_decision"] == sum(partition_of(r) == "suspected_synthetic" for r in rows)
    expected = min(max((q - RATES["fpr"]) / (RATES["tpr"] - RATES["fpr"]), 0), 1)
    assert section["estimate"] == pytest.approx(expected)
    assert section["ci_low"] < section["estimate"] < section["ci_high"]
    assert section["ci_high"] - section["ci_low"] < 0.2
    assert section["raw_flagged_share"] == pytest.approx(q)
    assert "95" in section["meaning"] and "development data" in section["meaning"]
    assert "Rogan" in section["method"] and "Jeffreys" in section["method"]


def bucket(section, key):
    matches = [b for b in section["buckets"] if b["key"] == key]
    assert len(matches) == 1, f"{key!r} not in {[b['key'] for b in section['buckets']]}"
    return matches[0]


def test_by_language_counts_shares_and_mean_score(varied):
    rows, _, report = varied
    section = report["by_language"]
    swahili = bucket(section, "sw")
    assert swahili["documents"] == 25 and swahili["shares"]["suspected_synthetic"] == 1.0
    assert swahili["mean_p_machine"] == pytest.approx(0.998)
    german = bucket(section, "de")
    assert german["partitions"]["uncertain"] == 40 and german["partitions"]["suspected_synthetic"] == 1
    english = [r for r in rows if "raw" not in r and r["synthsieve"]["language"] == "en"]
    assert bucket(section, "en")["mean_p_machine"] == pytest.approx(
        np.mean([r["synthsieve"]["p_machine"] for r in english]))
    assert bucket(section, "(unknown)")["partitions"]["quarantine"] == 6
    assert sum(b["documents"] for b in section["buckets"]) == len(rows)


def test_by_source_prefers_source_field_then_url_host_then_file(varied):
    _, _, report = varied
    section = report["by_source"]
    assert bucket(section, "example.org")["documents"] == 15
    assert bucket(section, "Forum Archive")["documents"] == 5
    assert bucket(section, "crawl-b.jsonl")["partitions"]["quarantine"] == 2
    assert sum(b["documents"] for b in section["buckets"]) == len(varied[0])


def test_by_domain_length_and_date(varied):
    rows, _, report = varied
    domain = report["by_domain"]
    assert domain["present"] and bucket(domain, "news")["documents"] == 180
    assert bucket(domain, "blogs")["documents"] == 120
    length = report["by_length"]
    assert length["edges"][0] == THRESHOLDS["min_tokens"]
    assert bucket(length, "< 50 tokens")["documents"] == 30
    assert "≥ 2000 tokens" not in [b["key"] for b in length["buckets"]]  # empty buckets are left out
    assert bucket(length, "1000–1999 tokens")["documents"] == 30
    dated = report["by_date"]
    assert dated["present"] and dated["cutoff"] == "2022-11-30"
    assert bucket(dated, "before 2022-11-30")["documents"] == 120
    assert bucket(dated, "on or after 2022-11-30")["documents"] == 90
    assert bucket(dated, "on or after 2022-11-30")["shares"]["suspected_synthetic"] == pytest.approx(30 / 90)
    assert bucket(dated, "undated")["documents"] == len(rows) - 210
    assert [y["key"] for y in dated["years"]] == ["2021", "2023", "undated"]


def test_sections_say_not_present_when_fields_are_absent(tmp_path):
    rows, _ = simulated_rows(50, 0.2, seed=3)
    report = build_report([write_output(tmp_path / "plain", rows)], with_plots=False).data
    assert report["by_domain"] == {"present": False, "field": "record `domain`", "buckets": []}
    assert report["by_date"]["present"] is False and report["by_date"]["buckets"] == []


def test_near_duplicate_clusters(varied):
    _, _, report = varied
    section = report["near_duplicate_clusters"]
    assert section["clusters"] == 2 and section["clustered_documents"] == 15
    assert section["clustered_share"] == pytest.approx(15 / report["documents"]["scored"])
    largest = section["largest"][0]
    assert largest["cluster_id"] == "big" and largest["size"] == 12
    assert largest["mean_p_machine"] == pytest.approx(0.95)
    assert largest["partitions"] == {"grounded": 0, "suspected_synthetic": 12, "uncertain": 0}
    assert largest["excerpt"] == "Template page number 0, repeated. With whitespace."
    assert section["largest"][1]["size"] == 3
    sizes = {r["size_range"]: r for r in section["size_distribution"]}
    assert sizes["3–4"]["clusters"] == 1 and sizes["10–49"]["documents"] == 12


def test_tail_audit_lists_over_removed_buckets_first(varied):
    _, _, report = varied
    audit = report["tail_audit"]
    rows = audit["rows"]
    overall = audit["overall_removed_share"]
    assert overall == pytest.approx(report["partitions"]["counts"]["suspected_synthetic"] / report["documents"]["scored"])
    warned = [r for r in rows if r["warning"]]
    assert warned and rows[: len(warned)] == warned, "warnings must come first"
    assert audit["n_warnings"] == len(warned)
    assert all(r["removed_share"] > 2 * overall and r["documents"] >= audit["min_documents"] for r in warned)
    swahili = next(r for r in rows if r["dimension"] == "language" and r["bucket"] == "sw")
    assert swahili["warning"] and swahili["removed_share"] == 1.0 and swahili["ratio"] == pytest.approx(1 / overall)
    assert swahili["removed_ci"][0] > 2 * overall
    german = next(r for r in rows if r["dimension"] == "language" and r["bucket"] == "de")
    assert not german["warning"] and german["uncertain_share"] == pytest.approx(40 / 41)
    tail = next(r for r in rows if r["dimension"] == "language" and r["pooled_values"])
    assert tail["pooled_values"] == 3 and tail["documents"] == 9 and not tail["warning"]
    lengths = {r["bucket"] for r in rows if r["dimension"] == "length"}
    assert "< 50 tokens" in lengths and "1000–1999 tokens" in lengths
    assert {r["dimension"] for r in rows} == {"language", "source", "length", "domain"}
    english = next(r for r in rows if r["dimension"] == "language" and r["bucket"] == "en")
    assert not english["warning"]


def test_summary_names_the_estimate_and_the_tail_warning(varied):
    _, _, report = varied
    summary = report["summary"]
    assert "Estimated machine-generated share" in summary["headline"]
    assert any("“sw”" in line for line in summary["look_at"])
    assert any("de" in line and "uncertain" in line for line in summary["look_at"])


def test_parquet_shards_give_the_same_report(tmp_path, varied):
    rows, _, jsonl_report = varied
    out = write_output(tmp_path / "pq", [r for r in rows if "raw" not in r] + [quarantine_row(1, "x")],
                       fmt="parquet")
    report = build_report([out], with_plots=False).data
    english = report["by_language"]["buckets"][0]
    expected = dict(next(b for b in jsonl_report["by_language"]["buckets"] if b["key"] == "en"))
    assert english["mean_p_machine"] == pytest.approx(expected.pop("mean_p_machine"))
    assert {k: v for k, v in english.items() if k != "mean_p_machine"} == expected
    assert report["partitions"]["counts"]["suspected_synthetic"] == jsonl_report["partitions"]["counts"][
        "suspected_synthetic"]


def test_reads_only_shards_the_manifest_lists(tmp_path):
    rows, _ = simulated_rows(300, 0.3, seed=5)
    out = write_output(tmp_path / "out", rows, shard_size=100)
    manifest = json.loads((out / "manifest.json").read_text())
    unfinished = manifest["shards"].pop(1)  # as if shard 00001 had not completed
    (out / "manifest.json").write_text(json.dumps(manifest))
    unread = sum(f["rows"] for f in unfinished["files"])
    assert unread == 100
    run = load_run(out)
    assert run.n == 200
    assert any("not listed as complete" in w and "part-00001" in w for w in run.warnings)


def test_a_flat_list_of_shard_files_is_understood(tmp_path):
    rows, _ = simulated_rows(300, 0.3, seed=5)
    out = write_output(tmp_path / "out", rows, shard_size=100)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = [f["path"] for shard in manifest["shards"] for f in shard["files"]][1:]
    (out / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(out)
    assert 200 < run.n < 300 and len(run.warnings) == 1


def test_truncated_shard_in_a_running_output_keeps_earlier_rows(tmp_path):
    rows, _ = simulated_rows(200, 0.0, seed=6)
    for i, row in enumerate(rows):  # long enough for several zstd blocks, so a cut leaves whole ones
        row["text"] = " ".join(f"placeholder {i} {k} {k * i % 97}" for k in range(150))
    out = write_output(tmp_path / "out", rows, list_shards=False, status="running", shard_size=1000)
    shard = out / "grounded" / "part-00000.jsonl.zst"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) * 2 // 3])
    run = load_run(out)
    assert 0 < (run.partition == "grounded").sum() < sum(partition_of(r) == "grounded" for r in rows)
    assert any("not 'complete'" in w for w in run.warnings)
    assert any("could not be read to the end" in w for w in run.warnings)


def test_refuses_a_directory_without_manifest(tmp_path):
    (tmp_path / "grounded").mkdir()
    with pytest.raises(ReportInputError, match="no manifest.json"):
        load_run(tmp_path)
    result = CliRunner().invoke(report_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert "no manifest.json" in result.output and "Traceback" not in result.output


def test_command_writes_three_files_and_prints_json(tmp_path):
    rows, _ = simulated_rows(120, 0.25, seed=7)
    out = write_output(tmp_path / "out", rows)
    result = CliRunner().invoke(report_command, [str(out), "--json"])
    assert result.exit_code == 0, result.output
    written = out / "report"
    for name in ("index.html", "report.md", "report.json"):
        assert (written / name).stat().st_size > 1000
    printed = json.loads(result.stdout)
    assert printed == json.loads((written / "report.json").read_text())
    for key in ("documents", "partitions", "prevalence", "by_language", "by_source", "by_domain", "by_length",
                "by_date", "near_duplicate_clusters", "tail_audit", "summary"):
        assert key in printed
    markdown = (written / "report.md").read_text()
    for heading in ("## Summary", "## Documents", "## Partitions", "## Prevalence", "## By language",
                    "## By source", "## By domain", "## By length", "## By date", "## Near-duplicate clusters",
                    "## Tail audit"):
        assert heading in markdown
    assert (written / "plots" / "score_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_reads_like_a_manual_page():
    result = CliRunner().invoke(report_command, ["--help"])
    assert result.exit_code == 0
    for heading in ("DESCRIPTION", "FILES", "SECTIONS", "EXIT STATUS", "EXAMPLES", "--out DIR", "--json"):
        assert heading in result.output


# --- hostile input -------------------------------------------------------------------------------

SCRIPT = "<script>alert('xss')</script>"
IMG = '"><img src=x onerror=alert(1)>'


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_hostile_text_fields_and_file_names_are_escaped(tmp_path):
    hostile_file = f"crawl{IMG}{SCRIPT}.jsonl"
    rows = [scored_row(i, 0.95, text=f"{SCRIPT} body {IMG}", cluster="evil", cluster_size=3, file=hostile_file,
                       language=f"en{IMG}", domain=SCRIPT, url=f"https://x.test/{IMG}", source=f"src{SCRIPT}")
            for i in range(3)]
    rows += [quarantine_row(10, f"bad {SCRIPT}", file=hostile_file)]
    rows += simulated_rows(40, 0.2, seed=9, start=100)[0]
    # The output directory's own name is shown as the run's label (a file name cannot hold "/").
    hostile_dir = f"run{IMG}<script>alert(2)"
    out = write_output(tmp_path / hostile_dir, rows, inputs=[{"path": hostile_file, "size": 1, "sha256": IMG}])
    report = build_report([out])
    assert report.data["near_duplicate_clusters"]["largest"][0]["excerpt"].startswith(SCRIPT)
    paths = write_report(report, tmp_path / "report")
    page = paths["html"].read_text()
    collector = TagCollector()
    collector.feed(page)
    names = [tag for tag, _ in collector.tags]
    assert "script" not in names and "iframe" not in names and "link" not in names
    images = [attrs for tag, attrs in collector.tags if tag == "img"]
    assert len(images) >= 4
    assert all(attrs["src"].startswith("data:image/png;base64,") for attrs in images)
    for tag, attrs in collector.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("src", "href", "action"):
            assert not str(attrs.get(name, "")).startswith(("http:", "https:", "//")), (tag, attrs)
    # The hostile strings are shown, as text.
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "run&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)" in page  # the label
    assert "<script" not in page.lower() and "<img src=x" not in page
    markdown = paths["markdown"].read_text()
    assert "<script" not in markdown.lower() and "<img" not in markdown.lower()
    assert "&lt;script&gt;" in markdown
    json.loads(paths["json"].read_text())


# --- comparison of several runs ------------------------------------------------------------------

def test_multi_run_comparison_and_trend(tmp_path):
    rates = measured_rates(seed=11)
    early_rows, _ = simulated_rows(1500, 0.10, seed=12, languages=("en", "en", "fr"))
    late_rows, _ = simulated_rows(1500, 0.40, seed=13, languages=("en", "en", "fr"))
    again_rows, _ = simulated_rows(1500, 0.40, seed=14, languages=("en", "en", "fr"))
    early = write_output(tmp_path / "2023" / "out", early_rows, rates=rates)
    late = write_output(tmp_path / "2024" / "out", late_rows, rates=rates)
    again = write_output(tmp_path / "2025" / "out", again_rows, rates=rates)
    report = build_report([early, late, again])
    comparison = report.data["comparison"]
    assert report.labels == ["2023/out", "2024/out", "2025/out"]
    assert [r["label"] for r in comparison["runs"]] == report.labels
    assert comparison["same_detector"] and comparison["shared_error_rate_uncertainty"]
    assert [r["documents"] for r in comparison["runs"]] == [1500, 1500, 1500]
    first, second = comparison["trend"]
    assert (first["from"], first["to"]) == ("2023/out", "2024/out")
    rise = first["delta_prevalence"]
    assert rise["excludes_zero"] and rise["ci_low"] > 0.2 and rise["ci_low"] < 0.3 < rise["ci_high"]
    assert rise["estimate"] == pytest.approx(comparison["runs"][1]["prevalence"]["estimate"]
                                             - comparison["runs"][0]["prevalence"]["estimate"])
    assert not second["delta_prevalence"]["excludes_zero"]
    assert first["delta_shares"]["suspected_synthetic"] > 0
    french = next(row for row in comparison["by_language"] if row["language"] == "fr")
    assert [r["documents"] for r in french["runs"]] == [500, 500, 500]
    # Every run is described in full; the first at the top level.
    assert [o["label"] for o in report.data["other_runs"]] == ["2024/out", "2025/out"]
    assert report.data["other_runs"][0]["sections"]["documents"]["documents"] == 1500
    assert any("2023/out → 2024/out" in line and "a real change" in line for line in report.data["summary"]["trend"])
    assert [p.name for p in report.comparison_plots] == ["trend"]
    paths = write_report(report, tmp_path / "report")
    page = paths["html"].read_text()
    assert "Comparison between runs" in page and page.count("<details>") >= 3
    assert (tmp_path / "report" / "plots" / "run3" / "score_histogram.png").exists()


def test_comparison_warns_when_the_detector_changed(tmp_path):
    rows, _ = simulated_rows(200, 0.2, seed=15)
    one = write_output(tmp_path / "a" / "out", rows, model_hash="1" * 64)
    two = write_output(tmp_path / "b" / "out", rows, model_hash="2" * 64)
    comparison = build_report([one, two], with_plots=False).data["comparison"]
    assert not comparison["same_detector"] and not comparison["shared_error_rate_uncertainty"]
    assert comparison["warnings"] and "different models" in comparison["warnings"][0]


# --- prevalence on a whole report ----------------------------------------------------------------

def test_report_interval_covers_a_known_share_that_the_raw_share_misses(tmp_path):
    rates = measured_rates(seed=21)
    rows, machine = simulated_rows(4000, 0.3, seed=22)
    report = build_report([write_output(tmp_path / "out", rows, rates=rates)], with_plots=False).data
    prevalence = report["prevalence"]
    true_share = machine / len(rows)
    assert prevalence["ci_low"] <= true_share <= prevalence["ci_high"]
    assert abs(prevalence["raw_flagged_share"] - true_share) > 0.05  # what the correction is for


def test_without_error_rates_only_the_raw_share_is_reported(tmp_path):
    rows, _ = simulated_rows(100, 0.2, seed=23)
    report = build_report([write_output(tmp_path / "out", rows, rates={})], with_plots=False).data
    prevalence = report["prevalence"]
    assert prevalence["estimate"] is None and prevalence["ci_low"] is None
    assert prevalence["raw_flagged_share"] == pytest.approx(prevalence["flagged"] / 100)
    assert "no error rates" in prevalence["warnings"][0]
    assert report["summary"]["headline"].startswith("Flagged share") and "not corrected" in report["summary"]["headline"]


def test_unjudgeable_documents_count_as_flagged_at_the_measured_cutoff(tmp_path):
    rows = [scored_row(i, 0.9, language="de") for i in range(30)] + [scored_row(100 + i, 0.05) for i in range(70)]
    report = build_report([write_output(tmp_path / "out", rows)], with_plots=False).data
    prevalence = report["prevalence"]
    assert report["partitions"]["counts"]["uncertain"] == 30  # German scores below `overwhelming`
    assert prevalence["flagged_by_decision"] == 0 and prevalence["flagged"] == 30
    assert prevalence["not_judgeable"] == 30
    assert any("stricter `overwhelming`" in note for note in prevalence["notes"])


# --- what the filter really writes ---------------------------------------------------------------

def test_report_reads_a_real_filter_run(tmp_path):
    """The filter itself (with the plumbing-test stand-in detector) writes the output the report reads."""
    from tests.helpers.fake_detector import FakeDetectorLoader
    from filters.executor.run import run_filter
    from filters.executor.settings import FilterSettings

    source = tmp_path / "crawl.jsonl"
    lines = [json.dumps({"id": f"r{i}", "text": f"placeholder record {i} " * (5 + i % 30),
                         "url": f"https://host{i % 3}.example/{i}", "date": "2021-01-01" if i % 2 else "2024-01-01"})
             for i in range(120)]
    lines.insert(7, "{broken json")
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    run_filter([str(source)], str(out), FilterSettings(shard_size=40, batch_size=8),
               detector_loader=FakeDetectorLoader(), workers=1)
    report = build_report([out], with_plots=False).data
    manifest = json.loads((out / "manifest.json").read_text())
    assert report["documents"]["warnings"] == []
    assert report["documents"]["documents"] == manifest["counts"]["documents"] == 121
    assert report["partitions"]["counts"] == manifest["counts"]["partitions"]
    assert report["partitions"]["quarantine_reasons"] == manifest["counts"]["quarantine_reasons"]
    assert report["documents"]["tokens"] == manifest["counts"]["tokens"]
    assert report["documents"]["decided_by"] == {k: v for k, v in manifest["counts"]["stages"].items() if v}
    assert {b["key"] for b in report["by_source"]["buckets"]} == {"host0.example", "host1.example",
                                                                 "host2.example", str(source)}
    assert [b["documents"] for b in report["by_date"]["buckets"]] == [60, 60, 1]
    # The stand-in detector stores no error rates: no correction, and the report says so.
    assert report["prevalence"]["estimate"] is None and "no error rates" in report["prevalence"]["warnings"][0]
    assert report["prevalence"]["flagged"] == report["partitions"]["counts"]["suspected_synthetic"]


# --- speed ---------------------------------------------------------------------------------------

def test_five_thousand_documents_report_in_seconds(tmp_path):
    rng = np.random.default_rng(31)
    rows, _ = simulated_rows(5000, 0.2, seed=31, languages=("en", "en", "en", "de", "fr", "es"))
    filler = "placeholder sentence for the size of a crawled page. " * 40
    for i, row in enumerate(rows):
        row["text"] = filler
        row["url"] = f"https://site{rng.integers(0, 300)}.example/p/{i}"
        row["synthsieve"]["cluster_id"] = f"c-{i // 4}" if i < 800 else f"c-{i}"
        row["synthsieve"]["cluster_size"] = 4 if i < 800 else 1
    out = write_output(tmp_path / "out", rows)
    started = time.perf_counter()
    report = build_report([out])
    write_report(report, tmp_path / "report")
    elapsed = time.perf_counter() - started
    assert report.data["documents"]["documents"] == 5000
    assert report.data["near_duplicate_clusters"]["clusters"] == 200
    assert elapsed < 10, f"report over 5,000 documents took {elapsed:.1f} s"


# --- the page in a real browser ------------------------------------------------------------------

def screenshot_colours(png: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)


def pixels_near(pixels: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - target).max(axis=1) <= tolerance).sum())


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium "
                    "(apt-get install -y chromium) to render the page in a real headless browser")
@pytest.mark.timeout(120)
def test_page_renders_with_visible_plots_in_headless_chromium(tmp_path):
    from filters.report.screenshot import screenshot

    rows, _ = simulated_rows(800, 0.3, seed=41, languages=("en", "en", "de"))
    out = write_output(tmp_path / "out", rows)
    paths = write_report(build_report([out]), tmp_path / "report")
    png = screenshot(paths["html"], tmp_path / "shot.png", profile_dir=tmp_path / "profile")
    pixels = screenshot_colours(png)
    assert len(pixels) >= 1280 * 2000
    assert len(np.unique(pixels[::7], axis=0)) > 200, "screenshot looks blank"
    # Plot colours appear on the page only inside the PNG plots, so seeing them means the plots rendered.
    for partition in ("grounded", "suspected_synthetic", "uncertain"):
        assert pixels_near(pixels, COLOURS[partition]) > 3000, f"no {partition} colour: plots not visible"
    # The baseline: the same page with its images removed shows none of it.
    bare = paths["html"].read_text().replace("data:image/png;base64,", "data:,")
    bare_path = paths["html"].with_name("bare.html")
    bare_path.write_text(bare)
    bare_pixels = screenshot_colours(screenshot(bare_path, tmp_path / "bare.png", profile_dir=tmp_path / "p2"))
    assert pixels_near(bare_pixels, COLOURS["suspected_synthetic"]) < 50
