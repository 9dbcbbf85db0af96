"""Number formatting shared by the HTML and Markdown renderers (plain strings; escaping is theirs)."""

from __future__ import annotations


def pct(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if 0 < value < 10 ** -(digits + 2):
        return f"<{10 ** -digits:.{digits}f}%"
    return f"{value:.{digits}%}"


def num(value) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.0f}"


def score(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def ratio(value) -> str:
    return "–" if value is None else f"{value:.1f}×"


def interval(low, high) -> str:
    return "–" if low is None or high is None else f"{pct(low)} – {pct(high)}"


def signed_pct(value) -> str:
    return "–" if value is None else f"{value * 100:+.1f} pp"
