"""The `synthsieve` console script: the detector's group plus the corpus commands."""

from detector.cli import cli
from filters.filter_command import filter_command, rethreshold_command
from filters.report.command import report_command

cli.add_command(filter_command)
cli.add_command(rethreshold_command)
cli.add_command(report_command)


def main():
    cli()
