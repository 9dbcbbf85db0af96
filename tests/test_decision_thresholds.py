import numpy as np
import pytest

from detector.decision import GROUNDED, SUSPECTED, UNCERTAIN, Thresholds, decide
from detector.thresholds import error_rates, threshold_for_fpr, threshold_for_miss_rate

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
