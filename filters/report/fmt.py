"""Number formatting shared by the HTML and Markdown renderers (plain strings; escaping is theirs), and
`visible`, which both renderers' escaping functions apply first to every value."""

from __future__ import annotations

import re

# Characters that change how the text around them is shown without showing themselves: bidirectional
# embeddings, overrides, isolates and marks (a crafted excerpt, source or host could reorder what a
# reader sees, "Trojan Source"), the C0 and C1 controls other than tab and newlines (terminal escape
# sequences when report.md is printed), zero-width spaces and joiners that split words (U+200B, U+2060,
# U+FEFF; ZWNJ/ZWJ U+200C/U+200D stay: scripts and emoji need them inside words), invisible operators,
# deprecated format controls, interlinear annotation marks and the invisible tag characters.
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u180e\u200b\u200e\u200f"
                       "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
                       "\U000e0000-\U000e007f]")


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> str:
    """`text` with every character of INVISIBLE written out as a visible escape (U+202E as `\\u202e`)."""
    return INVISIBLE.sub(_escape, text)


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


def method_rows(prevalence: dict) -> list[list[str]]:
    """The prevalence estimates side by side, for both renderers: [method, estimate, interval, how]."""
    headline = prevalence.get("headline_method")
    rows = [[name + (" (headline)" if name == headline else ""), pct(r["estimate"]), interval(r["ci_low"], r["ci_high"]),
             r["method"]] for name, r in (prevalence.get("methods") or {}).items()]
    counted = prevalence.get("classify_and_count") or {}
    rows.append(["classify_and_count" + (" (headline)" if headline == "classify_and_count" else ""),
                 pct(counted.get("estimate")), interval(counted.get("ci_low"), counted.get("ci_high")),
                 counted.get("method") or "–"])
    bound = prevalence.get("lower_bound")
    if bound:
        rows.append(["lower bound (no machine model)", pct(bound["estimate"]), interval(bound["ci_low"], bound["ci_high"]),
                     bound["meaning"]])
    return rows


def prevalence_fact_rows(prevalence: dict) -> list[list[str]]:
    """The prevalence facts for both renderers, each figure with the population it is of: the headline's
    documents first (the whole-distribution estimate counts only the documents the thresholds decide on),
    then the classify-and-count figure's (every scored document, flagged at one cut-off)."""
    rows = []
    if prevalence.get("headline_method") not in (None, "classify_and_count"):
        rows += [["headline: documents counted", num(prevalence.get("n_whole_distribution"))],
                 ["headline: population", prevalence.get("population_whole_distribution") or "–"],
                 ["headline: method", prevalence.get("method") or "–"]]
    counted = prevalence.get("classify_and_count") or prevalence
    rows += [["classify and count: documents counted", num(prevalence.get("n"))],
             ["classify and count: flagged", num(prevalence.get("flagged"))],
             ["classify and count: in suspected_synthetic", num(prevalence.get("flagged_by_decision"))],
             ["classify and count: TPR (from n_machine)",
              f"{score(prevalence.get('tpr'))} ({num(prevalence.get('n_machine'))})"],
             ["classify and count: FPR (from n_human)",
              f"{score(prevalence.get('fpr'))} ({num(prevalence.get('n_human'))})"],
             ["classify and count: flag rule", prevalence.get("flag_rule") or "–"],
             ["classify and count: population", prevalence.get("population") or "–"],
             ["classify and count: method", counted.get("method") or "–"]]
    return rows


def component_rows(prevalence: dict) -> list[list[str]]:
    return [[name, c["what"], num(c["n"])] for name, c in (prevalence.get("components") or {}).items()]


def calibration_rows(calibration: dict) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(headers, thresholds: [name, model, this corpus(, applied by hand)], facts: [name, value]) of a run
    calibrated on its human reference."""
    flagged = (calibration.get("reference_flagged") or {}).get("at_corpus_suspect") or {}
    thresholds = [["suspect", score(calibration["model_suspect"]), score(calibration["corpus_suspect"])],
                  ["ground", score(calibration["model_ground"]), score(calibration["corpus_ground"])]]
    facts = [["applied", "yes" if calibration["applied"] else f"no: {calibration['reason']}"],
             ["rule", calibration["rule"]],
             ["reference documents judged / scored",
              f"{num(calibration['reference_judged'])} / {num(calibration['reference_scored'])}"],
             ["reference flagged at the corpus's suspect",
              f"{num(flagged.get('flagged'))} (upper bound {pct(flagged.get('upper_bound'))})"],
             ["dated before", calibration["reference_before"] or "–"],
             ["reference files", ", ".join(f"{f['path']} ({(f['sha256'] or '')[:12]})"
                                           for f in calibration["reference_files"]) or "–"],
             ["reference scores SHA-256", calibration["reference_scores_sha256"] or "–"]]
    headers = ["", "model", "this corpus"]
    if calibration.get("overridden"):
        applied = calibration["overridden"]["thresholds"]
        thresholds = [row + [score(applied[row[0]])] for row in thresholds]
        facts.insert(0, ["overridden", calibration["overridden"]["note"]])
        headers.append("applied (by hand)")
    return headers, thresholds, facts
