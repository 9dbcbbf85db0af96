import numpy as np
import pytest

from detector.decision import GROUNDED, SUSPECTED, UNCERTAIN, Thresholds, decide
from detector.evaluation import auroc
from detector.thresholds import (cascade_costs, cascade_cutoff, error_rates, threshold_for_fpr,
                                 threshold_for_miss_rate)

T = Thresholds(suspect=0.9, ground=0.3, overwhelming=0.99, min_tokens=50)


@pytest.mark.parametrize("p,language,n_tokens,expected", [
    (0.95, "en", 200, SUSPECTED),
    (0.90, "en", 200, SUSPECTED),
    (0.50, "en", 200, UNCERTAIN),
    (0.10, "en", 200, GROUNDED),
    (0.95, "zh", 200, UNCERTAIN),    # the reference LM is out of its depth: not synthetic
    (0.10, "zh", 200, UNCERTAIN),    # ... and not grounded either
    (0.995, "zh", 200, SUSPECTED),   # unless the evidence is overwhelming
    (0.95, "en", 20, UNCERTAIN),     # too short to judge
])
def test_decide(p, language, n_tokens, expected):
    assert decide(p, language, n_tokens, T) == expected


def test_thresholds_validate_order_and_round_trip():
    with pytest.raises(ValueError):
        Thresholds(suspect=0.2, ground=0.5)
    assert Thresholds.from_dict(T.to_dict()) == T
    assert T.with_overrides(suspect=0.995).overwhelming == 0.995
    assert T.with_overrides(ground=0.1).ground == 0.1


def test_threshold_for_fpr_meets_target_and_is_tight():
    rng = np.random.default_rng(0)
    human = rng.beta(2, 5, size=2000)
    t = threshold_for_fpr(human, 0.01)
    assert (human >= t).mean() <= 0.01
    # Any lower cut-off at the next human score would exceed the target.
    below = human[human < t].max()
    assert (human >= below).mean() > 0.01


def test_threshold_for_miss_rate_meets_target():
    rng = np.random.default_rng(1)
    machine = rng.beta(5, 2, size=1000)
    t = threshold_for_miss_rate(machine, 0.05)
    assert (machine < t).mean() <= 0.05
    assert (machine <= t).mean() > 0.05 - 1e-9


def test_error_rates_report_counts():
    rates = error_rates([0.1, 0.95], [0.97, 0.5, 0.99], 0.9)
    assert rates == {"tpr": pytest.approx(2 / 3), "fpr": 0.5, "n_machine": 3, "n_human": 2}


def test_threshold_for_abstention_keeps_the_band_within_budget():
    from detector.thresholds import threshold_for_abstention

    rng = np.random.default_rng(2)
    p = rng.random(1000)
    g = threshold_for_abstention(p, suspect=0.9, max_uncertain=0.2)
    assert ((p >= g) & (p < 0.9)).mean() <= 0.2
    assert ((p >= g - 0.01) & (p < 0.9)).mean() > 0.2  # and no lower threshold would do


def test_fpr_bound_threshold_is_stricter_than_the_point_estimate():
    from detector.thresholds import fpr_upper_bound, threshold_for_fpr_bound

    rng = np.random.default_rng(4)
    human = rng.beta(2, 5, size=500)
    strict = threshold_for_fpr_bound(human, 0.01)
    assert strict >= threshold_for_fpr(human, 0.01)
    k = int((human >= strict).sum())
    assert fpr_upper_bound(k, len(human)) <= 0.01
    assert fpr_upper_bound(k + 1, len(human)) > 0.01


def test_cascade_cutoff_is_capped_when_the_cheap_stage_ranks_like_the_full_model():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(300), np.ones(300)]
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, 600), 0, 1)
    assert cascade_cutoff(p, p, y, ground=0.4, suspect=0.9) == 0.9


def test_cascade_cutoff_stops_where_the_cheap_stage_would_cost_auroc():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(400), np.ones(400)]
    p_full = np.clip(0.3 * y + rng.uniform(0, 0.7, 800), 0, 1)
    p_cheap = np.where(p_full < 0.3, p_full, rng.uniform(0, 1, 800))  # only the bottom is trustworthy
    c = cascade_cutoff(p_cheap, p_full, y, ground=0.5, suspect=0.9, max_auroc_loss=0.005, max_disagreement=1.0)
    assert 0 < c < 0.9
    mixed = np.where(p_cheap < c, p_cheap, p_full)
    assert auroc(y, p_full) - auroc(y, mixed) <= 0.005
    wider = np.where(p_cheap < 0.9, p_cheap, p_full)
    assert auroc(y, p_full) - auroc(y, wider) > 0.005


def test_cascade_cutoff_respects_the_decision_disagreement_budget():
    y = np.r_[np.zeros(100), np.ones(100)]
    p_full = np.r_[np.full(100, 0.1), np.full(100, 0.6)]
    p_cheap = np.r_[np.full(100, 0.1), np.full(100, 0.3)]  # same ranking, other decisions for machines
    assert cascade_cutoff(p_cheap, p_full, y, ground=0.5, suspect=0.9, max_disagreement=0.02) <= 0.3
    assert cascade_cutoff(p_cheap, p_full, y, ground=0.5, suspect=0.9, max_disagreement=0.6) == 0.9


def test_cascade_costs_measure_the_mixed_score_and_the_changed_decisions():
    y = np.r_[np.zeros(4), np.ones(4)]
    p_full = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.8, 0.95, 0.97])
    # The cheap stage puts one machine document (index 4) below every human one.
    p_cheap = np.array([0.2, 0.1, 0.3, 0.6, 0.05, 0.8, 0.95, 0.97])
    alone = np.array([True, True, False, False, True, True, False, False])
    costs = cascade_costs(p_cheap, p_full, y, alone, ground=0.5, suspect=0.9)
    assert costs["decided_alone"] == costs["lm_reads"] == 0.5
    assert costs["auroc_full"] == auroc(y, p_full) == 1.0
    assert costs["auroc_cascade"] == auroc(y, np.where(alone, p_cheap, p_full)) == 0.75
    assert costs["auroc_loss_points"] == pytest.approx(25.0)
    assert costs["decisions_changed"] == 0.0  # the four alone-decided documents keep their decisions
    costs = cascade_costs(p_cheap, p_full, y, np.ones(8, bool), ground=0.5, suspect=0.9)
    assert costs["decisions_changed"] == pytest.approx(1 / 8)  # index 3: uncertain, grounded by the full model
    judged = np.r_[np.ones(4, bool), np.zeros(4, bool)]
    assert cascade_costs(p_cheap, p_full, y, np.ones(8, bool), 0.5, 0.9, judged=judged)["decisions_changed"] == 0.25


def _promise_scores(seed=0):
    rng = np.random.default_rng(seed)
    return rng.beta(6, 2, size=3000), {"a": rng.beta(2, 6, size=1500), "b": rng.beta(2, 4, size=800)}


def test_promise_thresholds_keep_machine_out_of_grounded_and_humans_out_of_flagged():
    from detector.thresholds import fpr_upper_bound, promise_thresholds

    machine, humans = _promise_scores()
    rule = promise_thresholds(machine, humans, max_machine_grounded=0.10, max_human_flagged=0.01, confidence=0.95)
    ground, suspect = rule["ground"], rule["suspect"]
    assert (machine < ground).mean() <= 0.10
    for name, scores in humans.items():
        flagged = int((scores >= suspect).sum())
        assert fpr_upper_bound(flagged, len(scores), 0.95) <= 0.01, name
        assert rule["human_flagged"][name]["flagged"] == flagged
    # The harder human set ("b", more machine-like) is the one that sets the cut-off.
    assert rule["suspect_by_human_set"]["b"] > rule["suspect_by_human_set"]["a"]
    assert suspect == max(0.5, rule["suspect_by_human_set"]["b"])
    assert rule["machine_grounded"] == pytest.approx((machine < ground).mean())


def test_promise_thresholds_never_contradict_p_machine():
    """grounded only below 0.5 and flagged only at or above it, whatever the targets allow."""
    from detector.thresholds import NEUTRAL_P, promise_thresholds

    rng = np.random.default_rng(1)
    # Machine scores mostly above 0.7: the 10% rule alone would ground everything below ~0.7.
    machine = rng.uniform(0.7, 1.0, size=1000)
    humans = {"h": rng.uniform(0.0, 0.3, size=1000)}  # the 1% rule alone would flag from ~0.3
    rule = promise_thresholds(machine, humans)
    assert rule["ground_from_machine_rule"] > NEUTRAL_P and rule["ground"] == NEUTRAL_P
    assert rule["suspect_by_human_set"]["h"] < NEUTRAL_P and rule["suspect"] == NEUTRAL_P
    Thresholds(suspect=rule["suspect"], ground=rule["ground"])  # a valid order


def test_promise_thresholds_widen_uncertain_when_targets_tighten():
    from detector.thresholds import promise_thresholds

    machine, humans = _promise_scores(2)
    loose = promise_thresholds(machine, humans, 0.20, 0.02)
    strict = promise_thresholds(machine, humans, 0.05, 0.005)
    assert strict["ground"] <= loose["ground"] and strict["suspect"] >= loose["suspect"]


def test_overwhelming_threshold_holds_every_unjudged_kinds_human_text_below_the_target():
    from detector.thresholds import OVERWHELMING_FLOOR, fpr_upper_bound, overwhelming_threshold

    rng = np.random.default_rng(0)
    big = rng.uniform(0.0, 1.0, 2000)  # 2,000 human scores of one language: the rule may flag a few
    small = np.array([0.2, 0.9991, 0.5])  # a rare language: too few to show 1%, so none may be flagged
    cut, by_set = overwhelming_threshold(0.9, {"zh": big, "sw": small, "empty": np.array([])}, 0.01, 0.95)
    assert set(by_set) == {"zh", "sw"}  # a kind with no held-out human text asks for nothing
    flagged = int((big >= cut).sum())
    assert flagged >= 1 and fpr_upper_bound(flagged, len(big), 0.95) <= 0.01
    assert cut > 0.9991 and not (small >= cut).any() and cut == max(by_set.values())
    # Never below suspect, nor below the fixed cut-off the rule replaced: with no human text of a kind
    # (or none at all) the evidence shows nothing, and the one cut-off serves every language.
    assert overwhelming_threshold(0.998, {"es": np.zeros(500)}, 0.01, 0.95)[0] == 0.998
    assert overwhelming_threshold(0.9, {"es": np.zeros(500)}, 0.01, 0.95)[0] == OVERWHELMING_FLOOR
    assert overwhelming_threshold(0.9, {}, 0.01, 0.95) == (OVERWHELMING_FLOOR, {})
    with pytest.raises(ValueError, match="'ru'"):
        overwhelming_threshold(0.9, {"ru": np.array([0.2, np.nan])}, 0.01, 0.95)


def test_unjudged_human_sets_group_scored_human_rows_the_lm_cannot_judge():
    from detector.training.evidence import EvidenceTable
    from detector.training.folds import unjudged_human_sets

    y = np.array([0, 0, 0, 0, 1, 0, 0])
    rows = [{"id": str(i), "text": "", "source": "s/x", "set": "train:all"} for i in range(len(y))]
    table = EvidenceTable(rows=rows, y=y, sets=np.array(["train:all"] * len(y), dtype=object),
                          language=np.array(["en", "en", "ru", "ru", "ru", "zh", "ru"], dtype=object),
                          n_tokens=np.array([200, 10, 200, 10, 200, 80, 90]), stats=np.zeros((len(y), 1)),
                          hidden=np.zeros((len(y), 1)), tokens=[None] * len(y), text_parts=np.zeros((len(y), 1)))
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, np.nan])  # the last row was not scored held out
    sets = unjudged_human_sets(table, p, min_tokens=50)
    assert set(sets) == {"en<50", "ru", "zh"}  # judgeable English and machine rows are left out
    np.testing.assert_array_equal(sets["en<50"], [0.2])
    np.testing.assert_array_equal(sets["ru"], [0.3, 0.4])  # short or long, a language is one kind
    np.testing.assert_array_equal(sets["zh"], [0.6])
