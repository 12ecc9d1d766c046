import math

import pytest

from memopt import claims
from memopt.claims import CLAIM_KEY, ClaimFailed


@pytest.mark.parametrize(
    "expected, inside, outside",
    [
        (claims.at_most(2.0), [2.0, -1e9], [2.0000001, math.nan, math.inf]),
        (claims.at_least(2.0), [2.0, 1e9], [1.999, math.nan]),
        (claims.between(2, 8, nominal=4), [2, 4, 8], [1.99, 8.01, math.nan]),
    ],
)
def test_expectations_hold_exactly_on_their_interval(expected, inside, outside):
    assert all(expected.holds(x) for x in inside)
    assert not any(expected.holds(x) for x in outside)


def test_descriptions():
    assert claims.at_most(0.012345).describe() == "≤ 0.0123"
    assert claims.at_least(3).describe() == "≥ 3"
    assert claims.between(2, 8).describe() == "in [2, 8]"
    assert claims.between(8, 32, nominal=16).describe() == "≈ 16, accepted in [8, 32]"


def test_passing_check_displays_and_returns_nothing(capsys):
    assert claims.check("x is small", 0.5, claims.at_most(1), source="paper, eq. 1") is None
    out = capsys.readouterr().out
    assert out.startswith("[pass] x is small: measured 0.5, paper ≤ 1 (paper, eq. 1)")


def test_failing_check_raises_after_displaying(capsys):
    with pytest.raises(ClaimFailed, match="x is small"):
        claims.check("x is small", 2.0, claims.at_most(1), source="paper")
    assert "[fail]" in capsys.readouterr().out


def test_nan_measurement_fails():
    with pytest.raises(ClaimFailed):
        claims.check("finite", math.nan, claims.at_least(0), source="paper")


def test_not_reproduced_is_recorded_and_must_stay_true(capsys):
    claims.check("peak at N = n", 3.0, claims.at_most(1), source="paper", not_reproduced="too small n")
    assert "[not reproduced]" in capsys.readouterr().out
    with pytest.raises(ClaimFailed, match="now holds"):
        claims.check("peak at N = n", 0.5, claims.at_most(1), source="paper", not_reproduced="too small n")


def test_record_is_rounded_text_in_the_output_metadata():
    claim = claims.evaluate("gap", 0.123456789, claims.at_most(0.2), source="lecture")
    data, metadata = claim._repr_mimebundle_()
    assert metadata[CLAIM_KEY] == {
        "claim": "gap", "measured": "0.123", "expected": "≤ 0.2", "source": "lecture", "status": "pass",
    }
    assert "PASS" in data["text/html"] and data["text/plain"] == str(claim)
    odd = claims.evaluate("<b>&", 1.0, claims.at_most(2), source="s")
    assert "&lt;b&gt;&amp;" in odd._repr_html_()


@pytest.mark.parametrize(
    "args, error",
    [
        (("", 1.0, claims.at_most(1)), ValueError),
        (("c", True, claims.at_most(1)), TypeError),
        (("c", "1", claims.at_most(1)), TypeError),
        (("c", 1.0, 1.0), TypeError),
    ],
)
def test_bad_claims_are_rejected(args, error):
    with pytest.raises(error):
        claims.evaluate(*args, source="s")


def test_bad_expectations_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        claims.between(3, 2)
    with pytest.raises(ValueError, match="nominal"):
        claims.between(2, 3, nominal=5)
    with pytest.raises(ValueError):
        claims.at_most(math.nan)
    with pytest.raises(ValueError, match="source"):
        claims.evaluate("c", 1.0, claims.at_most(2), source=" ")
    with pytest.raises(ValueError, match="reason"):
        claims.evaluate("c", 1.0, claims.at_most(2), source="s", not_reproduced="")


def test_relative_gap_hides_rounding_only():
    assert claims.relative_gap(1.0 + 4e-16, 1.0) == 0.0
    assert claims.relative_gap(1.0 + 1e-12, 1.0) == pytest.approx(1e-12, rel=1e-3)
    assert claims.relative_gap(-2.0, -1.0) == 1.0


def test_estimate_is_decided_only_clear_of_the_threshold(capsys):
    inside = claims.Estimate(0.4, 0.35, 0.45, "mean ± 2 s.e. over 8 seeds")
    straddling = claims.Estimate(0.5, 0.45, 0.55, "mean ± 2 s.e. over 8 seeds")
    outside = claims.Estimate(0.7, 0.6, 0.8, "mean ± 2 s.e. over 8 seeds")
    limit = claims.at_most(0.5)
    assert claims.evaluate("c", inside, limit, source="s").status == claims.PASS
    assert claims.evaluate("c", straddling, limit, source="s").status == claims.UNDECIDED
    assert claims.evaluate("c", outside, limit, source="s").status == claims.FAIL
    assert claims.evaluate("c", outside, limit, source="s", not_reproduced="why").status == claims.NOT_REPRODUCED
    with pytest.raises(ClaimFailed, match="undecided"):
        claims.check("c", straddling, limit, source="s")
    with pytest.raises(ClaimFailed, match="undecided"):
        claims.check("c", straddling, limit, source="s", not_reproduced="why")
    claims.check("c", inside, limit, source="s")
    assert "measured 0.4 [0.35, 0.45] (mean ± 2 s.e. over 8 seeds), paper ≤ 0.5" in capsys.readouterr().out


def test_estimate_record_carries_its_uncertainty():
    record = claims.evaluate("c", claims.median_with_range([3.0, 1.0, 2.0]), claims.at_least(0.5), source="s").record()
    assert record["measured"] == "2 [1, 3]"
    assert record["uncertainty"] == "median, range over 3 seeds"


def test_mean_with_error_matches_the_textbook_standard_error():
    samples = [1.0, 2.0, 3.0, 4.0]
    estimate = claims.mean_with_error(samples, what="instances")
    half = 2 * math.sqrt(sum((x - 2.5) ** 2 for x in samples) / 3) / 2
    assert estimate.value == 2.5
    assert math.isclose(estimate.high - 2.5, half) and math.isclose(2.5 - estimate.low, half)
    assert estimate.method == "mean ± 2 s.e. over 4 instances"


@pytest.mark.parametrize("samples", [[], [1.0]])
def test_an_uncertainty_needs_two_samples(samples):
    with pytest.raises(ValueError, match="at least 2"):
        claims.mean_with_error(samples)


def test_estimate_interval_must_contain_its_value():
    with pytest.raises(ValueError, match="contain"):
        claims.Estimate(1.0, 2.0, 3.0, "m")


def test_kind_paper_and_post_hoc_reach_the_record_and_the_line():
    claim = claims.evaluate("ratio", 4.0, claims.at_least(3), source="Fig. 1", kind="reproduction",
                            paper="about 1000", post_hoc="first run used 2")
    record = claim.record()
    assert (record["kind"], record["paper"], record["decided"]) == (
        "reproduction", "about 1000", "after a run: first run used 2")
    assert str(claim) == ("[pass] reproduction: ratio: measured 4; criterion ≥ 3 (set after a run: first run "
                          "used 2); paper: about 1000 (Fig. 1)")
    plain = claims.evaluate("gap", 1.0, claims.at_most(2), source="s", kind="sanity").record()
    assert plain["paper"] == "not stated" and plain["decided"] == "before the first run"


@pytest.mark.parametrize("options", [{"kind": "result"}, {"kind": "bound", "paper": " "},
                                     {"kind": "bound", "post_hoc": ""}])
def test_bad_kind_or_statements_are_rejected(options):
    with pytest.raises(ValueError):
        claims.evaluate("c", 1.0, claims.at_most(2), source="s", **options)
