"""What the integration tests (tests/filters/integrations/) check of every path."""

from __future__ import annotations

import pytest


def assert_same_decisions(filter_rows: dict, annotations: dict) -> None:
    """Every document: the same p_machine, decision and deciding stage as `synthsieve filter`; and the
    annotation holds every field of the filter's `synthsieve` object, plus `quarantine`."""
    assert set(annotations) == set(filter_rows)
    for key, expected in filter_rows.items():
        got = annotations[key]
        assert set(got) == set(expected) | {"quarantine"}, key
        assert got["p_machine"] == pytest.approx(expected["p_machine"], abs=1e-9), key
        assert (got["decision"], got["decided_by"], got["n_tokens"], got["language"]) == \
            (expected["decision"], expected["decided_by"], expected["n_tokens"], expected["language"]), key
        assert got["reasons"] == expected["reasons"], key
        assert got["cluster_size"] == expected["cluster_size"] == 1, key
        assert got["quarantine"] is None
