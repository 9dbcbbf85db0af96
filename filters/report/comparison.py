"""Side-by-side comparison of several runs (e.g. successive crawl snapshots) and the trend between them."""

from __future__ import annotations

from pathlib import Path

from filters.document import PARTITIONS, SUSPECTED
from filters.report.prevalence import difference_interval

TOP_LANGUAGES = 12


def run_labels(paths: list[Path]) -> list[str]:
    """Shortest trailing path parts that tell the runs apart (snapshots often share a leaf name)."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {'/'.join(p)}" for i, p in enumerate(parts)]


def headline(label: str, sections: dict) -> dict:
    documents, partitions = sections["documents"], sections["partitions"]
    prevalence, clusters = sections["prevalence"], sections["near_duplicate_clusters"]
    provenance = documents["provenance"]
    return {
        "label": label,
        "path": provenance["path"],
        "documents": documents["documents"],
        "scored": documents["scored"],
        "tokens": documents["tokens"],
        "shares": partitions["shares"],
        "flagged_share": prevalence["raw_flagged_share"],
        "prevalence": {k: prevalence[k] for k in ("estimate", "ci_low", "ci_high")},
        "clustered_share": clusters["clustered_share"],
        "tail_warnings": sections["tail_audit"]["n_warnings"],
        "model_hash": (provenance["model"] or {}).get("model_hash"),
        "thresholds_hash": provenance["thresholds_hash"],
        "finished_at": provenance["finished_at"],
    }


def _delta(later, earlier):
    return later - earlier if later is not None and earlier is not None else None


def trend(labels: list[str], all_sections: list[dict]) -> list[dict]:
    steps = []
    for i in range(1, len(all_sections)):
        before, after = all_sections[i - 1], all_sections[i]
        shares_before, shares_after = before["partitions"]["shares"], after["partitions"]["shares"]
        change = difference_interval(after["prevalence"], before["prevalence"])
        steps.append({
            "from": labels[i - 1], "to": labels[i],
            "delta_shares": {p: _delta(shares_after[p], shares_before[p]) for p in PARTITIONS},
            "delta_flagged_share": _delta(after["prevalence"]["raw_flagged_share"],
                                          before["prevalence"]["raw_flagged_share"]),
            "delta_prevalence": change,
            "delta_clustered_share": _delta(after["near_duplicate_clusters"]["clustered_share"],
                                            before["near_duplicate_clusters"]["clustered_share"]),
        })
    return steps


def by_language_side_by_side(labels: list[str], all_sections: list[dict]) -> list[dict]:
    """Suspected share and mean score per language, one column per run, for the largest languages."""
    totals: dict[str, int] = {}
    per_run = []
    for sections in all_sections:
        table = {b["key"]: b for b in sections["by_language"]["buckets"]}
        per_run.append(table)
        for key, b in table.items():
            totals[key] = totals.get(key, 0) + b["documents"]
    languages = sorted(totals, key=lambda k: (-totals[k], k))[:TOP_LANGUAGES]
    return [{"language": language, "runs": [
        {"label": label, "documents": table[language]["documents"] if language in table else 0,
         "suspected_share": table[language]["shares"][SUSPECTED] if language in table else None,
         "mean_p_machine": table[language]["mean_p_machine"] if language in table else None}
        for label, table in zip(labels, per_run)]} for language in languages]


def comparison_section(labels: list[str], all_sections: list[dict], shared_rates: bool) -> dict:
    heads = [headline(label, sections) for label, sections in zip(labels, all_sections)]
    same_detector = len({(h["model_hash"], h["thresholds_hash"]) for h in heads}) == 1
    warnings = []
    if not same_detector:
        warnings.append("the runs were scored with different models or thresholds: part of any change between "
                        "them may come from the detector, not the corpus")
    return {
        "runs": heads,
        "same_detector": same_detector,
        "shared_error_rate_uncertainty": shared_rates,
        "trend": trend(labels, all_sections),
        "by_language": by_language_side_by_side(labels, all_sections),
        "warnings": warnings,
        "note": "runs are compared in the order given on the command line; a change's interval treats the "
                "detector's error rates as common to both runs when they share a model, so that only the "
                "corpora's sampling noise and the shared rates' uncertainty remain",
    }
