"""The end-of-run summary printed by `synthsieve filter` and `synthsieve rethreshold`."""

from __future__ import annotations

from filters.document import PARTITIONS, QUARANTINE


def format_summary(manifest: dict, out_dir) -> str:
    counts = manifest["counts"]
    total = counts["documents"]
    timing = manifest.get("timing") or {}
    rate = timing.get("documents_per_second")
    head = f"synthsieve: {total:,} documents"
    if timing.get("seconds") is not None:
        head += f" in {timing['seconds']:.1f} s"
        if rate:
            head += f" ({rate:,.1f} docs/s this attempt)"
    lines = [f"{head} -> {out_dir}"]
    for partition in PARTITIONS:
        n = counts["partitions"].get(partition, 0)
        share = 100.0 * n / total if total else 0.0
        line = f"  {partition:<20} {n:>10,}  {share:5.1f}%"
        if partition == QUARANTINE and counts["quarantine_reasons"]:
            line += "  (" + ", ".join(f"{k} {v:,}" for k, v in counts["quarantine_reasons"].items()) + ")"
        lines.append(line)
    stages = counts["stages"]
    scored = sum(stages.values())
    if scored:
        lines.append("  decided by: " + ", ".join(
            f"{stage} {n:,} ({100.0 * n / scored:.1f}%)" for stage, n in stages.items()))
    near = manifest.get("near_duplicates")
    if near:
        lines.append(f"  near-duplicates: {near.get('clusters', 0):,} clusters holding "
                     f"{near.get('documents_in_clusters', 0):,} documents")
    if counts.get("duplicate_ids"):
        lines.append(f"  duplicate ids: {counts['duplicate_ids']:,} scored documents share their id with "
                     "another record (marked synthsieve.duplicate_id)")
    thresholds = manifest["thresholds"]
    lines.append(f"  thresholds: suspect >= {thresholds['suspect']:.4g}, ground < {thresholds['ground']:.4g}")
    calibration = manifest.get("calibration") or {}
    if calibration.get("reference"):
        reference, model = calibration["reference"], calibration["model_thresholds"]
        flagged = calibration["reference_flagged"]["at_corpus_suspect"]
        if calibration.get("overridden"):
            lines.append(f"  calibration on the human reference overridden by --suspect/--ground (the corpus's suspect "
                         f"was {calibration['corpus_thresholds']['suspect']:.4g}; the reference's flagged share is "
                         "not measured at the thresholds applied)")
        elif calibration.get("applied"):
            lines.append(f"  calibrated on the human reference ({reference['judged']:,} judged documents): suspect "
                         f"{model['suspect']:.4g} -> {thresholds['suspect']:.4g}; it flags {flagged['flagged']:,} of "
                         f"them (at most {flagged['upper_bound']:.2%} at {calibration['confidence']:.0%} confidence)")
        else:
            lines.append(f"  not calibrated: {calibration['reason']}")
    if manifest.get("thresholds_note"):
        lines.append(f"  note: {manifest['thresholds_note']}")
    if manifest.get("rethresholded_from"):
        lines.append(f"  re-routed from {manifest['rethresholded_from']['out']} without rescoring")
    lines.append(f"  manifest: {out_dir}/manifest.json")
    return "\n".join(lines)
