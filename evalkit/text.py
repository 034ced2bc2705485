"""The one definition of words, sentences and paragraphs that every strategy and metric uses.

- A **word** is a whitespace-separated token that contains at least one letter or digit
  (in any script), so ``"—"`` and ``"."`` are not words but ``"U.S."``, ``"2,000"`` and
  ``"Łódź"`` are.
- A **paragraph** is a block of text separated from the next by a blank line. Text with no
  blank line but several lines (as pasted from a web page) has one paragraph per non-empty line.
- A **sentence** never crosses a line break. Inside a line, a sentence ends at ``.``, ``!``,
  ``?`` or ``…`` (with any closing quotes or brackets) before whitespace, unless the word
  ending there is a known abbreviation or an initial (``Mr.``, ``U.S.``, ``V.``) or the next
  word starts in lower case. A terminator that stands alone as a token (``word .``, as in
  PTB-tokenized text) always ends a sentence, whatever follows.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ALNUM = re.compile(r"[^\W_]")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
# A candidate end: terminator(s), optional closing quotes/brackets, then whitespace.
_CANDIDATE = re.compile(r"([.!?…]+)([\"'”’»)\]]*)(\s+)")
_OPENERS = "\"'“‘«([-—–"

ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st jr sr gen col lt sgt capt cmdr adm maj gov sen rep rev hon pres supt insp det
    mt ft ave blvd rd no nos vs etc inc co corp ltd bros dept est approx fig al eg ie cf
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)


def words(text: str) -> list[str]:
    """The words of ``text``, in order (see the module docstring for the definition)."""
    return [token for token in text.split() if _ALNUM.search(token)]


def count_words(text: str) -> int:
    """How many words ``text`` has."""
    return len(words(text))


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text``, stripped, empty ones dropped."""
    text = text.strip()
    if not text:
        return []
    if _BLANK_LINE.search(text):
        blocks = _BLANK_LINE.split(text)
    else:
        blocks = text.split("\n")
    return [block.strip() for block in blocks if block.strip()]


def _is_abbreviation(token: str) -> bool:
    """True when ``token`` (the word a period ends) should not end a sentence."""
    core = token.lstrip(_OPENERS).rstrip(".")
    if not core:
        return False
    if "." in core:  # U.S., e.g., a.m., p.m.
        return True
    if len(core) == 1 and core.isalpha():  # an initial: "V. Marlowe"
        return True
    return core.lower() in ABBREVIATIONS


def _starts_lower(rest: str) -> bool:
    stripped = rest.lstrip(_OPENERS)
    return bool(stripped) and stripped[0].islower()


def _split_line(line: str) -> list[str]:
    out: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(line):
        end = match.end(2)
        rest = line[match.end():]
        if not rest:
            continue
        terminator = match.group(1)
        before = line[start:match.start()]
        standalone = not before or before[-1].isspace()
        if not standalone:
            if _starts_lower(rest):
                continue
            if terminator == "." and _is_abbreviation(before.split()[-1] if before.split() else ""):
                continue
        piece = line[start:end].strip()
        if piece:
            out.append(piece)
        start = match.end()
    tail = line[start:].strip()
    if tail:
        out.append(tail)
    return out


@lru_cache(maxsize=4096)
def _sentences_cached(text: str) -> tuple[str, ...]:
    result: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            result.extend(_split_line(line))
    return tuple(result)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, in order, stripped."""
    return list(_sentences_cached(text))


def count_sentences(text: str) -> int:
    return len(_sentences_cached(text))


def count_paragraphs(text: str) -> int:
    return len(paragraphs(text))


def join_paragraphs(sentence_groups: list[list[str]]) -> str:
    """Join groups of sentences into paragraphs: sentences by a space, paragraphs by a blank line."""
    return "\n\n".join(" ".join(group) for group in sentence_groups if group)
