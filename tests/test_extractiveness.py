"""Extractiveness: expected values worked out by hand in the comments, not taken from the code."""

from __future__ import annotations

import json

import pytest

from evalkit.metrics import extractiveness as module
from evalkit.metrics.base import Candidate
from evalkit.metrics.extractiveness import Extractiveness, fragments, tokens
from evalkit.core.types import Document

NAMES = ("coverage", "density", "compression", "novel_1gram", "novel_2gram", "novel_3gram")


def score_one(source: str, summary: str):
    (result,) = Extractiveness().score([Candidate(document=Document(id="d", text=source), text=summary)])
    return result


def test_names_kind_and_settings():
    metric = Extractiveness()
    assert metric.kind == "extractiveness"
    assert metric.names == NAMES
    settings = metric.settings()
    assert "evalkit.text.words" in settings["tokenization"]
    json.dumps(settings)  # fingerprintable
    assert metric.signature.startswith("extractiveness@")


def test_tokens_strip_edge_punctuation_and_lowercase():
    # "—" has no letter or digit, so it is not a word; inner punctuation stays.
    assert tokens("(Reuters) — The U.S., said: \"2,000 don't\" Łódź!") == [
        "reuters", "the", "u.s", "said", "2,000", "don't", "łódź",
    ]


def test_hand_worked_example():
    # Source tokens A (10): the cat sat on the mat | the dog barked loudly
    #                        0   1   2   3  4   5     6   7    8      9
    # Summary tokens S (7):  the cat sat quietly the dog barked
    #                        0   1   2   3       4   5   6
    # F(A, S):
    #   i=0 "the": j=0 matches "the cat sat" (A[3]=on != S[3]=quietly), length 3, scan resumes
    #       at j=3; j=4 "the" -> length 1 (mat != cat); j=6 "the" -> length 1 (dog != cat).
    #       Best is 3 -> fragment [the cat sat], i=3.
    #   i=3 "quietly": not in A -> no fragment, i=4.
    #   i=4 "the": j=0 length 1, j=4 length 1, j=6 "the dog barked" length 3 (end of S).
    #       Fragment [the dog barked], i=7: done.
    # coverage = (3 + 3) / 7 = 6/7; density = (9 + 9) / 7 = 18/7; compression = 10/7.
    # Novel 1-grams: of 7 occurrences only "quietly" is new -> 1/7.
    # Summary 2-grams (6): the-cat, cat-sat, sat-quietly, quietly-the, the-dog, dog-barked;
    #   source 2-grams include the-cat, cat-sat, the-dog, dog-barked -> 2 novel -> 2/6.
    # Summary 3-grams (5): the-cat-sat (in A), cat-sat-quietly, sat-quietly-the,
    #   quietly-the-dog, the-dog-barked (in A) -> 3 novel -> 3/5.
    result = score_one("The cat sat on the mat. The dog barked loudly.",
                       "The cat sat quietly; the dog barked.")
    assert tuple(result.values) == NAMES
    assert result.values["coverage"] == pytest.approx(6 / 7)
    assert result.values["density"] == pytest.approx(18 / 7)
    assert result.values["compression"] == pytest.approx(10 / 7)
    assert result.values["novel_1gram"] == pytest.approx(1 / 7)
    assert result.values["novel_2gram"] == pytest.approx(2 / 6)
    assert result.values["novel_3gram"] == pytest.approx(3 / 5)
    assert result.notes == {}
    assert result.info["fragments"] == 2 and result.info["longest_fragment"] == 3


def test_fragment_positions_follow_the_paper():
    # Same example as above: (summary_start, source_start, length).
    source = "the cat sat on the mat the dog barked loudly".split()
    summary = "the cat sat quietly the dog barked".split()
    assert fragments(source, summary) == [(0, 0, 3), (4, 6, 3)]


def test_greedy_scan_resumes_after_a_match_as_in_the_paper():
    # A = go go go home, S = go go home.
    # i=0 "go": j=0 matches "go go" (A[2]=go != S[2]=home), length 2, scan resumes at j=2;
    #   j=2 "go": S[1]=go vs A[3]=home -> length 1. Best 2 -> [go go], i=2.
    #   (The start j=1, which would give "go go home", is inside the first match: never tried.)
    # i=2 "home": j=3 -> [home], length 1.
    # coverage = 3/3 = 1; density = (4 + 1)/3 = 5/3; compression = 4/3.
    assert fragments("go go go home".split(), "go go home".split()) == [(0, 0, 2), (2, 3, 1)]
    result = score_one("Go go go home.", "Go go home.")
    assert result.values["coverage"] == pytest.approx(1.0)
    assert result.values["density"] == pytest.approx(5 / 3)
    assert result.values["compression"] == pytest.approx(4 / 3)


def test_first_of_equally_long_matches_is_kept_and_the_summary_is_fully_copied():
    # A = a b x a b, S = a b. Both starts give length 2; the first (j=0) is kept.
    # coverage 1, density 4/2 = 2, compression 5/2; nothing novel.
    assert fragments("a b x a b".split(), "a b".split()) == [(0, 0, 2)]
    result = score_one("a b x a b", "a b")
    assert result.values["density"] == pytest.approx(2.0)
    assert result.values["compression"] == pytest.approx(2.5)
    assert result.values["novel_1gram"] == 0.0
    assert result.values["novel_2gram"] == 0.0


def test_punctuation_and_case_do_not_break_fragments():
    # Source tokens: reuters u.s growth slowed (4); summary tokens: reuters u.s growth (3).
    # One fragment of 3 -> coverage 1, density 9/3 = 3, compression 4/3.
    result = score_one("(REUTERS) — u.s growth slowed.", "Reuters: U.S. growth")
    assert result.values["coverage"] == pytest.approx(1.0)
    assert result.values["density"] == pytest.approx(3.0)
    assert result.values["compression"] == pytest.approx(4 / 3)


def test_fully_novel_summary():
    # No token of S is in A: no fragment; coverage 0, density 0, every n-gram novel.
    result = score_one("alpha beta gamma delta", "one two three")
    assert result.values["coverage"] == 0.0
    assert result.values["density"] == 0.0
    assert result.values["compression"] == pytest.approx(4 / 3)
    assert [result.values[f"novel_{n}gram"] for n in (1, 2, 3)] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("summary", ["", "   ", "— … !"])
def test_empty_summary_is_undefined_with_a_note(summary):
    result = score_one("Some source text.", summary)
    assert result.values == {name: None for name in NAMES}
    assert result.notes == {name: "empty summary" for name in NAMES}


def test_short_summary_has_no_bigrams_or_trigrams():
    # S = [cat] (1 token), found in A -> coverage 1, density 1, compression 3/1; no 2- or 3-grams.
    result = score_one("the cat sat", "Cat.")
    assert result.values["coverage"] == 1.0
    assert result.values["compression"] == 3.0
    assert result.values["novel_1gram"] == 0.0
    assert result.values["novel_2gram"] is None and result.values["novel_3gram"] is None
    assert "fewer than 2" in result.notes["novel_2gram"]
    assert "fewer than 3" in result.notes["novel_3gram"]


def test_empty_source_is_defined_but_noted():
    result = score_one("", "a summary")
    assert result.values["coverage"] == 0.0 and result.values["compression"] == 0.0
    assert result.values["novel_1gram"] == 1.0
    assert result.notes["coverage"] == "empty source"


def test_source_tokenized_once_per_distinct_text_and_order_kept(monkeypatch):
    calls: list[str] = []
    real = module.tokens

    def counting(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(module, "tokens", counting)
    first = Document(id="1", text="the cat sat on the mat")
    same_text = Document(id="1-copy", text="the cat sat on the mat")
    other = Document(id="2", text="a dog barked")
    candidates = [Candidate(first, "the cat"), Candidate(other, "a dog"),
                  Candidate(first, "cat sat"), Candidate(same_text, "the mat")]
    results = Extractiveness().score(candidates)
    assert calls.count(first.text) == 1
    assert calls.count(other.text) == 1
    assert len(results) == 4
    # Candidate 2 ("a dog" vs "a dog barked"): compression 3/2, in order.
    assert [r.values["compression"] for r in results] == pytest.approx([3.0, 1.5, 3.0, 3.0])
