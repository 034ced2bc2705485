"""Entity spans cut at the boundaries NER should not cross, and the benign (world-knowledge) list.

spaCy's small NER model, run without the parser, sometimes joins a name with the first word of
the next line, bullet or sentence: "LeBron James\\n- Finished" or "Francis I. The". Counted as is,
such a span is an entity the source never contains, a false alarm. :func:`cut_spans` cuts every
span at

- a line break (and drops a bullet marker, ``-``, ``*``, ``•``, ``–`` or ``1.``, opening the next line);
- a sentence end that :func:`evalkit.core.text.sentences` finds inside the span;
- a ``.``, ``!`` or ``?`` followed by a capitalized function word ("The", "He", "In": spaCy's English
  stop words). "George W. Bush" and "U.S. President" are not cut: "Bush" and "President" are not
  stop words.

A piece after a cut loses its leading words that are capitalized only because they open a line
or sentence: stop words, and (with the casing lexicon) words English usually writes lowercase
("Finished"). What is left of each piece is an entity with the span's label; a piece with
nothing left is dropped.

Benign entities: names a summary may add from world knowledge without the annotators calling it
an error (the country of a city the article names, a broadcaster). :func:`benign_keys` reads them
from a list or a file (one a line, ``#`` comments) into canonical keys; the metric counts a
summary entity whose key (or an alias) is one of them as supported. There is no default list:
what counts as benign depends on the annotation guidelines, so it is the user's to state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from evalkit.core.text import sentences
from evalkit.metrics.entities.normalize import canonical_key, entity_key

SPAN_CUTS = "lines, bullets, sentence ends, stop words after . ! ?; opening lowercase words dropped (1)"
"""What :func:`cut_spans` does, as the metric's settings record it (change the text when the rules change)."""

_LINE = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
_BULLET = re.compile(r"^(?:[-*•–—·]|\d{1,2}[.)])\s+")
_STOP_AFTER_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z][a-z]*\b)")


def _stop_words() -> frozenset[str]:
    try:
        from spacy.lang.en.stop_words import STOP_WORDS
    except ImportError:  # the metric needs spaCy anyway; keep this module importable without it
        return frozenset({"the", "a", "an", "he", "she", "it", "they", "we", "i", "in", "on", "but", "and"})
    return frozenset(STOP_WORDS)


STOP_WORDS = _stop_words()
"""Lowercase function words: a capitalized one after a sentence end opens a new sentence."""


def _split_at_stop_words(piece: str) -> list[str]:
    parts, start = [], 0
    for match in _STOP_AFTER_END.finditer(piece):
        following = piece[match.end():].split(maxsplit=1)[0]
        if following.lower() in STOP_WORDS:
            parts.append(piece[start:match.start()])
            start = match.end()
    parts.append(piece[start:])
    return parts


def _drop_opening_words(piece: str, lowercase_word: Callable[[str], bool]) -> str:
    words = piece.split()
    while words and (words[0].lower() in STOP_WORDS or lowercase_word(words[0])):
        words.pop(0)
    return " ".join(words)


def cut_span(text: str, lowercase_word: Callable[[str], bool] = lambda word: False) -> list[str]:
    """The pieces of one entity span, cut at line breaks, bullets and sentence ends (see the module docstring).

    ``lowercase_word``: whether English usually writes a word lowercase (the casing lexicon's view);
    such a word opening a piece after a cut is dropped.
    """
    if "\n" not in text and "\r" not in text and not re.search(r"[.!?]\s", text):
        return [text]  # the common case: nothing to cut
    pieces: list[str] = []
    for line_index, line in enumerate(_LINE.split(text.strip())):
        line = _BULLET.sub("", line) if line_index else line
        for sentence_index, sentence in enumerate(sentences(line) or [line]):
            for part_index, part in enumerate(_split_at_stop_words(sentence)):
                after_cut = line_index or sentence_index or part_index
                part = _drop_opening_words(part, lowercase_word) if after_cut else part.strip()
                if part:
                    pieces.append(part)
    return pieces


def cut_spans(ents: Iterable[tuple[str, str]],
              lowercase_word: Callable[[str], bool] = lambda word: False) -> tuple[tuple[str, str], ...]:
    """``(entity text, label)`` pairs with every span cut by :func:`cut_span`, in order."""
    return tuple((piece, label) for text, label in ents for piece in cut_span(text, lowercase_word))


def benign_keys(benign: Sequence[str] | str | None) -> frozenset[tuple[str, ...]]:
    """Canonical keys of the benign entities: a list of names, or the path of a file with one a line."""
    if benign is None:
        return frozenset()
    if isinstance(benign, str):
        path = Path(benign)
        if not path.is_file():
            raise ValueError(f"benign: no file {benign!r}; give a list of names or the path of a file "
                             "with one name a line")
        names = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        names = list(benign)
    return frozenset(canonical_key(key) for key in (entity_key(n, name=True) for n in names if n) if key)


def is_benign(key: tuple[str, ...], benign: frozenset[tuple[str, ...]]) -> bool:
    """Whether an entity key, or one of its aliases, is on the benign list."""
    return canonical_key(key) in benign
