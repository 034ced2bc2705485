"""Read a length target ("under 100 words", "in 3 sentences") from a plain-English instruction.

:func:`parse_target` turns an instruction into a :class:`~evalkit.core.types.LengthTarget`;
:func:`split_instruction` takes such an instruction off the first line of a user's request.

Forms understood (case-insensitive, anywhere in the text):

- **Counts**: digits (``50``), thousands separators (``1,500``), a ``k`` suffix (``2k``,
  ``1.5k``), spelled out (``five``, ``twenty-five``, ``a hundred``, ``one hundred and fifty``,
  ``fifteen hundred``, ``two thousand``), and ``a`` / ``an`` / ``a single`` / ``single`` for one
  (``a paragraph``, ``a single sentence``, ``a one-sentence summary``).
- **Units**: ``word(s)``, ``sentence(s)``, ``paragraph(s)``, ``para(s)``; the count may be an
  adjective (``a 150-word summary``, ``150 word summary``) and may carry an adjective or two
  (``3 short sentences``).
- **Ceilings** (bound ``at_most``): under, below, within, less/fewer than, no/not more than,
  no longer than, not exceeding, at most, up to, maximum (of), max, ``<``, ``≤``; after the
  unit: or less, or fewer, max, maximum, at most, tops.
- **Floors** (bound ``at_least``): at least, more than, over, above, no fewer/less than,
  minimum (of), min, upwards of, ``>``, ``≥``, ``100+``; after the unit: or more, minimum, min.
- **Exact**: exactly, precisely. **About** (also the default when no qualifier is given):
  about, around, roughly, approximately, approx, circa, close to, nearly, ``~``, ``≈``;
  after the unit: or so, give or take, more or less.
- **Ranges**: ``3-4``, ``3 to 4``, ``3 or 4``, ``between 3 and 4``, ``from 3 to 4``,
  ``a sentence or two``.
- **Per-unit counts**: ``2 paragraphs of about 100 words each``, ``100 words per paragraph``,
  ``2 paragraphs, each about 100 words``, ``3 sentences per paragraph``.

Decisions on ambiguous forms:

- **Strict comparisons read as inclusive.** "under 100 words" and "fewer than 100 words" are
  ``at_most 100``, "more than 200 words" is ``at_least 200``: whoever writes them rarely means
  the off-by-one, and the bound is what the length metric checks.
- **The bound qualifies words only**, as :attr:`LengthTarget.bound` says. A qualifier on a
  sentence or paragraph count ("at most 3 sentences") is accepted, and the count kept (3).
- **Ranges**: for words, the midpoint (rounded half up) with bound ``about``, since a range
  states a tolerance ("100-150 words" is about 125); for sentences and paragraphs, the upper
  end ("3-4 sentences" is 4), since the writer allows that many.
- **"N paragraphs of M words" is M words per paragraph**, as in "six boxes of ten eggs":
  "2 paragraphs of about 100 words" is 200 words. The same holds with "each", "per paragraph"
  or "each paragraph", and for sentences ("3 sentences of 20 words" is 60 words). Words given
  without such a link ("100 words in 2 paragraphs") are a total, as is anything marked
  "in total", "total", "in all", "altogether" or "overall".
- **A count that describes the source is ignored**: "this 2,000-word article", "the 5
  paragraphs below" (the count is followed by article, story, text, piece, essay, report,
  document, post, content, source, paper, transcript, input, passage, news, blog, item,
  original, below or above).
- **Bullet points, points, lines, characters, tokens, pages and tweets are refused** with a
  :class:`TargetParseError`, not mapped: evalkit scores words, sentences and paragraphs, and
  turning "five bullet points" into "five sentences" would silently change what was asked.
  Bullets without a count ("as bullet points, in 100 words") are format, not length, and are
  left alone.
- **Errors, not guesses**: no count at all, a zero or negative count, a count that is not a
  whole number, a count above :data:`MAX_COUNTS`, a unit given twice with different values
  ("100 words in 200 words"), a ceiling and a floor on the same count, a backwards range, fewer
  words than sentences (unless the words are a floor), or fewer sentences than paragraphs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from evalkit.core.numbers import SCALES, SMALL, TENS, number_from_words
from evalkit.core.errors import TargetParseError
from evalkit.core.text import count_words
from evalkit.core.types import Bound, LengthTarget

logger = logging.getLogger(__name__)

EXAMPLES: tuple[str, ...] = ("in 3 sentences", "under 100 words", "about 150 words in 2 paragraphs")
"""Instructions quoted in error messages as forms that work."""

MAX_COUNTS: dict[str, int] = {"words": 20_000, "sentences": 1_000, "paragraphs": 200}
"""Counts above these are refused as typos: no news summary is that long."""

MAX_INSTRUCTION_WORDS = 30
"""A first line this long or longer is never taken for an instruction by :func:`split_instruction`."""

_UNITS = ("paragraphs", "sentences", "words")  # largest first: the order counts are resolved in


def _parse_error(text: str, reason: str, hint: str | None = None) -> TargetParseError:
    return TargetParseError(text, reason, hint, EXAMPLES)


# --- normalising the text ---------------------------------------------------------------

_REPLACEMENTS = (
    ("\u2019", "'"), ("\u2018", "'"), ("\u00a0", " "),
    ("\u2010", "-"), ("\u2011", "-"), ("\u2013", "-"), ("\u2014", "-"), ("\u2212", "-"),
    ("\u2264", " at most "), ("\u2265", " at least "), ("<=", " at most "), (">=", " at least "),
    ("<", " under "), (">", " over "), ("\u2248", " about "),
)

_SMALL, _TENS = SMALL, TENS
_SCALES = {word: SCALES[word] for word in ("hundred", "thousand")}  # a target is not a million words

_NUMBER_WORD = r"\b(?:" + "|".join(sorted([*_SMALL, *_TENS, *_SCALES], key=len, reverse=True)) + r")\b"
_NUMBER_PHRASE = re.compile(
    rf"(?:\ban?\s+(?=(?:hundred|thousand)\b))?{_NUMBER_WORD}"
    rf"(?:(?:(?<=hundred)\s+and\s+|(?<=thousand)\s+and\s+|\s+|-){_NUMBER_WORD})*"
)


def _spell_to_digits(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        value = number_from_words(match.group(0))
        return match.group(0) if value is None else str(value)

    return _NUMBER_PHRASE.sub(replace, text)


def _normalise(text: str) -> str:
    text = text.lower()
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    return _spell_to_digits(text)


# --- the patterns -----------------------------------------------------------------------

def _alternatives(phrases: list[str]) -> str:
    """A regex alternation of phrases, longest first, spaces matching any whitespace."""
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in ordered)


_PREFIXES: dict[str, list[str]] = {
    "at_most": ["no more than", "not more than", "no longer than", "not longer than", "no greater than",
                "not to exceed", "not exceeding", "at most", "at the most", "a maximum of", "maximum of",
                "max of", "maximum", "max.", "max", "up to", "under", "below", "within", "less than",
                "fewer than"],
    "at_least": ["no fewer than", "not fewer than", "no less than", "not less than", "no shorter than",
                 "at least", "a minimum of", "minimum of", "minimum", "min.", "min", "more than",
                 "greater than", "upwards of", "over", "above"],
    "exactly": ["exactly", "precisely"],
    "about": ["about", "around", "roughly", "approximately", "approx.", "approx", "circa", "ca.",
              "close to", "nearly"],  # "~" is matched on its own: "~50" has no space
}
_SUFFIXES: dict[str, list[str]] = {
    "at_most": ["or less", "or fewer", "or under", "or shorter", "maximum", "max", "at most",
                "at the most", "tops"],
    "at_least": ["or more", "or longer", "or over", "minimum", "min", "at least"],
    "exactly": ["exactly", "precisely"],
    "about": ["or so", "give or take", "more or less", "or thereabouts", "approximately", "roughly"],
}
_PREFIX_BOUND = {" ".join(p.split()): b for b, phrases in _PREFIXES.items() for p in phrases}
_SUFFIX_BOUND = {" ".join(p.split()): b for b, phrases in _SUFFIXES.items() for p in phrases}

_NUM = r"\d+(?:,\d+)*(?:\.\d+)?(?:\s?k\b)?"
_UNIT = r"words?|sentences?|paragraphs?|paras?"
_ADJECTIVES = (r"(?:short|brief|concise|clear|full|complete|simple|separate|single|tight|crisp"
               r"|succinct|compact|long|distinct|key|main)\s+")
_PRE = _alternatives([p for phrases in _PREFIXES.values() for p in phrases])
_POST = _alternatives([p for phrases in _SUFFIXES.values() for p in phrases])
# A trailing qualifier or "each" followed by a count belongs to that next count ("50 words, at least 3 ...").
_NO_COUNT_NEXT = rf"(?!\s*(?:\d|~|(?:an?|single)\s|(?:{_PRE})(?![\w])))"

_MENTION = re.compile(
    rf"""
    (?:(?<![\w.])(?P<pre>{_PRE})(?![\w])\s*|(?<![\w.])(?P<pre_sym>~)\s*)?
    (?P<qty>
        (?:between|from)\s+(?P<lo>{_NUM})\s*(?:-|to|and)\s*(?P<hi>{_NUM})
      | (?P<lo2>{_NUM})\s*(?:-|to|or)\s*(?P<hi2>{_NUM})
      | (?P<n>{_NUM})(?P<plus>\+)?
      | (?<![\w])(?P<one>a\s+single|single|an?)(?=[\s-])
    )
    (?:\s*-\s*|\s*)(?:{_ADJECTIVES}){{0,2}}
    (?P<unit>{_UNIT})\b
    (?:\s+or\s+(?P<hi3>\d+)\b(?!\s*-?\s*(?:{_UNIT})\b))?
    (?:\s*,?\s*(?P<post>{_POST})(?![\w]){_NO_COUNT_NEXT})?
    (?:\s*,?\s*(?:per|in\s+each|for\s+each|in\s+every|each|every|a)\s+(?P<per>paragraph|para|sentence)\b)?
    (?:\s*,?\s*(?P<each>each|apiece)\b{_NO_COUNT_NEXT}(?!\s*(?:of|with|containing|having|one)\b))?
    (?:\s*,?\s*(?P<post2>{_POST})(?![\w]){_NO_COUNT_NEXT})?
    (?:\s*,?\s*(?P<total>in\s+total|total|in\s+all|altogether|overall)\b)?
    """,
    re.VERBOSE,
)

_UNSUPPORTED = re.compile(
    rf"(?<![\w.])(?P<n>{_NUM})(?:\s*-\s*|\s*)(?:{_ADJECTIVES}){{0,2}}"
    r"(?P<unit>bullet[\s-]*points?|bullets?|points?|lines?|characters?|chars?|tokens?|pages?|tweets?)\b"
)

_SOURCE_NOUN = re.compile(
    r"\s*(?:article|story|text|piece|essay|report|document|post|content|source|paper|transcript"
    r"|input|passage|news|blog|item|original|below|above)\b"
)
# The text between a container ("2 paragraphs") and a count that applies to each of them.
_PER_LINK = re.compile(r"\s*,?\s*(?:and\s+)?(?:each(?:\s+(?:of|with|containing|having|one))?|of)\s*")
# What makes a first line look like an instruction rather than the start of an article.
_INSTRUCTION_START = re.compile(
    r"^[\W_]*(?:(?:please|kindly)\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
    r"(?:summari[sz]e|condense|shorten|write|give|produce|create|make|provide|rewrite|compress"
    r"|reduce|boil|cut|trim|tl;?dr)\b"
)
_MENTIONS_SUMMARY = re.compile(r"\bsumm(?:ary|aries|ari[sz]e|ari[sz]ed|ari[sz]ing)\b|\btl;?\s?dr\b")


@dataclass(frozen=True)
class _Mention:
    """One count found in an instruction: "no more than 80 words", "2 paragraphs"."""

    unit: str
    """``words``, ``sentences`` or ``paragraphs``."""
    value: int
    bound: Bound | None
    """The qualifier given, or None when there was none."""
    per: str | None
    """The larger unit the count is given per ("paragraphs" for "100 words per paragraph")."""
    each: bool
    """True for a trailing "each" whose container is the preceding count."""
    total: bool
    """True when marked "in total": never multiplied."""
    start: int
    end: int
    phrase: str


# --- parsing ----------------------------------------------------------------------------

def _unit_name(raw: str) -> str:
    if raw.startswith("para"):
        return "paragraphs"
    return "sentences" if raw.startswith("sentence") else "words"


def _to_int(token: str, text: str) -> int:
    """The whole number a numeric token stands for ("1,500" -> 1500, "1.5k" -> 1500)."""
    token = token.replace(" ", "")
    thousands = token.endswith("k")
    if thousands:
        token = token[:-1]
    if "," in token:
        if not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
            raise _parse_error(text, f"{token!r} is not a number evalkit can read",
                                   "Write thousands as 1,500 or 1500.")
        token = token.replace(",", "")
    value = Fraction(token) * (1000 if thousands else 1)
    if value.denominator != 1:
        raise _parse_error(text, f"{token}{'k' if thousands else ''} is not a whole number",
                               "Give a whole count, e.g. '3 sentences'.")
    return int(value)


def _combine_bounds(first: Bound | None, second: Bound | None, phrase: str, text: str) -> Bound | None:
    """One bound from two qualifiers: "about 50 words or less" is a ceiling; ceiling + floor is an error."""
    if first is None or first == second:
        return second
    if second is None or second == "about":
        return first
    if first == "about":
        return second
    raise _parse_error(text, f"{phrase!r} sets both {first} and {second}",
                           "Keep one qualifier, e.g. 'at most 50 words'.")


def _read_mention(match: re.Match[str], norm: str, text: str) -> _Mention:
    unit = _unit_name(match.group("unit"))
    phrase = match.group(0).strip()
    qty_start = match.start("qty")
    if qty_start and norm[qty_start - 1] == "-" and (qty_start < 2 or not norm[qty_start - 2].isalnum()):
        raise _parse_error(text, f"it asks for a negative number of {unit} ('-{phrase}')",
                               f"Give a positive count, e.g. '3 {unit}'.")
    if match.group("one"):
        low = high = 1
    elif match.group("n"):
        low = high = _to_int(match.group("n"), text)
    else:
        low = _to_int(match.group("lo") or match.group("lo2"), text)
        high = _to_int(match.group("hi") or match.group("hi2"), text)
    if match.group("hi3"):
        high = int(match.group("hi3"))
    if low < 1 or high < 1:
        raise _parse_error(text, f"it asks for 0 {unit} ({phrase!r})",
                               f"A target needs at least 1, e.g. '3 {unit}'; "
                               "to set no length at all, give no target.")
    if low > high:
        raise _parse_error(text, f"the range in {phrase!r} runs backwards",
                               f"Put the smaller number first, e.g. '{high}-{low} {unit}'.")
    if unit == "words":
        value = (low + high + 1) // 2  # midpoint, rounded half up
    else:
        value = high
    pre = match.group("pre")
    bound = _PREFIX_BOUND[" ".join(pre.split())] if pre else ("about" if match.group("pre_sym") else None)
    if match.group("plus"):
        bound = _combine_bounds(bound, "at_least", phrase, text)
    for group in ("post", "post2"):
        if match.group(group):
            bound = _combine_bounds(bound, _SUFFIX_BOUND[" ".join(match.group(group).split())], phrase, text)
    per = match.group("per")
    return _Mention(
        unit=unit, value=value, bound=bound, per=_unit_name(per) if per else None,
        each=bool(match.group("each")), total=bool(match.group("total")),
        start=match.start(), end=match.end(), phrase=phrase,
    )


def _link_containers(mentions: list[_Mention], norm: str, text: str) -> list[_Mention]:
    """Fill in ``per`` for counts given per container: "2 paragraphs of 100 words (each)"."""
    linked = []
    for index, mention in enumerate(mentions):
        per = mention.per
        if per is None and not mention.total and index > 0:
            previous = mentions[index - 1]
            larger = _UNITS.index(previous.unit) < _UNITS.index(mention.unit)
            if larger and _PER_LINK.fullmatch(norm[previous.end:mention.start]):
                per = previous.unit
        if per is None and mention.each:
            containers = [m for m in mentions[:index] if _UNITS.index(m.unit) < _UNITS.index(mention.unit)]
            if not containers:
                raise _parse_error(text, f"{mention.phrase!r} says 'each' but gives nothing to count it per",
                                       "Say how many, e.g. '2 paragraphs of about 100 words each'.")
            per = containers[-1].unit
        if per is not None and _UNITS.index(per) >= _UNITS.index(mention.unit):
            raise _parse_error(text, f"{mention.phrase!r} counts {mention.unit} per {per[:-1]}",
                                   "Give words per sentence or paragraph, or sentences per paragraph.")
        linked.append(replace(mention, per=per))
    return linked


def _check_unsupported(norm: str, text: str) -> None:
    match = _UNSUPPORTED.search(norm)
    if match is None:
        return
    unit = re.sub(r"[\s-]+", " ", match.group("unit"))
    if unit.startswith(("bullet", "point", "line")):
        count = match.group("n")
        hint = f"Ask for sentences or paragraphs instead, e.g. 'in {count} sentences'."
    else:
        hint = "Give a word count instead, e.g. 'under 50 words'."
    raise _parse_error(
        text, f"it counts {unit}, which is not a length unit evalkit scores (words, sentences, paragraphs)", hint
    )


def parse_target(text: str) -> LengthTarget:
    """The length target an instruction asks for, with ``instruction=text``.

    >>> parse_target("Summarize this content to 2000 words in 6 paragraphs").key()
    'words=2000,paragraphs=6,bound=about'

    Raises :class:`TargetParseError` when the text gives no usable count (see the module
    docstring for the forms understood and the decisions on ambiguous ones).
    """
    if not isinstance(text, str):
        raise TypeError(f"a length instruction must be a string, got {type(text).__name__}: {text!r}")
    if not text.strip():
        raise _parse_error(text, "it is empty", "Give a count, e.g. 'in 3 sentences'.")
    norm = _normalise(text)
    _check_unsupported(norm, text)
    mentions = [
        _read_mention(match, norm, text)
        for match in _MENTION.finditer(norm)
        if not _SOURCE_NOUN.match(norm, match.end())
    ]
    if not mentions:
        raise _parse_error(text, "it gives no count of words, sentences or paragraphs",
                               "Add one, e.g. 'Summarize in 3 sentences'.")
    mentions = _link_containers(mentions, norm, text)

    totals: dict[str, int] = {}
    bound: Bound | None = None
    for unit in _UNITS:  # containers first, so per-container counts can be multiplied out
        seen: dict[int, str] = {}
        bounds: dict[Bound, str] = {}
        for mention in (m for m in mentions if m.unit == unit):
            value = mention.value
            if mention.per is not None:
                if mention.per not in totals:
                    raise _parse_error(
                        text, f"{mention.phrase!r} gives {unit} per {mention.per[:-1]} but no number of {mention.per}",
                        f"Say how many, e.g. '2 {mention.per} of {mention.value} {unit} each'.")
                value *= totals[mention.per]
            seen.setdefault(value, mention.phrase)
            if mention.bound is not None:
                bounds.setdefault(mention.bound, mention.phrase)
        if len(seen) > 1:
            (first, first_phrase), (second, second_phrase) = list(seen.items())[:2]
            raise _parse_error(
                text, f"it gives {unit} twice with different counts ({first_phrase!r} is {first}, "
                      f"{second_phrase!r} is {second})", f"Keep one count of {unit}.")
        if seen:
            value = next(iter(seen))
            if value > MAX_COUNTS[unit]:
                raise _parse_error(
                    text, f"{value:,} {unit} is more than evalkit accepts ({MAX_COUNTS[unit]:,})",
                    "Is it a typo? Give a smaller count.")
            totals[unit] = value
        if unit == "words":
            strict = [b for b in bounds if b != "about"]
            if len(strict) > 1:
                raise _parse_error(
                    text, f"it qualifies words in conflicting ways ({bounds[strict[0]]!r} is {strict[0]}, "
                          f"{bounds[strict[1]]!r} is {strict[1]})", "Keep one qualifier.")
            bound = strict[0] if strict else ("about" if bounds else None)

    words, sentences, paragraphs = totals.get("words"), totals.get("sentences"), totals.get("paragraphs")
    bound = bound or "about"
    smallest_unit = sentences or paragraphs
    if words is not None and smallest_unit is not None and words < smallest_unit and bound != "at_least":
        container = "sentences" if sentences else "paragraphs"
        raise _parse_error(text, f"it asks for {words} words in {smallest_unit} {container}",
                               f"Every {container[:-1]} needs a word; give more words or fewer {container}.")
    if sentences is not None and paragraphs is not None and sentences < paragraphs:
        raise _parse_error(text, f"it asks for {sentences} sentences in {paragraphs} paragraphs",
                               "Every paragraph needs a sentence; give more sentences or fewer paragraphs.")
    return LengthTarget(words=words, sentences=sentences, paragraphs=paragraphs, bound=bound, instruction=text)


def looks_like_instruction(line: str) -> bool:
    """True when ``line`` reads as a request ("Summarize ...", "In 3 sentences", "TL;DR") and is short."""
    norm = _normalise(line.strip())
    if not norm or count_words(norm) >= MAX_INSTRUCTION_WORDS:
        return False
    if _INSTRUCTION_START.match(norm) or _MENTIONS_SUMMARY.search(norm):
        return True
    leading_in = re.match(r"[\W_]*in\s+", norm)  # "In 3 sentences: ..."
    return bool(leading_in and _MENTION.match(norm, leading_in.end()))


def split_instruction(text: str) -> tuple[str | None, str]:
    """Split a request into its instruction line and the text to summarize.

    The first non-empty line is the instruction when it looks like one (see
    :func:`looks_like_instruction`) and :func:`parse_target` can read a target from it; the
    result is then ``(line, rest)`` with the line stripped and leading whitespace removed from
    ``rest``. Otherwise the result is ``(None, text)``, unchanged. A line that looks like an
    instruction but gives no usable target is kept in the text, with a logged warning.
    """
    stripped = text.lstrip()
    line, _, rest = stripped.partition("\n")
    line = line.strip()
    if not looks_like_instruction(line):
        return None, text
    try:
        parse_target(line)
    except TargetParseError as error:
        logger.warning("first line looks like an instruction but is kept as text: %s", error)
        return None, text
    return line, rest.lstrip()


def as_target(value: LengthTarget | Mapping[str, Any] | str | int | None) -> LengthTarget:
    """A length target from what a config file or a caller may give.

    ``None`` is the empty target; an int is a word count; a string is an instruction
    ("3 sentences", "about 50 words"); a mapping names the fields.
    """
    if value is None:
        return LengthTarget()
    if isinstance(value, LengthTarget):
        return value
    if isinstance(value, bool):
        raise TypeError("a length target cannot be a boolean; give e.g. 60, '3 sentences' or {'words': 60}")
    if isinstance(value, int):
        return LengthTarget(words=value)
    if isinstance(value, str):
        return parse_target(value)
    if isinstance(value, Mapping):
        unknown = set(value) - {"words", "sentences", "paragraphs", "bound", "instruction"}
        if unknown:
            raise ValueError(
                f"unknown length-target field(s) {sorted(unknown)}; use words, sentences, paragraphs, bound"
            )
        return LengthTarget(**dict(value))
    raise TypeError(f"cannot make a length target from {type(value).__name__}: {value!r}")
