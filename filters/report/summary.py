"""The plain-language summary at the top of the report: what was found, how sure we are, what to look at."""

from __future__ import annotations

from filters.report.fmt import interval, num, pct, ratio, signed_pct
from filters.document import GROUNDED, QUARANTINE, SUSPECTED, UNCERTAIN

MOSTLY_UNCERTAIN = 0.5
NOTABLE_CLUSTERED_SHARE = 0.05
SHOWN_TAIL_WARNINGS = 3


def headline(prevalence: dict) -> str:
    if prevalence["estimate"] is not None:
        return (f"Estimated machine-generated share: {pct(prevalence['estimate'])} "
                f"(95% interval {interval(prevalence['ci_low'], prevalence['ci_high'])}), from "
                f"{prevalence.get('rests_on') or 'the flagged share corrected for the detector’s error rates'}.")
    return (f"Flagged share: {pct(prevalence['raw_flagged_share'])} (not corrected for the detector's errors: "
            "see How sure we are)")


def found(sections: dict) -> list[str]:
    documents, partitions = sections["documents"], sections["partitions"]
    counts, shares = partitions["counts"], partitions["shares"]
    inputs = len(documents["provenance"]["inputs"])
    lines = [f"{num(documents['documents'])} documents ({num(documents['tokens'])} tokens) from {inputs} input "
             f"file(s): {num(counts[SUSPECTED])} ({pct(shares[SUSPECTED])}) suspected synthetic, "
             f"{num(counts[UNCERTAIN])} ({pct(shares[UNCERTAIN])}) uncertain, {num(counts[GROUNDED])} "
             f"({pct(shares[GROUNDED])}) grounded, {num(counts[QUARANTINE])} ({pct(shares[QUARANTINE])}) "
             "quarantined as unreadable."]
    dated = sections["by_date"]
    if dated["present"]:
        buckets = {b["key"]: b for b in dated["buckets"]}
        before = buckets.get(f"before {dated['cutoff']}")
        after = buckets.get(f"on or after {dated['cutoff']}")
        if before and after:
            lines.append(f"Documents dated before ChatGPT's release ({dated['cutoff']}) are flagged at "
                         f"{pct(before['shares'][SUSPECTED])}, later ones at {pct(after['shares'][SUSPECTED])}.")
    return lines


def how_sure(sections: dict) -> list[str]:
    prevalence = sections["prevalence"]
    if prevalence.get("headline_method", "classify_and_count") != "classify_and_count":
        return whole_distribution_lines(prevalence)
    lines = []
    if prevalence["estimate"] is not None:
        width = prevalence["ci_high"] - prevalence["ci_low"]
        lines.append(
            f"Correcting the raw flagged share ({pct(prevalence['raw_flagged_share'])}) for the detector's measured "
            f"error rates (TPR {prevalence['tpr']:.3f}, FPR {prevalence['fpr']:.3f}) gives "
            f"{pct(prevalence['estimate'])}, with a 95% interval of "
            f"{interval(prevalence['ci_low'], prevalence['ci_high'])} ({pct(width)} wide).")
        lines.append("That holds only if the detector makes the same errors on this crawl as on its development "
                     "data; new generators, domains or languages can shift the estimate by more than the interval.")
    lines.extend(prevalence["warnings"])
    return lines


LABELS = {"mixture": "mixture MLE", "hdy": "HDy", "median_sweep": "median sweep"}


def whole_distribution_lines(prevalence: dict) -> list[str]:
    methods, counted = prevalence["methods"], prevalence["classify_and_count"]
    others = [f"{LABELS[name]} {pct(r['estimate'])} ({interval(r['ci_low'], r['ci_high'])})"
              for name, r in methods.items() if name != prevalence["headline_method"]]
    lines = [f"The other methods on the same scores: {', '.join(others)}; "
             + (f"the old single cut-off correction gives {pct(counted['estimate'])} "
                f"({interval(counted['ci_low'], counted['ci_high'])})." if counted["estimate"] is not None else
                "the old single cut-off correction gives no estimate here.")]
    bound = prevalence.get("lower_bound")
    if bound:
        lines.append(f"Needing no machine model: at least {pct(bound['ci_low'])} of the judged documents (point "
                     f"estimate {pct(bound['estimate'])}) are unlike the crawl's own human reference.")
    lines.append(prevalence["meaning"])
    return lines + prevalence["warnings"]


def look_at(sections: dict) -> list[str]:
    tail, lines = sections["tail_audit"], []
    warned = [r for r in tail["rows"] if r["warning"]]
    for row in warned[:SHOWN_TAIL_WARNINGS]:
        lines.append(f"Filtering would remove {pct(row['removed_share'])} of {row['dimension']} "
                     f"“{row['bucket']}” ({num(row['documents'])} documents) against {pct(row['overall_removed_share'])} "
                     f"overall ({ratio(row['ratio'])}): check it before filtering, or that tail of the corpus shrinks.")
    if len(warned) > SHOWN_TAIL_WARNINGS:
        lines.append(f"{len(warned) - SHOWN_TAIL_WARNINGS} more bucket(s) are over-removed; see the tail audit.")
    if not warned:
        lines.append("No language, source or length bucket would be removed at more than twice the overall rate.")
    judged = sorted((r for r in tail["rows"] if not r["small"] and (r["uncertain_share"] or 0) > MOSTLY_UNCERTAIN),
                    key=lambda r: (-r["uncertain_share"], -r["documents"]))
    for row in judged[:2]:
        lines.append(f"The detector cannot judge most of {row['dimension']} “{row['bucket']}”: "
                     f"{pct(row['uncertain_share'])} of it is uncertain.")
    clusters = sections["near_duplicate_clusters"]
    if (clusters["clustered_share"] or 0) >= NOTABLE_CLUSTERED_SHARE and clusters["largest"]:
        top = clusters["largest"][0]
        lines.append(f"{pct(clusters['clustered_share'])} of scored documents sit in {num(clusters['clusters'])} "
                     f"near-duplicate clusters; the largest has {num(top['size'])} documents with mean "
                     f"p_machine {top['mean_p_machine']:.2f}.")
    lines.extend(sections["documents"]["warnings"])
    lines.extend(sections["prevalence"]["notes"])
    return lines


def trend_lines(comparison: dict) -> list[str]:
    lines = []
    for step in comparison["trend"]:
        change = step["delta_prevalence"]
        if change is None:
            lines.append(f"{step['from']} → {step['to']}: flagged share changed by "
                         f"{signed_pct(step['delta_flagged_share'])}.")
            continue
        verdict = "a real change" if change["excludes_zero"] else "within the noise"
        lines.append(f"{step['from']} → {step['to']}: estimated machine share changed by "
                     f"{signed_pct(change['estimate'])} (95% interval {signed_pct(change['ci_low'])} to "
                     f"{signed_pct(change['ci_high'])}: {verdict}).")
    return lines + comparison["warnings"]


def summary(sections: dict, comparison: dict | None = None) -> dict:
    return {
        "headline": headline(sections["prevalence"]),
        "found": found(sections),
        "how_sure": how_sure(sections),
        "look_at": look_at(sections),
        "trend": trend_lines(comparison) if comparison else [],
    }
