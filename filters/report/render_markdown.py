"""The report as Markdown (report.md), with the plots as files beside it.

Every value is escaped by `m()`: invisible controls (bidi overrides, terminal escapes) are written out
visibly by `fmt.visible`, then it is HTML-escaped (many Markdown viewers pass raw HTML through),
then the punctuation that builds links, images, code and table cells is backslash-escaped, so crawled
text cannot form any of them. Values are always inline (after a bullet or a cell border), so
line-start syntax (#, +, -, >) cannot trigger and is left alone for readability.
"""

from __future__ import annotations

import html
import json
import re

from filters.report import fmt
from filters.report.build import Report
from filters.document import PARTITIONS, SCORED_PARTITIONS, SUSPECTED

_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|])|(?<!\w)_|_(?!\w)")


def m(value) -> str:
    text = fmt.visible("" if value is None else str(value))
    text = re.sub(r"\s+", " ", html.escape(text, quote=False)).strip()
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(0), text)


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(m(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(m(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def bullets(lines: list[str]) -> str:
    return "".join(f"- {m(line)}\n" for line in lines)


def image(plot_name: str, title: str, plot_dir: str = "plots") -> str:
    return f"![{m(title)}]({plot_dir}/{plot_name}.png)\n"


def shares(bucket: dict) -> list[str]:
    return [fmt.pct(bucket["shares"][p]) for p in PARTITIONS]


def breakdown_md(title: str, section: dict, plot: str | None = None, plot_dir: str = "plots") -> str:
    out = f"## {title}\n\n"
    if not section["present"] or not section["buckets"]:
        return out + f"Not present: no document carries {m(section['field'])}.\n\n"
    if plot:
        out += image(plot, title, plot_dir) + "\n"
    rows = [[b["key"], fmt.num(b["documents"]), fmt.num(b["tokens"]), *shares(b), fmt.score(b["mean_p_machine"])]
            for b in section["buckets"]]
    return out + f"Grouped by {m(section['field'])}.\n\n" + table(
        ["value", "documents", "tokens", *PARTITIONS, "mean p_machine"], rows) + "\n"


def methods_md(prev: dict) -> str:
    """Every estimate side by side, the headline first, and what the components were."""
    lines = table(["method", "estimate", "95% interval", "how"], fmt.method_rows(prev)) + "\n"
    if prev.get("components"):
        lines += table(["component", "from", "scores"], fmt.component_rows(prev)) + "\n"
    return lines


def calibration_md(calibration: dict | None) -> str:
    if not calibration:
        return ""
    headers, thresholds, facts = fmt.calibration_rows(calibration)
    return ("### Calibration on the crawl's human reference\n\n" + table(headers, thresholds)
            + "\n" + table(["", ""], facts) + "\n")


def run_md(sections: dict, plot_dir: str = "plots", with_plots: bool = True) -> str:
    d, p, prev = sections["documents"], sections["partitions"], sections["prevalence"]
    prov = d["provenance"]
    model = prov["model"] or {}
    img = (lambda name, title: image(name, title, plot_dir)) if with_plots else (lambda name, title: "")
    out = ["## Documents\n\n", table(["", ""], [
        ["documents", fmt.num(d["documents"])], ["scored", fmt.num(d["scored"])],
        ["quarantined", fmt.num(d["quarantined"])], ["tokens", fmt.num(d["tokens"])],
        ["decided by", ", ".join(f"{k}: {v:,}" for k, v in d["decided_by"].items()) or "–"],
        ["output directory", prov["path"]], ["synthsieve version", prov["synthsieve_version"]],
        ["run status", prov["status"]], ["started / finished", f"{prov['started_at']} / {prov['finished_at']}"],
        ["model", model.get("model_id")], ["model hash", model.get("model_hash")],
        ["reference model", f"{model.get('reference_model_id')} ({model.get('reference_model_hash')})"],
        ["error rates", json.dumps(model.get("error_rates"), sort_keys=True)],
        ["thresholds", json.dumps(prov["thresholds"], sort_keys=True)], ["thresholds hash", prov["thresholds_hash"]],
    ]), "\n", table(["input", "bytes", "sha256"],
                    [[i.get("path"), fmt.num(i.get("size")), i.get("sha256")] for i in prov["inputs"]]),
        "\n", bullets(d["warnings"]), "\n## Partitions\n\n", img("score_histogram", "Score distribution by partition"),
        "\n", table(["partition", "documents", "share"],
                    [[n, fmt.num(p["counts"][n]), fmt.pct(p["shares"][n])] for n in PARTITIONS]), "\n"]
    if p["quarantine_reasons"]:
        out += ["Quarantine reasons:\n\n", table(["reason", "documents"],
                                                 [[k, fmt.num(v)] for k, v in p["quarantine_reasons"].items()]), "\n"]
    out += ["## Prevalence\n\n"]
    if prev["estimate"] is not None:
        out.append(f"**Estimated machine-generated share: {m(fmt.pct(prev['estimate']))}**, 95% interval "
                   f"{m(fmt.interval(prev['ci_low'], prev['ci_high']))} (raw flagged share "
                   f"{m(fmt.pct(prev['raw_flagged_share']))}).\n\n")
    else:
        out.append(f"**Raw flagged share: {m(fmt.pct(prev['raw_flagged_share']))}** (not corrected).\n\n")
    out += [m(prev["meaning"]), "\n\n", bullets(prev["warnings"] + prev["notes"]), "\n",
            methods_md(prev), calibration_md(prov.get("calibration")),
            table(["", ""], fmt.prevalence_fact_rows(prev)), "\n"]
    out.append(breakdown_md("By language", sections["by_language"], "shares_by_language" if with_plots else None,
                            plot_dir))
    out.append(breakdown_md("By source", sections["by_source"], "shares_by_source" if with_plots else None, plot_dir))
    out.append(breakdown_md("By domain", sections["by_domain"]))
    out.append(breakdown_md("By length", sections["by_length"]))
    date = sections["by_date"]
    out.append(breakdown_md("By date", date))
    if date["present"]:
        out.append(f"Cut-off {m(date['cutoff'])}: {m(date['cutoff_meaning'])}.\n\n")
    c = sections["near_duplicate_clusters"]
    out += ["## Near-duplicate clusters\n\n",
            f"{m(fmt.num(c['clustered_documents']))} scored documents ({m(fmt.pct(c['clustered_share']))}) sit in "
            f"{m(fmt.num(c['clusters']))} clusters.\n\n", img("cluster_sizes", "Near-duplicate cluster sizes"), "\n"]
    if c["largest"]:
        out.append(table(["size", "mean p_machine", "grounded / suspected / uncertain", "excerpt"],
                         [[fmt.num(x["size"]), fmt.score(x["mean_p_machine"]),
                           " / ".join(fmt.pct(x["shares"][s]) for s in SCORED_PARTITIONS), x["excerpt"]]
                          for x in c["largest"]]) + "\n")
    out.append(table(["cluster size", "clusters", "documents"],
                     [[r["size_range"], fmt.num(r["clusters"]), fmt.num(r["documents"])]
                      for r in c["size_distribution"]]) + "\n")
    t = sections["tail_audit"]
    out += ["## Tail audit\n\n",
            f"The filter removes {m(t['removed_partition'])}: {m(fmt.pct(t['overall_removed_share']))} of scored "
            f"documents overall ({m(fmt.pct(t['overall_uncertain_share']))} uncertain). {t['n_warnings']} bucket(s) "
            "would be removed at more than twice that rate and are listed first (**over-removed**): filtering "
            "them erases a tail of the distribution.\n\n", m(t["rule"]), ".\n\n",
            table(["dimension", "bucket", "documents", "removed", "removed 95% CI", "vs overall", "uncertain", ""],
                  [[r["dimension"], r["bucket"], fmt.num(r["documents"]), fmt.pct(r["removed_share"]),
                    fmt.interval(*r["removed_ci"]) if r["removed_ci"] else "–", fmt.ratio(r["ratio"]),
                    fmt.pct(r["uncertain_share"]),
                    "over-removed" if r["warning"] else ("too small to judge" if r["small"] else "")]
                   for r in t["rows"]]), "\n"]
    return "".join(out)


def summary_md(summary: dict) -> str:
    out = f"## Summary\n\n**{m(summary['headline'])}**\n\n"
    out += "What was found:\n\n" + bullets(summary["found"]) + "\nHow sure we are:\n\n" + bullets(summary["how_sure"])
    out += "\nWhat to look at:\n\n" + bullets(summary["look_at"])
    if summary["trend"]:
        out += "\nBetween runs:\n\n" + bullets(summary["trend"])
    return out + "\n"


def comparison_md(comparison: dict, with_plots: bool) -> str:
    runs = comparison["runs"]
    rows = [["documents", *[fmt.num(h["documents"]) for h in runs]]]
    rows += [[f"{p} share", *[fmt.pct(h["shares"][p]) for h in runs]] for p in PARTITIONS]
    rows += [["estimated machine share", *[fmt.pct(h["prevalence"]["estimate"]) for h in runs]],
             ["95% interval", *[fmt.interval(h["prevalence"]["ci_low"], h["prevalence"]["ci_high"]) for h in runs]],
             ["in clusters", *[fmt.pct(h["clustered_share"]) for h in runs]],
             ["tail warnings", *[fmt.num(h["tail_warnings"]) for h in runs]]]
    steps = [[f"{s['from']} → {s['to']}", fmt.signed_pct(s["delta_shares"][SUSPECTED]),
              fmt.signed_pct(s["delta_prevalence"]["estimate"]) if s["delta_prevalence"] else "–",
              (f"{fmt.signed_pct(s['delta_prevalence']['ci_low'])} to {fmt.signed_pct(s['delta_prevalence']['ci_high'])}"
               if s["delta_prevalence"] else "–")] for s in comparison["trend"]]
    languages = [[row["language"], *[fmt.pct(r["suspected_share"]) for r in row["runs"]]]
                 for row in comparison["by_language"]]
    return ("## Comparison between runs\n\n" + bullets(comparison["warnings"]) +
            (image("trend", "Trend across runs") + "\n" if with_plots else "") +
            table(["", *[h["label"] for h in runs]], rows) + "\n### Trend\n\n" +
            table(["step", "Δ suspected share", "Δ estimated share", "95% interval"], steps) +
            "\n### Suspected share by language\n\n" + table(["language", *[h["label"] for h in runs]], languages) + "\n")


def render_markdown(report: Report, with_plots: bool = True) -> str:
    data = report.data
    out = [f"# Corpus contamination report\n\n{m(', '.join(report.labels))} · generated {m(data['generated_at'])}\n\n",
           summary_md(data["summary"])]
    if data["comparison"]:
        out.append(comparison_md(data["comparison"], with_plots))
    out.append(run_md(data, with_plots=with_plots))
    for i, other in enumerate(data["other_runs"], start=1):
        # Plots of later runs are written to plots/run2/, plots/run3/ and so on.
        out.append(f"# Run: {m(other['label'])}\n\n" + summary_md(other["summary"]) +
                   run_md(other["sections"], plot_dir=f"plots/run{i + 1}", with_plots=with_plots))
    return "".join(out)
