"""Metrics for labelled data: ranking quality, rates at fixed false-positive rates, and the decisions."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from detector.decision import GROUNDED, SUSPECTED, UNCERTAIN


def auroc(y, p) -> float | None:
    y = np.asarray(y)
    if len(y) == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, p))


def tpr_at_fpr(y, p, fpr_target: float) -> float | None:
    """Best TPR whose FPR does not exceed the target (no interpolation past the target)."""
    y = np.asarray(y)
    if len(y) == 0 or y.min() == y.max():
        return None
    fpr, tpr, _ = roc_curve(y, p)
    ok = fpr <= fpr_target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def _rate(mask) -> float | None:
    mask = np.asarray(mask)
    return float(mask.mean()) if len(mask) else None


def decision_summary(y, decisions) -> dict:
    """F1 of `suspected` as the positive call, the 2x3 confusion matrix, and the uncertain share."""
    y, decisions = np.asarray(y), np.asarray(decisions)
    flagged = decisions == SUSPECTED
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn = int((~flagged & (y == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    confusion = {label: {d: int(((y == value) & (decisions == d)).sum()) for d in (GROUNDED, UNCERTAIN, SUSPECTED)}
                 for label, value in (("human", 0), ("machine", 1))}
    return {"f1": f1, "confusion": confusion, "uncertain_share": _rate(decisions == UNCERTAIN)}


def breakdown(keys, y, p, decisions) -> dict:
    """Per key: n, AUROC within the key where both classes occur, and the decision shares."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[str(key)].append(i)
    y, p, decisions = np.asarray(y), np.asarray(p), np.asarray(decisions)
    out = {}
    for key in sorted(groups):
        idx = np.array(groups[key])
        out[key] = {
            "n": int(len(idx)),
            "auroc": auroc(y[idx], p[idx]),
            "suspected_share": _rate(decisions[idx] == SUSPECTED),
            "uncertain_share": _rate(decisions[idx] == UNCERTAIN),
            "grounded_share": _rate(decisions[idx] == GROUNDED),
            "mean_p_machine": float(p[idx].mean()),
        }
    return out


def by_generator(generators, y, p, decisions) -> dict:
    """Each generator's machine texts against all human texts: AUROC and how often it is caught."""
    y, p, decisions, generators = map(np.asarray, (y, p, decisions, generators))
    human = y == 0
    out = {}
    for gen in sorted(set(generators[y == 1].tolist())):
        mine = (generators == gen) & (y == 1)
        idx = mine | human
        out[str(gen)] = {"n": int(mine.sum()), "auroc": auroc(y[idx], p[idx]),
                         "detected_share": _rate(decisions[mine] == SUSPECTED),
                         "uncertain_share": _rate(decisions[mine] == UNCERTAIN)}
    return out


def evaluate(y, p, decisions, generators=None, domains=None, languages=None) -> dict:
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    result = {
        "n": int(len(y)),
        "n_human": int((y == 0).sum()),
        "n_machine": int((y == 1).sum()),
        "auroc": auroc(y, p),
        "tpr_at_1pct_fpr": tpr_at_fpr(y, p, 0.01),
        "tpr_at_0_1pct_fpr": tpr_at_fpr(y, p, 0.001),
        "false_positive_rate": _rate(np.asarray(decisions)[y == 0] == SUSPECTED),
        **decision_summary(y, decisions),
    }
    result["by_generator"] = by_generator(generators, y, p, decisions) if generators is not None else {}
    result["by_domain"] = breakdown(domains, y, p, decisions) if domains is not None else {}
    # The abstention budget is set for English; other languages are uncertain by rule.
    result["by_language"] = breakdown(languages, y, p, decisions) if languages is not None else {}
    return result


def plot_roc(y, p, path, title: str = "ROC") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUROC {auroc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("false-positive rate (human text flagged)")
    ax.set_ylabel("true-positive rate (machine text flagged)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

