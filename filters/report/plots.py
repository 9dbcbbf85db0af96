"""The report's figures as PNG bytes (matplotlib's Agg canvas: no display, no pyplot global state)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from filters.document import GROUNDED, PARTITIONS, QUARANTINE, SCORED_PARTITIONS, SUSPECTED, UNCERTAIN
from filters.report.load import RunData

# Colour-blind-safe (Dark2). The browser test looks for these in the screenshot, so the page's CSS
# must not use them: their presence then proves the images rendered.
COLOURS = {GROUNDED: "#1b9e77", SUSPECTED: "#d95f02", UNCERTAIN: "#7570b3", QUARANTINE: "#999999"}
TOP_BARS = 15
LABEL_CHARS = 38


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    png: bytes


def safe_label(text: str, limit: int = LABEL_CHARS) -> str:
    """Crawled strings as tick labels: `$` would start mathtext (and can raise), so it is escaped."""
    text = str(text).replace("\n", " ")
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def to_png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def empty(ax, message: str):
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([]), ax.set_yticks([])


def score_histogram(run: RunData, thresholds: dict) -> Plot:
    figure = Figure(figsize=(8.5, 3.6))
    ax = figure.add_subplot()
    scored = run.scored & ~np.isnan(run.p_machine)
    groups = [run.p_machine[scored & (run.partition == p)] for p in SCORED_PARTITIONS]
    if scored.any():
        ax.hist(groups, bins=np.linspace(0, 1, 41), stacked=True, color=[COLOURS[p] for p in SCORED_PARTITIONS],
                label=[f"{p} ({len(g):,})" for p, g in zip(SCORED_PARTITIONS, groups)])
        for key, style in (("ground", ":"), ("suspect", "--")):
            if isinstance(thresholds.get(key), (int, float)):
                ax.axvline(thresholds[key], color="#222222", linestyle=style, linewidth=1,
                           label=f"{key} threshold {thresholds[key]:g}")
        ax.legend(fontsize=8, frameon=False)
        ax.set_xlim(0, 1)
    else:
        empty(ax, "no scored documents")
    ax.set_xlabel("p_machine (stored score)")
    ax.set_ylabel("documents")
    ax.spines[["top", "right"]].set_visible(False)
    return Plot("score_histogram", "Score distribution by partition", to_png(figure))


def partition_shares(buckets: list[dict], name: str, title: str) -> Plot:
    shown = buckets[:TOP_BARS]
    figure = Figure(figsize=(8.5, 0.9 + 0.32 * max(len(shown), 2)))
    ax = figure.add_subplot()
    if not shown:
        empty(ax, "nothing to show")
    else:
        y = np.arange(len(shown))[::-1]
        left = np.zeros(len(shown))
        for partition in PARTITIONS:
            shares = np.array([b["shares"][partition] or 0.0 for b in shown])
            ax.barh(y, shares, left=left, color=COLOURS[partition], label=partition, height=0.75)
            left += shares
        ax.set_yticks(y, [f"{safe_label(b['key'])} ({b['documents']:,})" for b in shown], fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of documents")
        ax.legend(fontsize=8, frameon=False, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return Plot(name, title, to_png(figure))


def cluster_sizes(section: dict) -> Plot:
    figure = Figure(figsize=(8.5, 3.2))
    ax = figure.add_subplot()
    rows = section["size_distribution"]
    if not section["clusters"]:
        empty(ax, "no near-duplicate clusters with two or more members")
    else:
        x = np.arange(len(rows))
        bars = ax.bar(x, [r["clusters"] for r in rows], color="#666666")
        for bar, row in zip(bars, rows):
            if row["clusters"]:
                ax.annotate(f"{row['documents']:,} docs", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, [r["size_range"] for r in rows])
        ax.set_xlabel("cluster size (documents)")
        ax.set_ylabel("clusters")
        counts = [r["clusters"] for r in rows]
        if max(counts) > 50:  # a few huge clusters beside many pairs: only a log axis shows both
            ax.set_yscale("log")
        else:
            ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    return Plot("cluster_sizes", "Near-duplicate cluster sizes", to_png(figure))


def trend(headlines: list[dict]) -> Plot:
    figure = Figure(figsize=(8.5, 3.6))
    ax = figure.add_subplot()
    x = np.arange(len(headlines))
    for partition in (SUSPECTED, UNCERTAIN):
        ax.plot(x, [h["shares"][partition] or 0.0 for h in headlines], marker="o", color=COLOURS[partition],
                label=f"{partition} share")
    estimates = [h["prevalence"]["estimate"] for h in headlines]
    if all(e is not None for e in estimates):
        low = [e - h["prevalence"]["ci_low"] for e, h in zip(estimates, headlines)]
        high = [h["prevalence"]["ci_high"] - e for e, h in zip(estimates, headlines)]
        ax.errorbar(x, estimates, yerr=[low, high], color="#222222", marker="s", capsize=4,
                    label="estimated machine share (95% interval)")
    ax.set_xticks(x, [safe_label(h["label"], 24) for h in headlines], fontsize=8)
    ax.set_ylabel("share")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return Plot("trend", "Trend across runs", to_png(figure))


def run_plots(run: RunData, sections: dict) -> list[Plot]:
    thresholds = sections["documents"]["provenance"]["thresholds"]
    return [
        score_histogram(run, thresholds),
        partition_shares(sections["by_language"]["buckets"], "shares_by_language", "Partition shares by language"),
        partition_shares(sections["by_source"]["buckets"], "shares_by_source", "Partition shares by source"),
        cluster_sizes(sections["near_duplicate_clusters"]),
    ]
