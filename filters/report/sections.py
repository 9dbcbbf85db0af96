"""Each report section of one run, as plain JSON-ready data."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import numpy as np

from detector.decision import Thresholds
from filters.report import breakdown
from filters.report import quantification as q
from filters.report.components import HEADLINE, load_components, lower_bound, whole_distribution
from filters.document import PARTITIONS, QUARANTINE, SCORED_PARTITIONS, SUSPECTED, UNCERTAIN
from filters.report.load import RunData
from filters.report.prevalence import ErrorRates, adjusted_prevalence, interval_meaning

# ChatGPT's public release: text dated before it is very unlikely to come from a chat model.
CHATGPT_RELEASE = date(2022, 11, 30)
MAX_BUCKETS = 40
TOP_CLUSTERS = 20
MIN_TAIL_DOCUMENTS = 20
CLUSTER_SIZE_EDGES = (2, 3, 5, 10, 50, 100, 1000)


def thresholds_of(run: RunData) -> dict:
    return run.manifest.get("thresholds") or {}


def canonical_hash(value) -> str | None:
    if not value:
        return None
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def documents_section(run: RunData) -> dict:
    manifest, scored = run.manifest, run.scored
    model = manifest.get("model") or {}
    counts = manifest.get("counts") or {}
    tokens = int(run.n_tokens[scored].sum())
    warnings = list(run.warnings)
    if isinstance(counts.get("documents"), int) and counts["documents"] != run.n:
        warnings.append(f"the manifest counts {counts['documents']:,} documents but {run.n:,} were read")
    stages = {name: int((run.decided_by[scored] == name).sum()) for name in sorted(set(run.decided_by[scored]))}
    return {
        "documents": run.n,
        "scored": int(scored.sum()),
        "quarantined": int((~scored).sum()),
        "tokens": tokens,
        "mean_tokens": tokens / int(scored.sum()) if scored.any() else None,
        "decided_by": stages,
        "shards_read": len(run.shards_read),
        "manifest_counts": counts,
        "warnings": warnings,
        "provenance": {
            "path": str(run.path),
            "synthsieve_version": manifest.get("synthsieve_version"),
            "status": manifest.get("status"),
            "started_at": manifest.get("started_at"),
            "finished_at": manifest.get("finished_at"),
            "model": {key: model.get(key) for key in (
                "model_id", "model_hash", "reference_model_id", "reference_model_hash", "token_cap",
                "synthsieve_version", "error_rates", "artifact_hashes")},
            "thresholds": thresholds_of(run),
            "thresholds_hash": canonical_hash(thresholds_of(run)),
            "calibration": calibration_summary(run.manifest.get("calibration")),
            "settings": manifest.get("settings") or {},
            "inputs": manifest.get("inputs") or [],
        },
    }


def calibration_summary(calibration: dict | None) -> dict | None:
    """The manifest's calibration on the run's own human reference, as the report shows it: the model's
    and the corpus's thresholds side by side (None when the run had no reference)."""
    if not calibration or not calibration.get("reference"):
        return None
    reference = calibration["reference"]
    return {"applied": calibration.get("applied"), "reason": calibration.get("reason"), "rule": calibration.get("rule"),
            "model_suspect": calibration["model_thresholds"]["suspect"],
            "corpus_suspect": calibration["corpus_thresholds"]["suspect"],
            "model_ground": calibration["model_thresholds"]["ground"],
            "corpus_ground": calibration["corpus_thresholds"]["ground"],
            "reference_judged": reference.get("judged"), "reference_scored": reference.get("scored"),
            "reference_before": reference.get("before"),
            "reference_files": [{"path": f.get("path"), "sha256": f.get("sha256")} for f in reference.get("human_reference") or []],
            "reference_scores_sha256": (reference.get("scores") or {}).get("sha256"),
            "reference_flagged": calibration.get("reference_flagged"),
            "overridden": calibration.get("overridden")}


def partitions_section(run: RunData) -> dict:
    counts = {p: int((run.partition == p).sum()) for p in PARTITIONS}
    scored = sum(counts[p] for p in SCORED_PARTITIONS)
    reasons: dict[str, int] = {}
    for reason in run.quarantine_reason[run.partition == QUARANTINE]:
        reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons and counts[QUARANTINE] == 0:
        reasons = dict((run.manifest.get("counts") or {}).get("quarantine_reasons") or {})
    return {
        "counts": counts,
        "shares": {p: (counts[p] / run.n if run.n else None) for p in PARTITIONS},
        "shares_of_scored": {p: (counts[p] / scored if scored else None) for p in SCORED_PARTITIONS},
        "quarantine_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def judgeable_mask(run: RunData) -> np.ndarray:
    thresholds = thresholds_of(run)
    languages = set(thresholds.get("supported_languages") or ["en"])
    min_tokens = int(thresholds.get("min_tokens") or 0)
    return run.scored & np.isin(run.language, list(languages)) & (run.n_tokens >= min_tokens)


def uncorrected(flagged: int, n: int) -> dict:
    """The prevalence fields when the model stored no error rates: the raw share, said to be raw."""
    return {"estimate": None, "ci_low": None, "ci_high": None, "level": 0.95, "flagged": flagged, "n": n,
            "raw_flagged_share": flagged / n if n else None, "tpr": None, "fpr": None, "n_machine": None,
            "n_human": None, "separation": None, "_draws": None,
            "warnings": ["the manifest's model carries no error rates (tpr, fpr, n_machine, n_human): only the "
                         "raw flagged share can be reported, and it is biased by the detector's errors"]}


def prevalence_section(run: RunData, rng: np.random.Generator, rate_draws=None) -> dict:
    """The corrected machine share; the result keeps its Monte Carlo draws under "_draws"."""
    thresholds = thresholds_of(run)
    rates = ErrorRates.from_manifest(run.manifest)
    scores = run.p_machine[run.scored & ~np.isnan(run.p_machine)]
    by_decision = int((run.partition == SUSPECTED).sum())
    notes: list[str] = []
    cutoff = rates.threshold if rates and rates.threshold is not None else thresholds.get("suspect")
    if cutoff is not None and rates and rates.threshold is not None and thresholds.get("suspect") not in (
            None, rates.threshold):
        notes.append(f"the partitions were cut at suspect = {thresholds['suspect']} but the error rates were "
                     f"measured at {rates.threshold}; the estimate counts flags at the measured cut-off")
    if cutoff is None or rates is None:
        # Nothing to stay consistent with: the raw share is simply what the filter removes.
        flagged = by_decision
        rule = ("decision == suspected_synthetic (no error rates to correct with)" if rates is None else
                "decision == suspected_synthetic (the manifest records no suspect threshold)")
    else:
        flagged = int((scores >= float(cutoff)).sum())
        rule = (f"p_machine ≥ {float(cutoff):g}, the cut-off the detector's TPR and FPR were measured at; "
                "for documents the reference LM can judge this is exactly decision == suspected_synthetic")
    n = int(len(scores))
    outside = int((run.scored & ~judgeable_mask(run)).sum())
    result = (uncorrected(flagged, n) if rates is None else
              adjusted_prevalence(flagged, n, rates, rng=rng, rate_draws=rate_draws))
    if outside and cutoff is not None and rates is not None:
        notes.append(
            f"{outside:,} scored documents are outside what the reference LM can judge (language or length); "
            "their partition uses the stricter `overwhelming` cut-off, but here they count as flagged at the "
            f"measured cut-off like the development documents did; {by_decision:,} documents are in "
            f"suspected_synthetic against {flagged:,} flagged here")
    result.update({
        "method": "adjusted classify-and-count (Rogan–Gladen): pi = (q − FPR) / (TPR − FPR), clipped to [0, 1]; "
                  "95% interval by Monte Carlo propagation of Jeffreys Beta posteriors for q, TPR and FPR "
                  "(20,000 draws, fixed seed)",
        "flag_rule": rule,
        "population": "scored documents (quarantined documents were never scored and are excluded)",
        "flagged_by_decision": by_decision,
        "not_judgeable": outside,
        "meaning": interval_meaning(result),
        "notes": notes,
    })
    return _with_whole_distribution(run, result, rng)


MISFIT_SPREAD = 0.10


def _with_whole_distribution(run: RunData, result: dict, rng: np.random.Generator) -> dict:
    """The headline: the whole-distribution estimate when the run carries its components (filters/report/
    components.py), with the classify-and-count figure kept beside it; otherwise classify-and-count, said."""
    thresholds = thresholds_of(run)
    languages = set(thresholds.get("supported_languages") or ["en"])
    min_tokens = int(thresholds.get("min_tokens") or 0)
    components = load_components(run, Thresholds.from_dict(thresholds))
    result["classify_and_count"] = {k: result[k] for k in ("estimate", "ci_low", "ci_high", "level", "method",
                                                           "meaning", "warnings", "flag_rule")}
    result.update(components=components.described, methods={}, lower_bound=None, headline_method="classify_and_count")
    result["warnings"] = list(result["warnings"]) + components.warnings
    counted = judgeable_mask(run) & ~np.isnan(run.p_machine)
    before = ((run.manifest.get("calibration") or {}).get("reference") or {}).get("before")
    if before:
        # --reference-before: the older documents are the human reference; the share is of the rest.
        cutoff = date.fromisoformat(before)
        counted &= np.array([d is None or d >= cutoff for d in run.date], dtype=bool)
    corpus = run.p_machine[counted]
    seed = int(rng.integers(2**31))
    if not components.usable or corpus.size == 0:
        result["lower_bound"] = lower_bound(corpus, components, seed)
        result["rests_on"] = ("the share flagged at one cut-off, corrected with the detector's error rates there: "
                              "the run carries no usable score distributions to estimate from the whole distribution "
                              "(a run made before they were kept, a model without held-out scores, or a component "
                              "file missing or changed: see the warnings)")
        return result
    whole = whole_distribution(corpus, components, seed=seed)
    headline = whole["methods"][HEADLINE]
    human = components.described["human"]
    # The bootstrap resamples the machine sources (and widens for them) only where there are several.
    by_source = components.machine_groups is not None and np.unique(components.machine_groups).size >= 2
    result.update(
        estimate=headline["estimate"], ci_low=headline["ci_low"], ci_high=headline["ci_high"], level=headline["level"],
        method=headline["method"] + ("; 95% interval by bootstrap over the documents, the human sample and the "
                                     "machine sample's sources, the sources' part of the spread widened for their "
                                     "small number (Student's t) and to predict a corpus whose machine text comes "
                                     f"from {q.CORPUS_SOURCES} generators unlike them" if by_source else
                                     "; 95% interval by bootstrap over the documents and both component samples"),
        headline_method=HEADLINE, methods=whole["methods"], lower_bound=whole["lower_bound"], _draws=whole["draws"],
        n_whole_distribution=int(corpus.size),
        population_whole_distribution=(f"the {corpus.size:,} scored documents the thresholds decide on (languages "
                                       f"{', '.join(sorted(languages))}, at least {min_tokens} tokens)"
                                       + (f", dated on or after {before} or undated (the older ones are the "
                                          "human reference)" if before else "")),
        rests_on=(f"every judged document's score, read as a mixture of {human['what']} ({human['n']:,} scores) and "
                  f"the model's held-out machine scores ({components.described['machine']['n']:,})"),
        meaning=(f"If this corpus's human documents score like {human['what']} and its machine documents like the "
                 "model's held-out machine scores, intervals built this way contain the true share in about 95% of "
                 "corpora. The interval covers sampling noise in the corpus and in both component samples"
                 + (f", and machine text from {q.CORPUS_SOURCES} generators that score unlike the stored ones as far "
                    "as the stored sources differ among themselves" if by_source else "")
                 + "; it does not cover a generator, domain or language further from the components than that, "
                 "which can move the estimate by more than the interval's width"
                 + (" (with no human reference from this crawl, human text unlike the model's held-out sources "
                    "is the largest risk: give --human-reference or --reference-before)" if human["from"] == "model"
                    else "") + "."),
    )
    result["warnings"] = [w for w in result["warnings"] if w not in result["classify_and_count"]["warnings"]]
    if human["from"] == "model":
        result["warnings"].append(
            "no human reference from this crawl: the human component is the model's held-out human text, and on "
            "simulated corpora of sources it never saw this estimate was off by about 25 points on average, its "
            "interval covering the truth in about a quarter of them (README, How good is the prevalence estimate); "
            "run the filter with --reference-before 2022-11-30 or --human-reference for a usable estimate")
    if whole["spread"] > MISFIT_SPREAD:
        result["warnings"].append(
            f"the whole-distribution methods disagree by {whole['spread']:.0%} (mixture, HDy, median sweep): the "
            "corpus's scores do not look like a mixture of the two components, so treat the estimate with care")
    return result


def by_language_section(run: RunData) -> dict:
    return {"present": bool(run.scored.any()), "field": "synthsieve.language",
            "buckets": breakdown.buckets_for(run, run.language, max_buckets=MAX_BUCKETS)}


def by_source_section(run: RunData) -> dict:
    return {"present": run.n > 0, "field": "record `source`, else `url` host, else input file",
            "buckets": breakdown.buckets_for(run, run.source, max_buckets=MAX_BUCKETS)}


def by_domain_section(run: RunData) -> dict:
    present = any(value is not None for value in run.domain)
    if not present:
        return {"present": False, "field": "record `domain`", "buckets": []}
    keys = np.array([value if value is not None else ("(quarantined)" if part == QUARANTINE else "(no domain)")
                     for value, part in zip(run.domain, run.partition)], dtype=object)
    return {"present": True, "field": "record `domain`",
            "buckets": breakdown.buckets_for(run, keys, max_buckets=MAX_BUCKETS)}


def by_length_section(run: RunData) -> dict:
    min_tokens = int(thresholds_of(run).get("min_tokens") or 50)
    labels, order = breakdown.length_labels(run.n_tokens, run.scored, min_tokens)
    return {"present": bool(run.scored.any()), "field": "synthsieve.n_tokens (reference-LM tokens)",
            "edges": breakdown.length_edges(min_tokens), "too_short_below": min_tokens,
            "buckets": breakdown.buckets_for(run, labels, order=order)}


def date_labels(run: RunData) -> np.ndarray:
    before, after = f"before {CHATGPT_RELEASE.isoformat()}", f"on or after {CHATGPT_RELEASE.isoformat()}"
    return np.array(["undated" if d is None else (before if d < CHATGPT_RELEASE else after) for d in run.date],
                    dtype=object)


def by_date_section(run: RunData) -> dict:
    dated = np.array([d is not None for d in run.date], dtype=bool)
    section = {"present": bool(dated.any()), "field": "synthsieve.date",
               "cutoff": CHATGPT_RELEASE.isoformat(),
               "cutoff_meaning": "ChatGPT's public release (30 November 2022); documents dated earlier are "
                                 "very unlikely to be chat-model output, so their flag rate approximates the "
                                 "detector's false-positive rate on this crawl",
               "dated_documents": int(dated.sum()), "buckets": [], "years": []}
    if not dated.any():
        return section
    labels = date_labels(run)
    order = [f"before {CHATGPT_RELEASE.isoformat()}", f"on or after {CHATGPT_RELEASE.isoformat()}", "undated"]
    section["buckets"] = breakdown.buckets_for(run, labels, order=order)
    years = np.array([str(d.year) if d is not None else "undated" for d in run.date], dtype=object)
    section["years"] = sorted(breakdown.buckets_for(run, years), key=lambda b: b["key"])
    return section


def size_range(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"≥ {lo}"
    return str(lo) if hi - lo == 1 else f"{lo}–{hi - 1}"


def near_duplicate_section(run: RunData, top: int = TOP_CLUSTERS) -> dict:
    scored = run.scored & np.array([c is not None for c in run.cluster_id], dtype=bool)
    n_scored = int(run.scored.sum())
    ids = run.cluster_id[scored].astype(str)
    labels, inverse, sizes = np.unique(ids, return_inverse=True, return_counts=True)
    multi = sizes > 1
    clustered = int(sizes[multi].sum())
    edges = list(CLUSTER_SIZE_EDGES)
    distribution = []
    for lo, hi in zip(edges, edges[1:] + [None]):
        chosen = multi & (sizes >= lo) & ((sizes < hi) if hi else True)
        distribution.append({"size_range": size_range(lo, hi), "clusters": int(chosen.sum()),
                             "documents": int(sizes[chosen].sum())})
    largest = []
    p = run.p_machine[scored]
    parts = run.partition[scored]
    languages = run.language[scored]
    for index in np.argsort(-sizes, kind="stable")[:top]:
        if sizes[index] < 2:
            break
        members = inverse == index
        counts = {name: int((parts[members] == name).sum()) for name in SCORED_PARTITIONS}
        langs, lang_counts = np.unique(languages[members].astype(str), return_counts=True)
        largest.append({
            "cluster_id": str(labels[index]), "size": int(sizes[index]),
            "mean_p_machine": float(np.nanmean(p[members])) if np.isfinite(p[members]).any() else None,
            "partitions": counts,
            "shares": {name: counts[name] / int(sizes[index]) for name in SCORED_PARTITIONS},
            "languages": {str(k): int(v) for k, v in zip(langs, lang_counts)},
            "excerpt": run.excerpts.get(str(labels[index]), ""),
        })
    return {
        "clustered_documents": clustered,
        "clustered_share": clustered / n_scored if n_scored else None,
        "clusters": int(multi.sum()),
        "largest": largest,
        "size_distribution": distribution,
        "note": "clusters are the filter's MinHash near-duplicate groups; a cluster counts here when it has "
                "at least two members in this output",
    }


def tail_audit_section(run: RunData, min_documents: int = MIN_TAIL_DOCUMENTS) -> dict:
    scored = run.scored
    n_scored = int(scored.sum())
    overall = int((run.partition == SUSPECTED).sum()) / n_scored if n_scored else 0.0
    overall_uncertain = int((run.partition == UNCERTAIN).sum()) / n_scored if n_scored else 0.0
    min_tokens = int(thresholds_of(run).get("min_tokens") or 50)
    length, _ = breakdown.length_labels(run.n_tokens, scored, min_tokens)
    dimensions = [("language", run.language, True), ("source", run.source, True), ("length", length, False)]
    if any(value is not None for value in run.domain):
        domains = np.array([d if d is not None else "(no domain)" for d in run.domain], dtype=object)
        dimensions.append(("domain", domains, True))
    rows = []
    for name, keys, pool in dimensions:
        rows.extend(breakdown.tail_rows(run, name, keys, overall, min_documents, pool))
    rows.sort(key=lambda r: (not r["warning"], -(r["ratio"] if r["ratio"] is not None else -1),
                             r["dimension"], r["bucket"]))
    return {
        "removed_partition": SUSPECTED,
        "overall_removed_share": overall,
        "overall_uncertain_share": overall_uncertain,
        "min_documents": min_documents,
        "rule": f"a bucket is a warning when the filter would remove it at more than twice the overall rate "
                f"and it holds at least {min_documents} scored documents; values with fewer documents are "
                "pooled into one long-tail bucket per dimension",
        "n_warnings": sum(r["warning"] for r in rows),
        "rows": rows,
    }


def run_sections(run: RunData, rng: np.random.Generator, rate_draws=None) -> dict:
    return {
        "documents": documents_section(run),
        "partitions": partitions_section(run),
        "prevalence": prevalence_section(run, rng, rate_draws),
        "by_language": by_language_section(run),
        "by_source": by_source_section(run),
        "by_domain": by_domain_section(run),
        "by_length": by_length_section(run),
        "by_date": by_date_section(run),
        "near_duplicate_clusters": near_duplicate_section(run),
        "tail_audit": tail_audit_section(run),
    }
