"""Tests for evalkit.core.targets: every expected target below is written by hand from the phrase."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from evalkit.core.targets import EXAMPLES, TargetParseError, as_target, parse_target, split_instruction
from evalkit.core.types import LengthTarget

CASE_FILE = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "scraped_news_request.txt"


def _case_text() -> str:
    if not CASE_FILE.exists():
        pytest.skip(f"shared case file not found: {CASE_FILE}")
    return CASE_FILE.read_text(encoding="utf-8")


# (instruction, (words, sentences, paragraphs, bound))
PHRASINGS = [
    ("Summarize this content to 2000 words in 6 paragraphs", (2000, None, 6, "about")),
    ("in 3 sentences", (None, 3, None, "about")),
    ("IN 3 SENTENCES", (None, 3, None, "about")),
    ("under 100 words", (100, None, None, "at_most")),
    ("Summarize in fewer than 100 words", (100, None, None, "at_most")),
    ("no more than 80 words", (80, None, None, "at_most")),
    ("at most 60 words", (60, None, None, "at_most")),
    ("maximum of 50 words", (50, None, None, "at_most")),
    ("up to 40 words", (40, None, None, "at_most")),
    ("50 words or less", (50, None, None, "at_most")),
    ("50 words max", (50, None, None, "at_most")),
    ("Summarise in ≤ 60 words", (60, None, None, "at_most")),
    ("about 50 words or less", (50, None, None, "at_most")),  # a ceiling overrides "about"
    ("about 50 words", (50, None, None, "about")),
    ("around 50 words", (50, None, None, "about")),
    ("roughly 50 words", (50, None, None, "about")),
    ("approximately 50 words", (50, None, None, "about")),
    ("~50 words", (50, None, None, "about")),
    ("50 words", (50, None, None, "about")),
    ("Summarize in 100 words or so.", (100, None, None, "about")),
    ("exactly 50 words", (50, None, None, "exactly")),
    ("at least 200 words", (200, None, None, "at_least")),
    ("more than 200 words", (200, None, None, "at_least")),
    ("100+ words", (100, None, None, "at_least")),
    ("one paragraph", (None, None, 1, "about")),
    ("a single paragraph", (None, None, 1, "about")),
    ("in a paragraph", (None, None, 1, "about")),
    ("two paragraphs", (None, None, 2, "about")),
    ("2 paras", (None, None, 2, "about")),
    ("Write 1 Paragraph", (None, None, 1, "about")),
    ("a 150-word summary", (150, None, None, "about")),
    ("150 word summary", (150, None, None, "about")),
    ("one sentence", (None, 1, None, "about")),
    ("a one-sentence summary", (None, 1, None, "about")),
    ("Keep it to 3 short sentences", (None, 3, None, "about")),
    ("TL;DR in 25 words", (25, None, None, "about")),
    # Ranges: upper end for sentences and paragraphs, midpoint (half up) with "about" for words.
    ("in 3-4 sentences", (None, 4, None, "about")),
    ("in 3–4 sentences", (None, 4, None, "about")),  # en dash
    ("3 to 4 sentences", (None, 4, None, "about")),
    ("two or three paragraphs", (None, None, 3, "about")),
    ("in a sentence or two", (None, 2, None, "about")),
    ("100-150 words", (125, None, None, "about")),
    ("between 100 and 151 words", (126, None, None, "about")),
    # Numbers.
    ("1,500 words", (1500, None, None, "about")),
    ("2k words", (2000, None, None, "about")),
    ("1.5k words", (1500, None, None, "about")),
    ("five sentences", (None, 5, None, "about")),
    ("twenty words", (20, None, None, "about")),
    ("twenty-five words", (25, None, None, "about")),
    ("a hundred words", (100, None, None, "about")),
    ("one hundred and fifty words", (150, None, None, "about")),
    ("fifteen hundred words", (1500, None, None, "about")),
    ("Please summarise in no more than two hundred words.", (200, None, None, "at_most")),
    # Several units together; per-paragraph and per-sentence counts are multiplied out.
    ("under 100 words in at most 3 sentences", (100, 3, None, "at_most")),
    ("Condense to a 3-sentence summary of 60 words or fewer", (60, 3, None, "at_most")),
    ("in 2 paragraphs of about 100 words", (200, None, 2, "about")),
    ("2 paragraphs of about 100 words each", (200, None, 2, "about")),
    ("two paragraphs, each with around 100 words", (200, None, 2, "about")),
    ("3 paragraphs, 100 words per paragraph", (300, None, 3, "about")),
    ("3 sentences, 20 words each", (60, 3, None, "about")),
    ("2 paragraphs of 3 sentences each", (None, 6, 2, "about")),
    ("2 paragraphs of 200 words in total", (200, None, 2, "about")),
    ("100 words in 2 paragraphs", (100, None, 2, "about")),
    # A count that describes the source is not a target.
    ("Summarize this 2,000-word article in 100 words", (100, None, None, "about")),
    # A qualifier on sentences is accepted; the bound qualifies words only.
    ("no fewer than 3 sentences", (None, 3, None, "about")),
    # The same count twice is not a conflict.
    ("Summarize in 3 sentences. Use 3 sentences.", (None, 3, None, "about")),
]


@pytest.mark.parametrize(("text", "expected"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_parse_target(text: str, expected: tuple) -> None:
    target = parse_target(text)
    assert (target.words, target.sentences, target.paragraphs, target.bound) == expected
    assert target.instruction == text


def test_first_line_of_scraped_request() -> None:
    first_line = _case_text().splitlines()[0]
    target = parse_target(first_line)
    assert target == LengthTarget(words=2000, paragraphs=6, bound="about")
    assert target.instruction == first_line


# (instruction, fragments the message must contain)
ERRORS = [
    ("Summarize this article", ["no count of words, sentences or paragraphs", "in 3 sentences"]),
    ("", ["it is empty"]),
    ("0 words", ["0 words", "at least 1"]),
    ("Summarize in zero sentences", ["0 sentences", "at least 1"]),
    ("-5 words", ["negative", "positive count"]),
    ("2.5 paragraphs", ["not a whole number"]),
    ("1,50 words", ["'1,50' is not a number", "1,500"]),
    ("50000 words", ["50,000 words", "20,000", "typo"]),
    ("100 words in 200 words", ["words twice", "100", "200"]),
    ("at most 50 words, at least 50 words", ["conflicting", "at_most", "at_least"]),
    ("at most 50 words or more", ["both at_most and at_least"]),
    ("from 5 to 3 sentences", ["runs backwards", "3-5 sentences"]),
    ("Summarize in five bullet points", ["bullet points", "not a length unit", "in 5 sentences"]),
    ("Summarize in 280 characters", ["characters", "not a length unit", "word count"]),
    ("100 words per paragraph", ["per paragraph", "no number of paragraphs"]),
    ("100 words each", ["'each'", "nothing to count it per"]),
    ("5 words in 10 sentences", ["5 words in 10 sentences", "fewer sentences"]),
    ("3 sentences in 4 paragraphs", ["3 sentences in 4 paragraphs", "fewer paragraphs"]),
]


@pytest.mark.parametrize(("text", "fragments"), ERRORS, ids=[e[0] or "<empty>" for e in ERRORS])
def test_parse_errors_say_why_and_what_works(text: str, fragments: list[str]) -> None:
    with pytest.raises(TargetParseError) as caught:
        parse_target(text)
    message = str(caught.value)
    assert f"from {text!r}:" in message  # the input, quoted
    for fragment in fragments:
        assert fragment in message
    assert "Understood forms include" in message
    assert len(EXAMPLES) == 3 and all(repr(example) in message for example in EXAMPLES)


def test_error_is_a_value_error_and_survives_pickling() -> None:
    with pytest.raises(ValueError):
        parse_target("Summarize this article")
    error = TargetParseError("x", "some reason", "a hint")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.text, copy.reason, copy.hint, str(copy)) == ("x", "some reason", "a hint", str(error))


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        parse_target(50)  # type: ignore[arg-type]


def test_split_instruction_on_scraped_request() -> None:
    text = _case_text()
    instruction, rest = split_instruction(text)
    assert instruction == "Summarize this content to 2000 words in 6 paragraphs"
    assert rest.startswith("Russia’s Foreign Ministry")
    assert "Summarize this content" not in rest


def test_split_instruction_without_instruction_keeps_text() -> None:
    article = (
        "In 2019, Russia's army moved 3 paragraphs of troops.\n"
        "Officials said the talks would resume.\n"
    )
    assert split_instruction(article) == (None, article)
    plain = "The ministry said 100 words about the meeting.\nMore text."
    assert split_instruction(plain) == (None, plain)


def test_split_instruction_skips_blank_lines_and_allows_empty_rest() -> None:
    assert split_instruction("\n\n  In 3 sentences:\n\nArticle body.") == ("In 3 sentences:", "Article body.")
    assert split_instruction("TL;DR in 25 words") == ("TL;DR in 25 words", "")
    assert split_instruction("") == (None, "")


def test_split_instruction_needs_a_short_line() -> None:
    long_line = "Summarize in 3 sentences " + "the following long piece of reporting " * 5
    text = long_line + "\nBody."
    assert split_instruction(text) == (None, text)


def test_split_instruction_logs_an_instruction_without_target(caplog: pytest.LogCaptureFixture) -> None:
    text = "Summarize in five bullet points\nArticle body."
    with caplog.at_level(logging.WARNING, logger="evalkit.core.targets"):
        assert split_instruction(text) == (None, text)
    assert "bullet points" in caplog.text


def test_length_target_from_string_uses_parse_target() -> None:
    target = as_target("3 sentences")
    assert target == LengthTarget(sentences=3)
    assert target.instruction == "3 sentences"
    assert as_target("under 60 words") == LengthTarget(words=60, bound="at_most")
    with pytest.raises(TargetParseError):
        as_target("Summarize this article")
