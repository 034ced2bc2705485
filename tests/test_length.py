"""Length compliance: hand-counted cases, bounds, feasibility and the scraped request."""

from pathlib import Path

import pytest

from evalkit.metrics.base import Candidate
from evalkit.metrics.length import LengthCompliance
from evalkit.core.types import Document, LengthTarget

SOURCE = Document(
    id="d1",
    text=("The council met on Monday. It approved the budget. Residents protested outside. "
          "The mayor promised a review. Police said the protest was peaceful."),
    references=("The council approved the budget.",),
)  # 5 sentences, 23 words (5 + 4 + 3 + 5 + 6)


def score(text, target, doc=SOURCE, **options):
    return LengthCompliance(**options).score([Candidate(doc, text, target)])[0]


def test_counts_and_deviation_by_hand():
    # "The council approved the budget on Monday." -> 7 words, 1 sentence, 1 paragraph
    result = score("The council approved the budget on Monday.", LengthTarget(words=10))
    v = result.values
    assert (v["length_words"], v["length_sentences"], v["length_paragraphs"]) == (7, 1, 1)
    assert v["length_word_deviation"] == pytest.approx((7 - 10) / 10)
    assert v["length_words_ok"] == 0.0  # 30% short, tolerance 10%
    assert v["length_ok"] == 0.0
    assert v["length_compression"] == pytest.approx(23 / 7)


@pytest.mark.parametrize(
    ("words", "bound", "expected"),
    [
        (9, "about", 1.0),     # |9-10| = 1 <= 10% of 10
        (11, "about", 1.0),
        (12, "about", 0.0),
        (10, "at_most", 1.0),
        (11, "at_most", 0.0),
        (9, "at_least", 0.0),
        (30, "at_least", 1.0),
        (10, "exactly", 1.0),
        (9, "exactly", 0.0),
    ],
)
def test_word_bounds(words, bound, expected):
    text = " ".join(["word"] * words) + "."
    assert score(text, LengthTarget(words=10, bound=bound)).values["length_words_ok"] == expected


def test_tolerance_is_configurable():
    text = " ".join(["word"] * 12)
    assert score(text, LengthTarget(words=10), word_tolerance=0.2).values["length_words_ok"] == 1.0


def test_sentence_and_paragraph_targets_are_exact_by_default():
    text = "One sentence here. Two sentences here.\n\nA third one in a new paragraph."
    v = score(text, LengthTarget(sentences=3, paragraphs=2)).values
    assert (v["length_sentences"], v["length_paragraphs"]) == (3, 2)
    assert v["length_sentences_ok"] == 1.0 and v["length_paragraphs_ok"] == 1.0 and v["length_ok"] == 1.0
    v = score(text, LengthTarget(sentences=3, paragraphs=3)).values
    assert v["length_paragraphs_ok"] == 0.0 and v["length_ok"] == 0.0
    assert score(text, LengthTarget(paragraphs=3), paragraph_tolerance=1).values["length_paragraphs_ok"] == 1.0


def test_constraints_the_target_does_not_set_are_none_with_a_note():
    result = score("Short text.", LengthTarget(sentences=1))
    assert result.values["length_words_ok"] is None
    assert "no word count" in result.notes["length_words_ok"]
    assert result.values["length_paragraphs_ok"] is None
    assert result.values["length_ok"] == 1.0
    empty_target = score("Short text.", LengthTarget())
    assert empty_target.values["length_ok"] is None and empty_target.notes["length_ok"] == "no length target"


def test_empty_summary():
    v = score("", LengthTarget(words=10))
    assert v.values["length_words"] == 0
    assert v.values["length_words_ok"] == 0.0
    assert v.values["length_compression"] is None and v.notes["length_compression"] == "empty summary"


def test_summary_longer_than_source_is_scored_not_rejected():
    text = SOURCE.text + " " + SOURCE.text
    v = score(text, LengthTarget(words=46)).values
    assert v["length_words"] == 46 and v["length_words_ok"] == 1.0
    assert v["length_compression"] == pytest.approx(0.5)


def test_infeasible_targets_are_flagged():
    # 23 words of content cannot hold a faithful 100-word summary, nor 6 sentences of 5.
    too_long = score("Anything.", LengthTarget(words=100))
    assert too_long.values["length_feasible"] == 0.0
    assert "23" in too_long.notes["length_feasible"]
    assert too_long.values["length_target_ratio"] == pytest.approx(100 / 23)
    assert score("Anything.", LengthTarget(sentences=6)).values["length_feasible"] == 0.0
    assert score("Anything.", LengthTarget(words=20)).values["length_feasible"] == 1.0


CASE = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "scraped_news_request.txt"


def test_scraped_request_target_cannot_be_met():
    if not CASE.exists():
        pytest.skip("shared case file not available")
    from evalkit.inputs.data import document_from_request
    from evalkit.core.text import count_words

    doc = document_from_request(CASE.read_text(encoding="utf-8"))
    assert (doc.target.words, doc.target.paragraphs) == (2000, 6)
    result = score("A short summary.", doc.target, doc=doc)
    assert result.values["length_feasible"] == 0.0
    # The reader appeal is not content: the content is clearly smaller than the pasted text.
    content_words = doc.target.words / result.values["length_target_ratio"]
    assert content_words < count_words(doc.text) - 100
    assert content_words < 2000 / 5  # the target is over five times the news content


def test_bad_options_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match="fraction"):
        LengthCompliance(word_tolerance=10)
