"""`python -m filters.report OUT ...`: the report command without the rest of the CLI."""

from .command import report_command

report_command(prog_name="python -m filters.report")
