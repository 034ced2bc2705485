"""Numbers read from text and matched with rounding (see *Numbers* in :mod:`evalkit.metrics.entities.metric`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from evalkit.core.numbers import SCALES, SMALL, TENS
from evalkit.metrics.entities.normalize import clean

NUMBER_FILLERS = frozenset(
    """
    the a an of and about around approximately roughly nearly almost some more than less fewer over under up
    to at least most just only over per cent percent some circa c estimated
    """.split()
)
"""Words of a numeric entity that need not occur in the source (approximators, function words)."""

_UNITS = {**SMALL, "dozen": 12}
_TENS = TENS
_SCALES = SCALES
SCALE_SUFFIXES = {"k": 1e3, "m": 1e6, "mn": 1e6, "bn": 1e9, "b": 1e9, "tn": 1e12}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)

_NUMBER = re.compile(r"(\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(st|nd|rd|th|s|k|mn|m|bn|b|tn)?(?!\w|[.,]\d)|"
                     r"(\d+(?:\.\d+)?)(?=[a-z])|([^\W\d_]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Number:
    """A number read from text."""

    value: float
    digits: int | None
    """Significant digits when written with a scale word ("2.6 million" -> 2); ``None`` when exact."""

    def matches(self, other: float) -> bool:
        """Whether a source number ``other`` supports this one (equal, or equal after rounding)."""
        if math.isclose(self.value, other, rel_tol=1e-9, abs_tol=1e-12):
            return True
        if self.digits is None or other == 0:
            return False
        exponent = math.floor(math.log10(abs(other))) - self.digits + 1
        return math.isclose(round(other / 10 ** exponent) * 10 ** exponent, self.value, rel_tol=1e-9)


def _significant(literal: str) -> int:
    digits = literal.replace(",", "").replace(".", "").lstrip("0")
    return max(1, len(digits))


def _word_number_digits(value: float, scaled: bool) -> int | None:
    if not scaled:
        return None
    return _significant(str(int(value)).rstrip("0") or "0")


def read_numbers(text: str) -> list[Number]:
    """The numbers in ``text``: digits, number words, scale words and suffixes (see *Numbers*)."""
    numbers: list[Number] = []
    total: float | None = None  # a number being read from words ("two hundred and five")
    current = 0.0
    scaled = False
    pending: tuple[float, str] | None = None  # a digit number a following scale word may multiply
    previous = ""

    def flush_words() -> None:
        nonlocal total, current, scaled
        if total is not None:
            value = total + current
            numbers.append(Number(value, _word_number_digits(value, scaled)))
        total, current, scaled = None, 0.0, False

    def flush_pending() -> None:
        nonlocal pending
        if pending is not None:
            numbers.append(Number(pending[0], None))
            pending = None

    for match in _NUMBER.finditer(clean(text).replace("-", " ")):
        literal, suffix, attached, word = match.groups()
        if literal is None and attached is not None:
            literal = attached
        if literal is not None:
            flush_words()
            flush_pending()
            value = float(literal.replace(",", ""))
            suffix = (suffix or "").lower()
            if suffix in SCALE_SUFFIXES:
                numbers.append(Number(value * SCALE_SUFFIXES[suffix], _significant(literal)))
            else:
                pending = (value, literal)
            previous = ""
            continue
        word = word.lower()
        if pending is not None and word in _SCALES:
            numbers.append(Number(pending[0] * _SCALES[word], _significant(pending[1])))
            pending = None
            previous = word
            continue
        flush_pending()
        if word in _UNITS or word in _TENS:
            if total is None:
                total = 0.0
            if word == "dozen" and current:
                current *= 12
            else:
                current += _UNITS.get(word, 0) + _TENS.get(word, 0)
        elif word in _SCALES and (total is not None or previous in ("a", "one")):
            if total is None:
                total, current = 0.0, 1.0
            scaled = scaled or word != "hundred"
            if word == "hundred":
                current = (current or 1.0) * 100
            else:
                total += (current or 1.0) * _SCALES[word]
                current = 0.0
        elif not (word == "and" and total is not None):
            flush_words()
        previous = word
    flush_words()
    flush_pending()
    return numbers

