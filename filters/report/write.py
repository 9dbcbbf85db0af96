"""Writing the three report files (and the plots beside report.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from filters.report.build import Report
from filters.report.fmt import INVISIBLE
from filters.report.render_html import render_html
from filters.report.render_markdown import render_markdown


def json_ready(value):
    """Rounded floats and null for NaN/inf, so report.json is strict JSON and diffs stay readable."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar that slipped through
        return json_ready(value.item())
    return value


def _json_escape(match) -> str:
    return json.dumps(match.group(0))[1:-1]  # \u202e; a surrogate pair beyond the BMP


def report_json(report: Report) -> str:
    """The data as JSON. The characters that `fmt.visible` writes out in the pages (bidi overrides and the
    like) are written as JSON escapes here: the values read back unchanged, but the file shows none raw."""
    text = json.dumps(json_ready(report.data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return INVISIBLE.sub(_json_escape, text)


def write_report(report: Report, directory) -> dict[str, Path]:
    directory = Path(directory)
    plot_dir = directory / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    for index, plots in enumerate(report.run_plots):
        target = plot_dir if index == 0 else plot_dir / f"run{index + 1}"
        target.mkdir(exist_ok=True)
        for plot in plots:
            (target / f"{plot.name}.png").write_bytes(plot.png)
    for plot in report.comparison_plots:
        (plot_dir / f"{plot.name}.png").write_bytes(plot.png)
    paths = {"html": directory / "index.html", "markdown": directory / "report.md", "json": directory / "report.json"}
    paths["html"].write_text(render_html(report), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report, with_plots=bool(report.run_plots)), encoding="utf-8")
    paths["json"].write_text(report_json(report), encoding="utf-8")
    return paths
