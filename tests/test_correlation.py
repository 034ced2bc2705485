"""Partial correlation controlling for a group: a hand-worked case and an independent least-squares check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.report.correlation import bootstrap_partial_correlation, partial_correlation

# Group A: x = 1, 2, 3 (mean 2), y = 1, 3, 2 (mean 2); group B: x = 10, 12 (mean 11), y = 5, 9 (mean 7).
X = [1, 2, 3, 10, 12]
Y = [1, 3, 2, 5, 9]
G = ["A", "A", "A", "B", "B"]


def test_hand_worked_pearson():
    # Residuals x: -1, 0, 1, -1, 1; y: -1, 1, 0, -2, 2.
    # sum(xy) = 1 + 0 + 0 + 2 + 2 = 5; sum(x^2) = 4; sum(y^2) = 10 -> r = 5 / sqrt(40).
    result = partial_correlation(X, Y, G, "pearson")
    assert result.r == pytest.approx(5 / math.sqrt(40))
    assert (result.n, result.n_excluded, result.groups) == (5, 0, 2)
    # dof = 5 - 2 - 1 = 2; t = r * sqrt(2 / (1 - r^2)) = 0.790569 * sqrt(2 / 0.375) = 1.825742;
    # two-sided p for t(2) = 1.825742 is 1 - t / sqrt(2 + t^2) = 0.2094306...
    t = 0.7905694150420949 * math.sqrt(2 / 0.375)
    assert result.p_value == pytest.approx(1 - t / math.sqrt(2 + t * t))


def test_hand_worked_spearman_ranks_first():
    # Ranks over all items: x -> 1, 2, 3, 4, 5; y -> 1, 3, 2, 4, 5.
    # Residuals within groups: x -> -1, 0, 1, -0.5, 0.5; y -> -1, 1, 0, -0.5, 0.5.
    # sum(xy) = 1 + 0 + 0 + 0.25 + 0.25 = 1.5; sum(x^2) = sum(y^2) = 2.5 -> r = 0.6.
    assert partial_correlation(X, Y, G, "spearman").r == pytest.approx(0.6)


def test_matches_least_squares_residuals_on_random_data():
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 4, size=200)
    x = rng.normal(size=200) + groups
    y = 0.5 * x + rng.normal(size=200) - 2 * groups
    design = np.column_stack([np.ones(200)] + [(groups == g).astype(float) for g in (1, 2, 3)])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    expected = float(np.corrcoef(rx, ry)[0, 1])
    assert partial_correlation(x, y, groups, "pearson").r == pytest.approx(expected)


def test_undefined_pairs_are_left_out_and_counted():
    result = partial_correlation(X + [None, 4.0], Y + [2.0, float("nan")], G + ["A", "B"])
    assert result.r == pytest.approx(5 / math.sqrt(40))
    assert result.n == 5
    assert result.n_excluded == 2


def test_no_variance_gives_nan():
    result = partial_correlation([1, 1, 2, 2], [1, 2, 3, 4], ["a", "a", "b", "b"])
    assert math.isnan(result.r)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="method"):
        partial_correlation(X, Y, G, "kendall")
    with pytest.raises(ValueError, match="same length"):
        partial_correlation(X, Y[:-1], G)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 3, size=300)
    x = rng.normal(size=300)
    y = 0.4 * x + rng.normal(size=300) + groups
    first = bootstrap_partial_correlation(x, y, groups, n_resamples=200, seed=5)
    second = bootstrap_partial_correlation(x, y, groups, n_resamples=200, seed=5)
    assert first == second
    assert first.r == pytest.approx(partial_correlation(x, y, groups).r)
    assert first.low < first.r < first.high
    assert first.low > 0
