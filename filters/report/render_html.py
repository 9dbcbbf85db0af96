"""The report as one self-contained HTML page.

Crawled text is hostile: every value that reaches the page goes through `e()` (invisible controls such
as bidi overrides made visible, then html.escape with quotes), markup is only ever built from constant
strings, images are inline base64 PNG, and a Content-Security-Policy forbids scripts and every remote
load even if something slipped through.
"""

from __future__ import annotations

import base64
import html
import json

from filters.report import fmt
from filters.report.build import Report
from filters.document import PARTITIONS, SCORED_PARTITIONS, SUSPECTED
from filters.report.plots import Plot

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2430;background:#fff}
main,header,.wrap{max-width:1140px;margin:0 auto;padding:0 24px}
header{padding-top:18px}
h1{font-size:26px;margin:8px 0 2px}h2{font-size:20px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
h3{font-size:16px;margin:16px 0 6px}
.meta{color:#5b6472;font-size:13px;margin:0 0 12px}
.summary{background:#f3f6fa;border:1px solid #d8dde6;border-radius:6px;padding:10px 20px 12px;margin:12px 0}
.headline{font-size:19px;font-weight:600;margin:6px 0}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;width:auto;max-width:100%}
th,td{border:1px solid #d8dde6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.warn td{background:#fbe3e4}
.excerpt{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;max-width:520px;word-break:break-word;white-space:pre-wrap}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7ee}
figcaption{font-size:12px;color:#5b6472}
.note{color:#414a58;font-size:14px}.warning{color:#8a1c1c}
.big{font-size:17px}
details>summary{cursor:pointer;font-weight:600;margin:10px 0}
"""


def e(value) -> str:
    """The one escape of every value on the page: invisible controls (bidi overrides and the like)
    written out visibly by `fmt.visible`, then html.escape with quotes."""
    return html.escape(fmt.visible("" if value is None else str(value)), quote=True)


def table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(),
          row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="n">{e(c)}</td>' if j in numeric else f"<td>{e(c)}</td>"
                        for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def items(lines: list[str], cls: str = "") -> str:
    if not lines:
        return ""
    attr = f' class="{cls}"' if cls else ""
    return f"<ul{attr}>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>"


def figure(plot: Plot | None) -> str:
    if plot is None:
        return ""
    data = base64.b64encode(plot.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{e(plot.title)}">'
            f"<figcaption>{e(plot.title)}</figcaption></figure>")


def share_columns(bucket: dict) -> list[str]:
    return [fmt.pct(bucket["shares"][p]) for p in PARTITIONS]


def breakdown_table(section: dict) -> str:
    if not section["present"] or not section["buckets"]:
        return f'<p class="note">Not present: no document carries {e(section["field"])}.</p>'
    rows = [[b["key"], fmt.num(b["documents"]), fmt.num(b["tokens"]), *share_columns(b), fmt.score(b["mean_p_machine"])]
            for b in section["buckets"]]
    return (f'<p class="note">Grouped by {e(section["field"])}.</p>' +
            table(["value", "documents", "tokens", *PARTITIONS, "mean p_machine"], rows, numeric=set(range(1, 8))))


def documents_html(sections: dict) -> str:
    d = sections["documents"]
    prov = d["provenance"]
    model = prov["model"] or {}
    facts = [["documents", fmt.num(d["documents"])], ["scored", fmt.num(d["scored"])],
             ["quarantined", fmt.num(d["quarantined"])], ["tokens (scored documents)", fmt.num(d["tokens"])],
             ["mean tokens per document", fmt.num(d["mean_tokens"])],
             ["decided by", ", ".join(f"{k}: {v:,}" for k, v in d["decided_by"].items()) or "–"],
             ["shards read", fmt.num(d["shards_read"])]]
    provenance = [["output directory", prov["path"]], ["synthsieve version", prov["synthsieve_version"]],
                  ["run status", prov["status"]], ["started / finished", f"{prov['started_at']} / {prov['finished_at']}"],
                  ["model", model.get("model_id")], ["model hash", model.get("model_hash")],
                  ["reference model", model.get("reference_model_id")],
                  ["reference model hash", model.get("reference_model_hash")], ["token cap", model.get("token_cap")],
                  ["error rates", json.dumps(model.get("error_rates"), sort_keys=True)],
                  ["thresholds", json.dumps(prov["thresholds"], sort_keys=True)],
                  ["thresholds hash", prov["thresholds_hash"]],
                  ["settings", json.dumps(prov["settings"], sort_keys=True)]]
    artifacts = [[name, digest] for name, digest in sorted((model.get("artifact_hashes") or {}).items())]
    inputs = [[i.get("path"), fmt.num(i.get("size")), i.get("sha256")] for i in prov["inputs"]]
    return ("<h2 id=\"documents\">Documents</h2>" + table(["", ""], facts, numeric={1}) +
            items(d["warnings"], "warning") +
            "<details><summary>Provenance: versions, model and threshold hashes, inputs</summary>" +
            table(["field", "value"], provenance) +
            (table(["model artifact", "sha256"], artifacts) if artifacts else "") +
            table(["input", "bytes", "sha256"], inputs, numeric={1}) + "</details>")


def partitions_html(sections: dict, plots: dict) -> str:
    p = sections["partitions"]
    rows = [[name, fmt.num(p["counts"][name]), fmt.pct(p["shares"][name]),
             fmt.pct(p["shares_of_scored"].get(name)) if name in SCORED_PARTITIONS else "–"] for name in PARTITIONS]
    reasons = [[reason, fmt.num(count)] for reason, count in p["quarantine_reasons"].items()]
    return ("<h2 id=\"partitions\">Partitions</h2>" +
            table(["partition", "documents", "share", "share of scored"], rows, numeric={1, 2, 3}) +
            figure(plots.get("score_histogram")) +
            ("<h3>Quarantine reasons</h3>" + table(["reason", "documents"], reasons, numeric={1}) if reasons else ""))


def prevalence_html(sections: dict) -> str:
    p = sections["prevalence"]
    if p["estimate"] is not None:
        numbers = (f'<p class="big">Estimated machine-generated share: <b>{e(fmt.pct(p["estimate"]))}</b>, '
                   f'95% interval <b>{e(fmt.interval(p["ci_low"], p["ci_high"]))}</b> '
                   f'(raw flagged share {e(fmt.pct(p["raw_flagged_share"]))}).</p>'
                   + (f'<p>It rests on {e(p["rests_on"])}.</p>' if p.get("rests_on") else ""))
    else:
        numbers = f'<p class="big">Raw flagged share: <b>{e(fmt.pct(p["raw_flagged_share"]))}</b> (not corrected).</p>'
    facts = fmt.prevalence_fact_rows(p)
    calibration = sections["documents"]["provenance"].get("calibration")
    calibrated = ""
    if calibration:
        headers, thresholds, calibration_facts = fmt.calibration_rows(calibration)
        calibrated = ("<h3>Calibration on the crawl's human reference</h3>" +
                      table(headers, thresholds) + table(["", ""], calibration_facts))
    return ("<h2 id=\"prevalence\">Prevalence</h2>" + numbers + f'<p class="note">{e(p["meaning"])}</p>' +
            items(p["warnings"], "warning") + items(p["notes"]) +
            table(["method", "estimate", "95% interval", "how"], fmt.method_rows(p)) +
            (table(["component", "from", "scores"], fmt.component_rows(p), numeric={2}) if p.get("components") else "") +
            calibrated + table(["", ""], facts))


def breakdown_html(title: str, anchor: str, section: dict, plot: Plot | None = None) -> str:
    return f'<h2 id="{anchor}">{e(title)}</h2>' + figure(plot) + breakdown_table(section)


def by_date_html(sections: dict) -> str:
    section = sections["by_date"]
    body = breakdown_table(section)
    if section["present"]:
        body = f'<p class="note">Cut-off {e(section["cutoff"])}: {e(section["cutoff_meaning"])}.</p>' + body
        rows = [[b["key"], fmt.num(b["documents"]), *share_columns(b), fmt.score(b["mean_p_machine"])]
                for b in section["years"]]
        body += "<h3>By year</h3>" + table(["year", "documents", *PARTITIONS, "mean p_machine"], rows,
                                            numeric=set(range(1, 7)))
    return '<h2 id="by_date">By date</h2>' + body


def clusters_html(sections: dict, plots: dict) -> str:
    c = sections["near_duplicate_clusters"]
    rows = [[fmt.num(x["size"]), fmt.score(x["mean_p_machine"]),
             " / ".join(fmt.pct(x["shares"][p]) for p in SCORED_PARTITIONS),
             ", ".join(f"{k}: {v}" for k, v in x["languages"].items()), x["excerpt"]] for x in c["largest"]]
    head = (f'<p>{e(fmt.num(c["clustered_documents"]))} scored documents ({e(fmt.pct(c["clustered_share"]))}) sit '
            f'in {e(fmt.num(c["clusters"]))} near-duplicate clusters. <span class="note">{e(c["note"])}.</span></p>')
    if not rows:
        return '<h2 id="clusters">Near-duplicate clusters</h2>' + head + figure(plots.get("cluster_sizes"))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{e(v)}</td>' for v in row[:2]) + f"<td>{e(row[2])}</td><td>{e(row[3])}</td>"
        f'<td class="excerpt">{e(row[4])}</td></tr>' for row in rows)
    largest = ("<table><thead><tr><th>size</th><th>mean p_machine</th><th>grounded / suspected / uncertain</th>"
               f"<th>languages</th><th>excerpt (first member)</th></tr></thead><tbody>{body}</tbody></table>")
    sizes = table(["cluster size", "clusters", "documents"],
                  [[r["size_range"], fmt.num(r["clusters"]), fmt.num(r["documents"])] for r in c["size_distribution"]],
                  numeric={1, 2})
    return ('<h2 id="clusters">Near-duplicate clusters</h2>' + head + "<h3>Largest clusters</h3>" + largest +
            figure(plots.get("cluster_sizes")) + sizes)


def tail_html(sections: dict) -> str:
    t = sections["tail_audit"]
    rows, classes = [], []
    for r in t["rows"]:
        ci = r["removed_ci"]
        rows.append([r["dimension"], r["bucket"], fmt.num(r["documents"]), fmt.pct(r["removed_share"]),
                     fmt.interval(*ci) if ci else "–", fmt.ratio(r["ratio"]), fmt.pct(r["uncertain_share"]),
                     "over-removed" if r["warning"] else ("too small to judge" if r["small"] else "")])
        classes.append("warn" if r["warning"] else "")
    intro = (f'<p>The filter removes <b>{e(t["removed_partition"])}</b>: {e(fmt.pct(t["overall_removed_share"]))} of '
             f'scored documents overall, and {e(fmt.pct(t["overall_uncertain_share"]))} are uncertain. '
             f'{e(t["n_warnings"])} bucket(s) would be removed at more than twice that rate; they are listed first. '
             'Removing a whole tail of the distribution (a language, a source, short or long texts) is the '
             'model-collapse risk this report exists to catch.</p>'
             f'<p class="note">{e(t["rule"])}.</p>')
    return ('<h2 id="tail_audit">Tail audit</h2>' + intro +
            table(["dimension", "bucket", "documents", "removed", "removed 95% CI", "vs overall", "uncertain", ""],
                  rows, numeric={2, 3, 5, 6}, row_classes=classes))


def run_html(sections: dict, plots: list[Plot]) -> str:
    by_name = {p.name: p for p in plots}
    return "".join([
        documents_html(sections), partitions_html(sections, by_name), prevalence_html(sections),
        breakdown_html("By language", "by_language", sections["by_language"], by_name.get("shares_by_language")),
        breakdown_html("By source", "by_source", sections["by_source"], by_name.get("shares_by_source")),
        breakdown_html("By domain", "by_domain", sections["by_domain"]),
        breakdown_html("By length", "by_length", sections["by_length"]),
        by_date_html(sections), clusters_html(sections, by_name), tail_html(sections),
    ])


def summary_html(summary: dict) -> str:
    parts = [f'<section class="summary" id="summary"><h2>Summary</h2><p class="headline">{e(summary["headline"])}</p>',
             "<h3>What was found</h3>", items(summary["found"]), "<h3>How sure we are</h3>", items(summary["how_sure"]),
             "<h3>What to look at</h3>", items(summary["look_at"])]
    if summary["trend"]:
        parts += ["<h3>Between runs</h3>", items(summary["trend"])]
    return "".join(parts) + "</section>"


def comparison_html(comparison: dict, plots: list[Plot]) -> str:
    runs = comparison["runs"]
    metrics = [("documents", lambda h: fmt.num(h["documents"])), ("tokens", lambda h: fmt.num(h["tokens"]))]
    metrics += [(f"{p} share", lambda h, p=p: fmt.pct(h["shares"][p])) for p in PARTITIONS]
    metrics += [("flagged share (raw)", lambda h: fmt.pct(h["flagged_share"])),
                ("estimated machine share", lambda h: fmt.pct(h["prevalence"]["estimate"])),
                ("95% interval", lambda h: fmt.interval(h["prevalence"]["ci_low"], h["prevalence"]["ci_high"])),
                ("in near-duplicate clusters", lambda h: fmt.pct(h["clustered_share"])),
                ("tail warnings", lambda h: fmt.num(h["tail_warnings"])),
                ("model hash", lambda h: (h["model_hash"] or "–")[:16]),
                ("thresholds hash", lambda h: (h["thresholds_hash"] or "–")[:16])]
    side = table(["", *[h["label"] for h in runs]], [[name, *[f(h) for h in runs]] for name, f in metrics],
                 numeric=set(range(1, len(runs) + 1)))
    steps = []
    for s in comparison["trend"]:
        change = s["delta_prevalence"]
        steps.append([f"{s['from']} → {s['to']}", fmt.signed_pct(s["delta_shares"][SUSPECTED]),
                      fmt.signed_pct(s["delta_flagged_share"]),
                      fmt.signed_pct(change["estimate"]) if change else "–",
                      f"{fmt.signed_pct(change['ci_low'])} to {fmt.signed_pct(change['ci_high'])}" if change else "–",
                      ("yes" if change["excludes_zero"] else "no") if change else "–"])
    trend = table(["step", "Δ suspected share", "Δ flagged share", "Δ estimated share", "95% interval",
                   "beyond noise"], steps)
    languages = table(["language", *[f"{h['label']}: suspected (docs)" for h in runs]],
                      [[row["language"], *[f"{fmt.pct(r['suspected_share'])} ({fmt.num(r['documents'])})"
                                           for r in row["runs"]]] for row in comparison["by_language"]])
    return ('<h2 id="comparison">Comparison between runs</h2>' + items(comparison["warnings"], "warning") +
            f'<p class="note">{e(comparison["note"])}.</p>' + side + "".join(figure(p) for p in plots) +
            "<h3>Trend</h3>" + trend + "<h3>Suspected share by language</h3>" + languages)


def render_html(report: Report) -> str:
    data = report.data
    title = f"synthsieve report: {', '.join(report.labels)}"
    body = [f"<header><h1>Corpus contamination report</h1><p class=\"meta\">{e(title)} · generated "
            f"{e(data['generated_at'])} · {e(data['schema'])}</p></header><main>", summary_html(data["summary"])]
    if data["comparison"]:
        body.append(comparison_html(data["comparison"], report.comparison_plots))
    if data["other_runs"]:
        body.append(f"<h2>Run: {e(report.labels[0])}</h2>")
    body.append(run_html(data, report.run_plots[0] if report.run_plots else []))
    for i, other in enumerate(data["other_runs"], start=1):
        plots = report.run_plots[i] if len(report.run_plots) > i else []
        inner = summary_html(other["summary"]) + run_html(other["sections"], plots)
        # Anchors must stay unique on the page. Escaped data cannot contain ` id="` (quotes become
        # &quot;), so this only renames anchors of our own markup.
        inner = inner.replace(' id="', f' id="run{i + 1}-')
        body.append(f"<details><summary>Run: {e(other['label'])}</summary>{inner}</details>")
    body.append("</main>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
