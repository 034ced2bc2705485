"""The one definition of words, sentences and paragraphs that every strategy and metric uses.

- A **word** is a whitespace-separated token that contains at least one letter or digit
  (in any script), so ``"—"`` and ``"."`` are not words but ``"U.S."``, ``"2,000"`` and
  ``"Łódź"`` are. Chinese and Japanese do not separate words by spaces, so every Han,
  Hiragana and Katakana character is a word of its own (``"北京下雨"`` is 4 words), and a run of
  other letters or digits inside such a token is one word (``"2024年"`` -> ``2024``, ``年``):
  the character count is the usual length unit for Chinese and Japanese, and a word target of
  N there means N characters. Korean (Hangul) separates words by spaces and is counted by them.
  Right-to-left text (Arabic, Hebrew) is split like any other and never reordered.
- A **paragraph** is a block of text separated from the next by a blank line. Text with no
  blank line but several lines (as pasted from a web page) has one paragraph per non-empty line.
- A **sentence** never crosses a line break. Inside a line, a sentence ends at ``.``, ``!``,
  ``?`` or ``…`` (with any closing quotes or brackets) before whitespace, unless the word
  ending there is a known abbreviation or an initial (``Mr.``, ``U.S.``, ``V.``) or the next
  word starts in lower case. A terminator that stands alone as a token (``word .``, as in
  PTB-tokenized text) always ends a sentence, whatever follows. The Chinese and Japanese
  full stops and marks ``。！？`` end a sentence with or without a space after them; the Arabic
  question mark ``؟``, the Urdu full stop ``۔`` and the Devanagari danda ``।`` and ``॥`` end one
  before whitespace. Scripts without case have no "next word in lower case" exception.
"""

from __future__ import annotations

import re
from functools import lru_cache

TEXT_VERSION = "2"
"""Bumped when a definition here changes counts (2: CJK words per character, CJK/Arabic/Devanagari
sentence ends). Every strategy and metric whose module imports this one has it in its fingerprint or
signature without asking (:func:`evalkit.core.fingerprint.identity`)."""

_ALNUM = re.compile(r"[^\W_]")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
# A candidate end: terminator(s), optional closing quotes/brackets, then whitespace.
_CLOSERS = "\"'”’»)\\]」』）》〉】"
_CANDIDATE = re.compile(rf"([.!?…؟۔।॥]+|[。！？][。！？!?]*)([{_CLOSERS}]*)(\s*)")
_HARD_ENDS = frozenset("。！？؟۔।॥")  # no abbreviations, no case: these always end a sentence
_FULL_WIDTH_ENDS = frozenset("。！？")  # need no space after them
# Han (with 々 and the compatibility and extension blocks), Hiragana, Katakana (and half-width).
_CJK_CLASS = "\u3005\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
_CJK = re.compile(f"[{_CJK_CLASS}]")
_TOKEN = re.compile(r"\S+")
_CJK_PIECE = re.compile(f"[{_CJK_CLASS}]|[^\\s{_CJK_CLASS}]+")
_OPENERS = "\"'“‘«([-—–"

ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st jr sr gen col lt sgt capt cmdr adm maj gov sen rep rev hon pres supt insp det
    mt ft ave blvd rd no nos vs etc inc co corp ltd bros dept est approx fig al eg ie cf
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the words of ``text`` (``text[start:end]`` is the word)."""
    spans = []
    for token in _TOKEN.finditer(text):
        if not _CJK.search(token.group()):
            if _ALNUM.search(token.group()):
                spans.append(token.span())
            continue
        base = token.start()
        spans.extend((base + m.start(), base + m.end()) for m in _CJK_PIECE.finditer(token.group())
                     if _ALNUM.search(m.group()))
    return spans


def words(text: str) -> list[str]:
    """The words of ``text``, in order (see the module docstring for the definition)."""
    if not _CJK.search(text):
        return [token for token in text.split() if _ALNUM.search(token)]
    return [text[start:end] for start, end in word_spans(text)]


def truncate_words(text: str, limit: int) -> str:
    """``text`` cut just after its ``limit``-th word (whole when it has fewer), spacing kept as it was."""
    if limit <= 0:
        return ""
    spans = word_spans(text)
    return text if len(spans) <= limit else text[:spans[limit - 1][1]]


def mostly_non_ascii(text: str) -> bool:
    """True when more than half of the letters in ``text`` are outside ASCII (Cyrillic, Arabic, Chinese...)."""
    letters = [c for c in text if c.isalpha()]
    return sum(not c.isascii() for c in letters) * 2 > len(letters)


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
        terminator = match.group(1)
        if not rest or not (match.group(3) or terminator[0] in _FULL_WIDTH_ENDS):
            continue
        before = line[start:match.start()]
        standalone = not before or before[-1].isspace()
        if not standalone and terminator[0] not in _HARD_ENDS:
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


_ENDS_SENTENCE = re.compile(rf"(?:[.!?…؟۔।॥]|[。！？])[{_CLOSERS}]*\s*$")


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends on a sentence terminator (``.``, ``!``, ``?``, ``…``, ``。``...), with any
    closing quotes or brackets after it: what a summary that was not cut off mid-sentence does."""
    return bool(_ENDS_SENTENCE.search(text))


def trim_to_sentence(text: str) -> str:
    """``text`` up to the end of its last complete sentence (spacing kept); ``""`` when it has none.

    The pieces that :func:`sentences` finds after the last terminator (an unfinished sentence, a
    line without one) are dropped; a text that :func:`ends_sentence` is returned whole.
    """
    text = text.rstrip()
    while text and not ends_sentence(text):
        pieces = _sentences_cached(text)
        if len(pieces) < 2:
            return ""
        text = text[:text.rfind(pieces[-1])].rstrip()
    return text


def count_sentences(text: str) -> int:
    return len(_sentences_cached(text))


def count_paragraphs(text: str) -> int:
    return len(paragraphs(text))


def join_sentences(sents: list[str]) -> str:
    """Sentences joined by a space, or by nothing after a Chinese/Japanese sentence (which uses no spaces)."""
    out = ""
    for sent in sents:
        if out and not (out[-1] in _FULL_WIDTH_ENDS or _CJK.match(out[-1])):
            out += " "
        out += sent
    return out


def join_paragraphs(sentence_groups: list[list[str]]) -> str:
    """Join groups of sentences into paragraphs: sentences by :func:`join_sentences`, paragraphs by a blank line."""
    return "\n\n".join(join_sentences(group) for group in sentence_groups if group)
