"""One spelled-number vocabulary and reader, shared by target parsing and entity matching."""

from __future__ import annotations

import pytest

from evalkit.core.numbers import SCALES, SMALL, TENS, number_from_words
from evalkit.core.targets import parse_target
from evalkit.metrics.entities.numbers import NUMBER_WORDS, read_numbers


@pytest.mark.parametrize(("phrase", "value"), [
    ("one hundred and fifty", 150), ("a thousand", 1000), ("twenty-one", 21), ("two thousand", 2000),
    ("nineteen", 19), ("three hundred thousand", 300000), ("five twenty", None), ("hundred hundred", None),
    ("two thousand five hundred", 2500), ("seven apples", None),
])
def test_number_from_words_by_hand(phrase, value):
    assert number_from_words(phrase) == value


def test_targets_and_entities_read_the_same_words():
    assert set(SMALL) | set(TENS) | set(SCALES) <= NUMBER_WORDS  # entities know every word targets know
    assert parse_target("Summarize this in two hundred and fifty words").words == 250
    assert [n.value for n in read_numbers("two hundred and fifty protesters")] == [250.0]
    assert [n.value for n in read_numbers("2.6 billion dollars")] == [2.6e9]
