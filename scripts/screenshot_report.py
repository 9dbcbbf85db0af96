"""Screenshot of a real report for the README: docs/report-screenshot.png.

    .venv/bin/python scripts/screenshot_report.py OUT [OUT2 ...] [--png docs/report-screenshot.png]

OUT is the output directory of a real `synthsieve filter` run (the README image must show a real
report, not a simulated one). Writes the report to OUT/report (or --report-dir) and renders its
index.html in headless Chromium (Debian: apt-get install -y chromium).
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from filters.report import build_report, write_report
from filters.report.screenshot import WINDOW, screenshot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outs", nargs="+", type=Path, metavar="OUT")
    parser.add_argument("--report-dir", type=Path, help="where to write the report (default OUT/report)")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "report-screenshot.png")
    parser.add_argument("--height", type=int, default=WINDOW[1], help="window height in pixels")
    args = parser.parse_args(argv)
    paths = write_report(build_report(args.outs), args.report_dir or args.outs[0] / "report")
    args.png.parent.mkdir(parents=True, exist_ok=True)
    screenshot(paths["html"], args.png, window=(WINDOW[0], args.height))
    print(f"{args.png} from {paths['html']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
