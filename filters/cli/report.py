"""`synthsieve report`: the contamination report of one or more filter runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from filters.report.build import build_report
from filters.report.load import ReportInputError
from filters.report.write import report_json, write_report


@click.command("report")
@click.argument("outs", metavar="OUT [OUT2 ...]", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "report_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the report to.  [default: OUT/report]")
@click.option("--json", "as_json", is_flag=True,
              help="Also print report.json to standard output (progress goes to standard error).")
def report_command(outs: tuple[Path, ...], report_dir: Path | None, as_json: bool):
    """Write a corpus contamination report for the output of `synthsieve filter`.

    \b
    DESCRIPTION
      Reads OUT/manifest.json and the shards under OUT/<partition>/ (only those
      the manifest lists as complete) and reports how much of the corpus is
      likely machine-generated, where it sits, and what filtering would cost
      the tails of the distribution. It reads the stored scores and never
      rescores text: a 5,000-document run takes seconds.

    \b
      With several output directories (for example successive crawl
      snapshots, given oldest first) it adds a side-by-side comparison and the
      trend between them; OUT is described in full, the others in collapsed
      sections.

    \b
    FILES
      DIR/index.html   one self-contained page (inline CSS, plots as base64
                       PNG, no scripts, no remote resources); opens offline
      DIR/report.md    the same content as Markdown, plots in DIR/plots/
      DIR/report.json  every number, for machines (schema synthsieve.report/1)

    \b
    SECTIONS
      documents                totals, tokens, provenance (versions, model and
                               threshold hashes, inputs)
      partitions               grounded / suspected_synthetic / uncertain /
                               quarantine counts and shares; quarantine reasons
      prevalence               machine-generated share corrected for the
                               detector's measured TPR/FPR, with a 95% interval
      by_language, by_source, by_domain, by_length, by_date
                               counts, partition shares, mean score per bucket
      near_duplicate_clusters  the largest MinHash clusters and their mix
      tail_audit               buckets the filter would remove at more than
                               twice the overall rate, listed first

    \b
    EXIT STATUS
      0 on success; 1 when an OUT has no manifest.json or cannot be read;
      2 on a usage error.

    \b
    EXAMPLES
      synthsieve report out/
      synthsieve report crawl-2023/ crawl-2024/ --out reports/trend
      synthsieve report out/ --json | jq .prevalence
    """
    started = time.perf_counter()
    try:
        report = build_report(outs)
    except ReportInputError as error:
        raise click.ClickException(str(error)) from error
    target = report_dir or outs[0] / "report"
    paths = write_report(report, target)
    if as_json:
        sys.stdout.write(report_json(report))
    echo = (lambda msg: click.echo(msg, err=True)) if as_json else click.echo
    echo(f"report of {len(outs)} run(s) written in {time.perf_counter() - started:.1f} s:")
    for path in paths.values():
        echo(f"  {path}")
    echo(report.data["summary"]["headline"])
