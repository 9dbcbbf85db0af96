"""Corpus contamination report over the output directory of `synthsieve filter`.

    from filters.report import build_report, write_report
    write_report(build_report(["out/"]), "out/report")

The command is `filters.cli.report.report_command` (`synthsieve report`).
"""

from filters.report.build import Report, build_report
from filters.report.load import ReportInputError, load_run
from filters.report.write import report_json, write_report

__all__ = ["Report", "ReportInputError", "build_report", "load_run", "report_json", "write_report"]
