"""Spelled-out numbers: one vocabulary and one strict reader, for target parsing and entity matching.

:mod:`evalkit.core.targets` reads "one hundred and fifty words" with :func:`number_from_words`;
the entities metric (:mod:`evalkit.metrics.entities.numbers`) reads numbers in running text with
the same words (and its own "dozen" and scale suffixes), so both agree on what a number word is.
"""

from __future__ import annotations

import re

SMALL: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
"""Zero to nineteen."""
TENS: dict[str, int] = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
                        "eighty": 80, "ninety": 90}
SCALES: dict[str, int] = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
                          "trillion": 1_000_000_000_000}


def number_from_words(phrase: str) -> int | None:
    """The value of a spelled-out whole number below a million ("one hundred and fifty" -> 150,
    "a thousand" -> 1000, "twenty-one" -> 21), or ``None`` when the words do not form one
    ("five twenty", "hundred hundred")."""
    total = current = 0
    last = None  # the kind of the previous token
    for token in re.split(r"[\s-]+", phrase.strip().lower()):
        if token == "and":
            continue
        if token in ("a", "an"):
            current, last = 1, "small"
        elif token in SMALL:
            value = SMALL[token]
            if last not in (None, "scale") and not (last == "tens" and 1 <= value <= 9):
                return None
            current, last = current + value, "small"
        elif token in TENS:
            if last not in (None, "scale"):
                return None
            current, last = current + TENS[token], "tens"
        elif token == "hundred":
            if current >= 100 or last == "scale":
                return None
            current, last = (current or 1) * 100, "scale"
        elif token == "thousand":
            if total:
                return None
            total, current, last = total + (current or 1) * 1000, 0, "scale"
        else:
            return None
    return total + current
