"""Agreement statistics against published worked examples and hand computations."""

from __future__ import annotations

import math

import pytest

from evalkit.core.errors import ConfigError
from evalkit.report.agreement import (
    Rating,
    agreement_row,
    alpha,
    among_annotators,
    cohen_kappa,
    disagreements,
    fleiss_kappa,
    fleiss_kappa_table,
    raw_agreement,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units,
# missing values ("."), published nominal alpha = 0.743, interval alpha = 0.849.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def ratings_of(table: dict[str, list]) -> list[Rating]:
    return [Rating(unit, coder, value) for coder, values in table.items() for unit, value in enumerate(values)
            if value is not None]


def test_krippendorff_2011_worked_example():
    ratings = ratings_of(KRIPPENDORFF_2011)
    assert alpha(ratings, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert alpha(ratings, "interval") == pytest.approx(0.849, abs=5e-4)


def test_alpha_by_hand_on_a_tiny_case():
    # coders A: 1 1 2 2, B: 1 2 2 2. Coincidences: o11 = 2, o12 = o21 = 1, o22 = 4; n1 = 3, n2 = 5, n = 8.
    # nominal alpha = 1 - (n - 1) * (o12 + o21) / (n1 * n2 * 2) = 1 - 7 * 2 / 30 = 8/15
    ratings = ratings_of({"A": [1, 1, 2, 2], "B": [1, 2, 2, 2]})
    assert alpha(ratings, "nominal") == pytest.approx(8 / 15)
    # with two values interval equals nominal (the squared distance of 1 and 2 is 1)
    assert alpha(ratings, "interval") == pytest.approx(8 / 15)
    # labels need not be numbers at the nominal level
    assert alpha(ratings_of({"A": ["y", "y", "n", "n"], "B": ["y", "n", "n", "n"]}), "nominal") == pytest.approx(8 / 15)


def test_cohen_kappa_by_hand():
    # p_o = 3/4; marginals A: 1/2, 1/2; B: 1/4, 3/4 -> p_e = 1/8 + 3/8 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    assert cohen_kappa([1, 1, 2, 2], [1, 2, 2, 2]) == pytest.approx(0.5)
    assert cohen_kappa([1, None, 2], [1, 2, 2]) == pytest.approx(1.0)


# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters, 5 categories
FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0],
          [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_kappa_worked_example():
    assert fleiss_kappa_table(FLEISS) == pytest.approx(0.210, abs=5e-4)
    # the same table given as ratings: rater j of subject i gave category c
    ratings = []
    for subject, row in enumerate(FLEISS):
        coder = 0
        for category, count in enumerate(row):
            for _ in range(count):
                ratings.append(Rating(subject, f"r{coder}", category))
                coder += 1
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=5e-4)
    with pytest.raises(ConfigError, match="same number"):
        fleiss_kappa_table([[1, 1], [3, 0]])


def test_raw_agreement_and_disagreements():
    ratings = ratings_of({"A": [1, 1, 5], "B": [1, 2, 1], "C": [1, None, 1]})
    # item 0: 3/3 pairs agree; item 1: 0/1; item 2: 1/3 -> mean = (1 + 0 + 1/3) / 3
    assert raw_agreement(ratings) == pytest.approx((1 + 0 + 1 / 3) / 3)
    worst = disagreements(ratings, "interval")
    assert [item for item, _, _ in worst] == [2, 1]
    assert worst[0][1] == 4.0


def test_agreement_row_and_undefined_alpha():
    row = agreement_row("coherence", ratings_of({"A": [1, 1, 2, 2], "B": [1, 2, 2, 2]}), "nominal")
    assert (row.items, row.coders, row.ratings) == (4, 2, 8)
    assert row.cohen == pytest.approx(0.5) and row.alpha == pytest.approx(8 / 15)
    assert math.isnan(alpha(ratings_of({"A": [3, 3], "B": [3, 3]}), "interval"))  # no variation: 0/0
    with pytest.raises(ConfigError, match="level"):
        alpha(ratings_of({"A": [1]}), "ratioo")


def test_a_judge_is_placed_among_the_annotators():
    people = ratings_of({"A": [1, 2, 3, 4, 5], "B": [1, 2, 3, 4, 4], "C": [2, 2, 3, 5, 5]})
    good = ratings_of({"judge": [1, 2, 3, 4, 5]})
    bad = ratings_of({"judge": [5, 4, 3, 2, 1]})
    humans, with_good, rows = among_annotators(people, good, "interval")
    assert humans == pytest.approx(alpha(people, "interval"))
    assert with_good == pytest.approx(alpha([*people, *good], "interval"))
    assert {r.coder for r in rows} == {"A", "B", "C", "judge"} and next(r for r in rows if r.judge).items == 5
    # leave-one-out for A by hand: A against the mean of B and C = 1.5, 2, 3, 4.5, 4.5
    a = next(r for r in rows if r.coder == "A")
    expected = alpha([*ratings_of({"A": [1, 2, 3, 4, 5]}), *ratings_of({"rest": [1.5, 2, 3, 4.5, 4.5]})], "interval")
    assert a.alpha == pytest.approx(expected)
    _, with_bad, rows_bad = among_annotators(people, bad, "interval")
    assert with_bad < with_good
    assert rows_bad[-1].coder == "judge"  # a judge that reverses the order agrees least
