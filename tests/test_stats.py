"""Statistics over the tidy results table; expected values are worked out by hand in comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evalkit.report.stats import (
    PairedResult,
    bootstrap_ci,
    compare_systems,
    holm_adjust,
    paired_test,
    ranking,
    summarize,
)

NAN = float("nan")


def tidy(rows):
    """A results table from (document_id, system, metric, value) tuples."""
    return pd.DataFrame(rows, columns=["document_id", "system", "metric", "value"])


# -- bootstrap_ci --------------------------------------------------------------------------

def test_bootstrap_ci_two_values_by_hand():
    # Resampling [0, 1] twice with replacement gives means 0, 0.5, 1 with probabilities
    # 1/4, 1/2, 1/4. The 2.5% and 97.5% quantiles are therefore 0 and 1 (each end holds a
    # quarter of the mass, far more than 2.5%, so 10000 resamples cannot miss them).
    assert bootstrap_ci([0.0, 1.0], n_resamples=10000, seed=3) == (0.5, 0.0, 1.0)


def test_bootstrap_ci_contains_mean_and_is_seed_reproducible():
    values = [0.2, 0.4, 0.35, 0.9, 0.1, 0.55, 0.6, 0.3]
    mean, low, high = bootstrap_ci(values, seed=7)
    assert mean == pytest.approx(sum(values) / len(values))
    assert low < mean < high
    assert bootstrap_ci(values, seed=7) == (mean, low, high)
    assert bootstrap_ci(values, seed=8) != (mean, low, high)
    # A wider confidence gives a wider interval (same resamples, outer quantiles).
    _, low99, high99 = bootstrap_ci(values, confidence=0.99, seed=7)
    assert low99 <= low and high99 >= high


def test_bootstrap_ci_excludes_undefined_values():
    # None and NaN are dropped: the data are [2, 4], mean 3, and the resampling is that of [2, 4].
    assert bootstrap_ci([2.0, None, NAN, 4.0], seed=1) == bootstrap_ci([2.0, 4.0], seed=1)
    assert bootstrap_ci([2.0, None, NAN, 4.0], seed=1)[0] == 3.0


def test_bootstrap_ci_constant_and_empty():
    assert bootstrap_ci([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7, 0.7))
    for empty in ([], [None, NAN]):
        assert all(math.isnan(v) for v in bootstrap_ci(empty))


def test_bootstrap_ci_rejects_bad_settings():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], n_resamples=0)


# -- summarize -----------------------------------------------------------------------------

def test_summarize_counts_undefined_and_never_treats_them_as_zero():
    table = tidy([
        ("d1", "A", "m", 1.0), ("d2", "A", "m", 2.0), ("d3", "A", "m", NAN), ("d4", "A", "m", None),
        ("d1", "A", "m2", 5.0),
        ("d1", "B", "m", None),
    ])
    out = summarize(table).set_index(["system", "metric"])
    assert list(out.columns) == ["mean", "ci_low", "ci_high", "n", "n_undefined"]
    # A/m: defined values 1 and 2 -> mean 1.5 (it would be 0.75 if the undefined were zeros).
    assert out.loc[("A", "m"), "mean"] == 1.5
    assert (out.loc[("A", "m"), "n"], out.loc[("A", "m"), "n_undefined"]) == (2, 2)
    assert out.loc[("A", "m"), "ci_low"] <= 1.5 <= out.loc[("A", "m"), "ci_high"]
    # A/m2: one value, 5 -> (5, 5, 5).
    assert tuple(out.loc[("A", "m2"), ["mean", "ci_low", "ci_high"]]) == (5.0, 5.0, 5.0)
    # B/m: nothing defined.
    assert math.isnan(out.loc[("B", "m"), "mean"])
    assert (out.loc[("B", "m"), "n"], out.loc[("B", "m"), "n_undefined"]) == (0, 1)


def test_summarize_requires_the_tidy_columns():
    with pytest.raises(ValueError, match="value"):
        summarize(pd.DataFrame({"document_id": ["d"], "system": ["A"], "metric": ["m"]}))


# -- paired_test ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_identical_systems_give_p_one(method):
    # Every difference is 0, so every resampled statistic is >= the observed 0:
    # count = n_resamples and p = (n_resamples + 1) / (n_resamples + 1) = 1.
    values = [0.3, 0.5, 0.1, 0.8, 0.4]
    result = paired_test(values, values, method=method, n_resamples=2000)
    assert result == PairedResult(0.0, 1.0, 0.0, 0.0, 5)


@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_clearly_shifted_system_is_significant(method):
    rng = np.random.default_rng(42)
    a = rng.normal(0.40, 0.10, size=40)
    b = a - 0.05 + rng.normal(0.0, 0.01, size=40)  # b is 0.05 worse on every document, +- noise
    result = paired_test(a, b, method=method)
    assert result.n == 40
    assert result.mean_diff == pytest.approx(np.mean(a - b))
    assert result.p_value < 0.01
    assert result.ci_low < result.mean_diff < result.ci_high
    assert result.ci_low > 0
    assert paired_test(a, b, method=method) == result  # seeded


def test_permutation_p_value_by_hand():
    # d = [1, 1, 1]: of the 8 sign patterns only +++ and --- give |mean| >= 1, so the exact
    # p-value is 2/8 = 0.25; the Monte Carlo estimate with 10000 flips has s.e. ~0.0043.
    result = paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], method="permutation", n_resamples=10000)
    assert result.mean_diff == 1.0
    assert result.p_value == pytest.approx(0.25, abs=0.02)
    # d = [2, 1]: the flipped means are 1.5, 0.5, -0.5, -1.5; |mean| >= 1.5 in 2 of 4 -> 0.5.
    result = paired_test([2.0, 1.0], [0.0, 0.0], method="permutation", n_resamples=10000)
    assert result.p_value == pytest.approx(0.5, abs=0.03)


def test_shifted_bootstrap_p_value_by_hand():
    # d = [1, 1, 1]: every bootstrap mean is 1, so |delta* - delta| = 0 < |delta| = 1 always:
    # count = 0 and p = 1 / (n_resamples + 1); the interval is (1, 1).
    result = paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], method="bootstrap", n_resamples=999)
    assert result == PairedResult(1.0, 1 / 1000, 1.0, 1.0, 3)


def test_pairs_with_an_undefined_side_are_dropped():
    # Only document 0 has both values: d = 3 - 1 = 2.
    result = paired_test([3.0, NAN, 5.0, None], [1.0, 2.0, None, 4.0], n_resamples=100)
    assert result.n == 1
    assert result.mean_diff == 2.0
    nothing = paired_test([NAN, 1.0], [2.0, None])
    assert nothing.n == 0 and math.isnan(nothing.p_value) and math.isnan(nothing.mean_diff)


def test_paired_test_rejects_misaligned_input_and_unknown_method():
    with pytest.raises(ValueError, match="aligned"):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="permutation"):
        paired_test([1.0], [2.0], method="t-test")


# -- Holm ----------------------------------------------------------------------------------

def test_holm_by_hand():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005, 0.01, 0.03, 0.04.
    #   0.005 * 4 = 0.02
    #   0.01  * 3 = 0.03  -> max(0.02, 0.03) = 0.03
    #   0.03  * 2 = 0.06  -> 0.06
    #   0.04  * 1 = 0.04  -> max(0.06, 0.04) = 0.06 (monotone)
    # Back in input order: [0.03, 0.06, 0.06, 0.02].
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1: [0.5, 0.6] -> 0.5 * 2 = 1.0, then max(1.0, 0.6) = 1.0.
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    # A NaN (untested pair) is kept and not counted: m = 2 -> 0.02*2 = 0.04, max(0.04, 0.04).
    adjusted = holm_adjust([0.02, NAN, 0.04])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])


# -- compare_systems -----------------------------------------------------------------------

def three_systems():
    # A = B + 1 on every document; C lacks d4 and is undefined on d3.
    return tidy([
        ("d1", "A", "m", 1.0), ("d2", "A", "m", 2.0), ("d3", "A", "m", 3.0), ("d4", "A", "m", 4.0),
        ("d1", "B", "m", 0.0), ("d2", "B", "m", 1.0), ("d3", "B", "m", 2.0), ("d4", "B", "m", 3.0),
        ("d1", "C", "m", 1.0), ("d2", "C", "m", 2.0), ("d3", "C", "m", None),
        ("d1", "A", "other", 9.0),
    ])


def test_compare_systems_aligns_on_documents_and_counts_unpaired():
    out = compare_systems(three_systems(), "m").set_index(["system_a", "system_b"])
    assert list(out.index) == [("A", "B"), ("A", "C"), ("B", "C")]
    # A vs B: 4 pairs, means 2.5 and 1.5, diff 1; sign-flip p = 2/2^4 = 0.125 (approx).
    ab = out.loc[("A", "B")]
    assert (ab["n"], ab["n_unpaired"]) == (4, 0)
    assert (ab["mean_a"], ab["mean_b"], ab["diff"]) == (2.5, 1.5, 1.0)
    assert ab["p_value"] == pytest.approx(0.125, abs=0.02)
    # A vs C: only d1, d2 are paired (d3 undefined for C, d4 missing) -> n 2, 2 unpaired;
    # means over the paired documents: A (1+2)/2 = 1.5, C 1.5; diff 0 -> p = 1.
    ac = out.loc[("A", "C")]
    assert (ac["n"], ac["n_unpaired"]) == (2, 2)
    assert (ac["mean_a"], ac["mean_b"], ac["diff"], ac["p_value"]) == (1.5, 1.5, 0.0, 1.0)
    # B vs C: d1, d2: B 0.5, C 1.5, diff -1; p = 2/2^2 = 0.5 (approx).
    bc = out.loc[("B", "C")]
    assert (bc["n"], bc["mean_a"], bc["mean_b"], bc["diff"]) == (2, 0.5, 1.5, -1.0)
    assert bc["p_value"] == pytest.approx(0.5, abs=0.03)
    # Holm over the three p-values, by the rule: smallest x3, next x2 (running max), largest x1.
    p_ab, p_bc = ab["p_value"], bc["p_value"]
    assert ab["p_adjusted"] == pytest.approx(min(1.0, 3 * p_ab))
    assert bc["p_adjusted"] == pytest.approx(max(min(1.0, 3 * p_ab), min(1.0, 2 * p_bc)))
    assert ac["p_adjusted"] == pytest.approx(1.0)
    assert not out["significant"].any()  # 4 documents are too few for p <= 0.05


def test_compare_systems_without_correction_and_with_a_subset():
    out = compare_systems(three_systems(), "m", correction="none", systems=["B", "A"])
    assert list(zip(out["system_a"], out["system_b"])) == [("B", "A")]
    assert out["p_adjusted"].tolist() == out["p_value"].tolist()
    assert out["diff"].tolist() == [-1.0]


def test_compare_systems_errors_name_what_is_available():
    table = three_systems()
    with pytest.raises(ValueError, match=r"unknown metric 'rouge'.*m, other"):
        compare_systems(table, "rouge")
    with pytest.raises(ValueError, match=r"unknown system.*'Z'.*A, B, C"):
        compare_systems(table, "m", systems=["A", "Z"])
    with pytest.raises(ValueError, match="holm"):
        compare_systems(table, "m", correction="bonferroni")
    duplicated = pd.concat([table, tidy([("d1", "A", "m", 1.5)])])
    with pytest.raises(ValueError, match="more than one row"):
        compare_systems(duplicated, "m")


# -- ranking -------------------------------------------------------------------------------

def ladder():
    # 20 documents; good = base + 2, mid = mid2 = base + 1, bad = base (undefined on d0).
    # Each constant, nonzero difference over >= 19 documents has an exact sign-flip p-value
    # of 2 / 2^19 or less, so with 10000 flips p = 1/10001 and Holm (x6) keeps it far below
    # 0.05; mid vs mid2 differ by exactly 0 -> p = 1.
    base = np.linspace(0.1, 0.5, 20)
    rows = []
    for k, value in enumerate(base):
        rows += [(f"d{k}", "good", "m", value + 2), (f"d{k}", "mid", "m", value + 1),
                 (f"d{k}", "mid2", "m", value + 1), (f"d{k}", "bad", "m", None if k == 0 else value)]
    return tidy(rows)


def test_ranking_orders_groups_and_says_who_beats_whom():
    out = ranking(ladder(), "m")
    assert out["system"].tolist() == ["good", "mid", "mid2", "bad"]  # mid/mid2 tie: by name
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["group"].tolist() == ["A", "B", "B", "C"]
    assert out["better_than"].tolist() == ["> mid, mid2, bad", "> bad", "> bad", ""]
    assert out["rank_best"].tolist() == [1, 2, 2, 4]
    assert out["rank_worst"].tolist() == [1, 3, 3, 4]
    assert out["n"].tolist() == [20, 20, 20, 19]
    assert out["n_undefined"].tolist() == [0, 0, 0, 1]
    assert ((out["ci_low"] <= out["mean"]) & (out["mean"] <= out["ci_high"])).all()
    good = out.iloc[0]
    assert good["mean"] == pytest.approx(np.linspace(0.1, 0.5, 20).mean() + 2)


def test_ranking_lower_is_better():
    out = ranking(ladder(), "m", higher_is_better=False)
    assert out["system"].tolist() == ["bad", "mid", "mid2", "good"]
    assert out["better_than"].tolist() == ["> mid, mid2, good", "> good", "> good", ""]
    assert out["group"].tolist() == ["A", "B", "B", "C"]


def test_ranking_errors():
    with pytest.raises(ValueError, match="unknown metric 'x'; the table has: m"):
        ranking(ladder(), "x")
    with pytest.raises(ValueError, match="available: bad, good, mid, mid2"):
        ranking(ladder(), "m", systems=["lead-3"])
