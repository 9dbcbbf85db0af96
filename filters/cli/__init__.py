"""The `synthsieve` command line: the only code that imports click, and its one group.

Each command lives in its own module and is registered here: `score` and `eval` (score.py), `filter`
and `rethreshold` (filter.py), `report` (report.py). Options several commands share are declared once
in options.py.
"""

from __future__ import annotations

import click

from detector import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="synthsieve")
def cli():
    """synthsieve: find machine-generated text in crawled corpora, with the evidence attached.

    Every decision carries its score, the features that drove it, the model id and hash and the
    thresholds. Decisions are grounded (likely human), suspected_synthetic (likely machine-made) or
    uncertain (the detector cannot tell, e.g. non-English or very short text).
    """


def _register() -> None:
    from filters.cli.filter import filter_command, rethreshold_command
    from filters.cli.report import report_command
    from filters.cli.score import eval_command, score_command

    for command in (score_command, eval_command, filter_command, rethreshold_command, report_command):
        cli.add_command(command)


_register()


def main():
    cli()
