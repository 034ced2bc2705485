"""Words, sentences and paragraphs: the one definition, checked on small hand-made cases."""

import pytest

from evalkit.text import (count_paragraphs, count_sentences, count_words, join_paragraphs, paragraphs, sentences,
                          words)

# -- words --------------------------------------------------------------------


def test_words_need_a_letter_or_digit():
    text = "The U.S. economy added 2,000 jobs — a record . ... !"
    assert words(text) == ["The", "U.S.", "economy", "added", "2,000", "jobs", "a", "record"]
    assert count_words(text) == 8


def test_words_in_any_script():
    text = "Zürich und Łódź — naïve café, Москва 東京 ¿qué?"
    assert words(text) == ["Zürich", "und", "Łódź", "naïve", "café,", "Москва", "東京", "¿qué?"]


@pytest.mark.parametrize("text", ["", "   \n\t ", "— – ... !? «»"])
def test_no_words(text):
    assert words(text) == []
    assert count_words(text) == 0


def test_words_split_on_any_whitespace():
    assert words("one\ttwo\nthree  four\r\nfive") == ["one", "two", "three", "four", "five"]


# -- sentences ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # titles are abbreviations, not sentence ends
        ("Mr. Smith went to Washington. He met Dr. Jones there.",
         ["Mr. Smith went to Washington.", "He met Dr. Jones there."]),
        ("Dr. Jones and Mrs. Brown met. They talked.", ["Dr. Jones and Mrs. Brown met.", "They talked."]),
        # dotted abbreviations inside a sentence
        ("He met the U.S. president on Monday. Talks went well.",
         ["He met the U.S. president on Monday.", "Talks went well."]),
        ("The talks ended at 3 p.m. on Friday. Nobody spoke.",
         ["The talks ended at 3 p.m. on Friday.", "Nobody spoke."]),
        # a single capital letter followed by a period is an initial
        ("A judge ordered V. Marlowe to pay. She appealed.", ["A judge ordered V. Marlowe to pay.", "She appealed."]),
        ("John F. Kennedy spoke. The crowd cheered.", ["John F. Kennedy spoke.", "The crowd cheered."]),
        # numbers with a decimal point are not sentence ends (no whitespace after the period)
        ("It cost $2.6 million. Prices rose.", ["It cost $2.6 million.", "Prices rose."]),
        # question and exclamation marks, ellipsis
        ("Who is V. Marlowe? Nobody knows! He paused… Then he spoke.",
         ["Who is V. Marlowe?", "Nobody knows!", "He paused…", "Then he spoke."]),
        # a lower-case next word continues the sentence
        ("He shouted wow! and left the room.", ["He shouted wow! and left the room."]),
        # closing quotes and brackets stay with their sentence
        ('"We won," she said. "It was hard." Then they left.',
         ['"We won," she said.', '"It was hard."', "Then they left."]),
        ("Officials said he was released. “He is safe,” she said.",
         ["Officials said he was released.", "“He is safe,” she said."]),
        ("(He left early.) Then she came.", ["(He left early.)", "Then she came."]),
        # the last sentence needs no terminator
        ("One sentence. And a trailing fragment", ["One sentence.", "And a trailing fragment"]),
    ],
)
def test_sentence_boundaries(text, expected):
    assert sentences(text) == expected
    assert count_sentences(text) == len(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # PTB-tokenized text (lower-cased, terminators split off): a lone terminator always ends a sentence
        ("the judge ordered v. stiviano to pay . she appealed .",
         ["the judge ordered v. stiviano to pay .", "she appealed ."]),
        ("he said . the court agreed ! why ? nobody knows .",
         ["he said .", "the court agreed !", "why ?", "nobody knows ."]),
        ("-lrb- cnn -rrb- police arrested mr. jones . he was released .",
         ["-lrb- cnn -rrb- police arrested mr. jones .", "he was released ."]),
    ],
)
def test_ptb_tokenized_text(text, expected):
    assert sentences(text) == expected


def test_sentences_never_cross_a_line_break():
    text = "First line without a period\nSecond line. Third sentence\n\nLast one"
    assert sentences(text) == ["First line without a period", "Second line.", "Third sentence", "Last one"]


def test_sentences_are_stripped_and_empty_text_has_none():
    assert sentences("   Hello there.    General Kenobi.  ") == ["Hello there.", "General Kenobi."]
    assert sentences("") == []
    assert sentences(" \n \n") == []


def test_sentences_returns_a_fresh_list():
    first = sentences("One. Two.")
    first.append("mutated")
    assert sentences("One. Two.") == ["One.", "Two."]


# -- paragraphs ---------------------------------------------------------------


def test_blank_lines_separate_paragraphs_and_single_newlines_do_not():
    text = "First para, line one.\nFirst para, line two.\n\nSecond para."
    assert paragraphs(text) == ["First para, line one.\nFirst para, line two.", "Second para."]
    assert count_paragraphs(text) == 2


def test_blank_line_may_hold_spaces_and_several_blank_lines_count_once():
    assert paragraphs("One.\n   \t\nTwo.\n\n\n\nThree.") == ["One.", "Two.", "Three."]


def test_without_blank_lines_each_non_empty_line_is_a_paragraph():
    assert paragraphs("Line one.\nLine two.\n\rLine three.") == ["Line one.", "Line two.", "Line three."]
    assert paragraphs("Just one paragraph with two sentences. Here.") == [
        "Just one paragraph with two sentences. Here."]


@pytest.mark.parametrize("text", ["", "   ", "\n\n  \n"])
def test_empty_text_has_no_paragraphs(text):
    assert paragraphs(text) == []
    assert count_paragraphs(text) == 0


def test_join_paragraphs_round_trips():
    groups = [["A one.", "A two."], [], ["B one."]]
    joined = join_paragraphs(groups)
    assert joined == "A one. A two.\n\nB one."
    assert paragraphs(joined) == ["A one. A two.", "B one."]
    assert [sentences(p) for p in paragraphs(joined)] == [["A one.", "A two."], ["B one."]]
