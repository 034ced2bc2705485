"""The redundancy metric on hand-made summaries; every expected value is counted by hand in the test."""

from __future__ import annotations

import pytest

from evalkit.core.types import Candidate, Document
from evalkit.metrics.redundancy import Redundancy, rep_n
from evalkit.run.registry import build_metric

DOC = Document(id="d", text="The dam failed on Monday, officials said. Thousands were evacuated.")
CLAIM = "Officials said the dam failed."  # 5 words, all different


def score(text: str):
    (result,) = Redundancy().score([Candidate(DOC, text)])
    return result


def test_the_same_claim_seven_times():
    result = score(" ".join([CLAIM] * 7))
    # 7 sentences, 1 distinct: 6 of 7 repeat an earlier one
    assert result.values["redundancy_sentences"] == pytest.approx(6 / 7)
    # 35 words -> 33 trigrams; the text repeats with period 5 and its 5 words differ, so a trigram is fixed
    # by where it starts modulo 5: 5 distinct trigrams. rep-3 = 1 - 5/33 = 28/33
    assert result.values["redundancy_rep3"] == pytest.approx(28 / 33)
    assert result.info["repeated_sentences"] == [{"sentence": CLAIM, "times": 7}]


def test_case_punctuation_and_spacing_do_not_make_a_repeat_new():
    text = f"{CLAIM} Thousands were evacuated.  OFFICIALS said the  dam failed!"
    result = score(text)
    assert result.values["redundancy_sentences"] == pytest.approx(1 / 3)  # 3 sentences, 2 distinct
    # 13 words -> 11 trigrams; "officials said the", "said the dam", "the dam failed" occur twice: 8 unique
    assert result.values["redundancy_rep3"] == pytest.approx(1 - 8 / 11)


def test_a_summary_without_repeats_scores_zero():
    result = score("Officials said the dam failed. Thousands were evacuated on Monday.")
    assert result.values == {"redundancy_sentences": 0.0, "redundancy_rep3": 0.0}
    assert result.info["repeated_sentences"] == []


def test_undefined_values_say_why():
    empty = score("  ")
    assert empty.values == {"redundancy_sentences": None, "redundancy_rep3": None}
    assert empty.notes == {"redundancy_sentences": "empty summary", "redundancy_rep3": "empty summary"}
    short = score("Dam failed.")
    assert short.values["redundancy_sentences"] == 0.0
    assert short.values["redundancy_rep3"] is None and short.notes["redundancy_rep3"] == "fewer than 3 words"


def test_rep_n_by_hand():
    assert rep_n(list("abab"), 2) == pytest.approx(1 - 2 / 3)  # ab ba ab: 2 unique of 3
    assert rep_n(list("aaaa"), 1) == pytest.approx(1 - 1 / 4)
    assert rep_n(["a", "b"], 3) is None


def test_registered_declared_and_lower_is_better():
    metric = build_metric("redundancy")
    assert isinstance(metric, Redundancy) and metric.signature.startswith("redundancy@")
    measures = {m.name: m for m in metric.measures()}
    assert set(measures) == {"redundancy_sentences", "redundancy_rep3"}
    assert all(m.higher_is_better is False and m.is_fraction and m.tolerance for m in measures.values())
    results = metric.score([Candidate(DOC, CLAIM), Candidate(DOC, "")])  # batch in, list out, in order
    assert [r.values["redundancy_sentences"] for r in results] == [0.0, None]
