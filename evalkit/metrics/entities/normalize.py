"""Entity normalisation: the words matching compares, entity keys (titles, "the"), aliases.

See *Normalization* and *Aliases* in :mod:`evalkit.metrics.entities.metric`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

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

APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "´": "'"})
POSSESSIVE = re.compile(r"(?<=[^\W_])\s*'s\b", re.IGNORECASE)
_PLURAL_POSSESSIVE = re.compile(r"(?<=[sS])'(?=[\s\W]|$)")
_WORD = re.compile(r"[^\W_]+(?:['.][^\W_]+)*\.?")
SPLIT_NAME = re.compile(r"(?<![^\W_])(?<!['’])([^\W\d_]) ' (?=[^\W\d_]{2})")
"""A one-letter word, a spaced apostrophe and a word: a name PTB split ("o ' sullivan", "d ' souza").
The letter must not follow an apostrophe: in "amy 's ' bus" it is the possessive's ``s`` and the
next ``'`` closes a quote, so nothing is joined."""


def clean(text: str) -> str:
    """NFKC, one apostrophe, PTB-split names rejoined, possessives dropped (the text matching reads)."""
    text = unicodedata.normalize("NFKC", text).translate(APOSTROPHES).replace("\\'", "'")
    text = SPLIT_NAME.sub(r"\1'", text)
    text = POSSESSIVE.sub("", text)
    return _PLURAL_POSSESSIVE.sub("", text)


_TIME_12H = re.compile(r"(?<![\w.:])(\d{1,2})(?:[:.]([0-5]\d))?\s?([ap])\.?\s?m(?![^\W_])\.?", re.IGNORECASE)
_TIME_24H = re.compile(r"(?<![\w.:])(0\d|1[3-9]|2[0-3]):([0-5]\d)(?![\w:]|[.,]\d)")
UNITS = frozenset("""
    km kms kg kgs mph kph kmh ft cm mm mg ml lb lbs oz mi yd yds kw kwh mw gw gb mb tb ghz mhz sq kmph
    """.split())
"""Unit suffixes split from a number ("5km" reads as "5 km"), so both spellings match."""
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)")


def _times(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, is_time)``: clock times become one canonical ``HH:MM`` (24-hour) token.

    "3 pm", "3pm", "3 p.m." and "15:00" all read ``15:00``; "9.30am" reads ``09:30``. A time
    without am/pm is taken as 24-hour only when it cannot be a 12-hour one ("15:00", "09:30");
    "3:00" stays two numbers, since it may be either.
    """
    spans: list[tuple[int, int, str]] = []
    for found in _TIME_12H.finditer(text):
        hour, minute = int(found.group(1)), int(found.group(2) or 0)
        if 1 <= hour <= 12:
            hour = hour % 12 + (12 if found.group(3).lower() == "p" else 0)
            spans.append((found.start(), found.end(), f"{hour:02d}:{minute:02d}"))
    for found in _TIME_24H.finditer(text):
        if not any(start <= found.start() < end for start, end, _ in spans):
            spans.append((found.start(), found.end(), f"{int(found.group(1)):02d}:{found.group(2)}"))
    pieces, last = [], 0
    for start, end, token in sorted(spans):
        pieces += [(text[last:start], False), (token, True)]
        last = end
    return [*pieces, (text[last:], False)]


def normalize_tokens(text: str) -> list[str]:
    """The words of ``text`` as matching sees them (*Normalization* in :mod:`evalkit.metrics.entities.metric`)."""
    out = []
    for piece, is_time in _times(clean(text)):
        if is_time:
            out.append(piece)
            continue
        for match in _WORD.finditer(piece):
            raw = match.group()
            token = raw.replace(".", "").replace("'", "").lower()
            if token == "us" and raw != "us":  # U.S., US, u.s. -> the country; the pronoun "us" stays
                token = "US"
            unit = _NUMBER_UNIT.fullmatch(token)
            if unit and unit.group(2) in UNITS:
                out += [unit.group(1), unit.group(2)]
                continue
            out.append(token)
    return out


_TITLE_SET = {tuple(t.split()) for t in TITLES}
_TITLE_KEYS = sorted(_TITLE_SET, key=len, reverse=True)


_EDGE_SCORE = re.compile(r"^\s*\d{1,3}\s?[-–]\s?\d{1,3}\s+(?=\D)|(?<=\D)\s+\d{1,3}\s?[-–]\s?\d{1,3}\s*$")
"""A score at either end of a name ("Leeds Rhinos 29-10"): the result, not part of the name."""


def edge_scores(text: str) -> list[str]:
    """The scores at either end of a name ("Leeds Rhinos 29-10" -> ``["29-10"]``)."""
    return [found.group().strip() for found in _EDGE_SCORE.finditer(text)]


def entity_key(text: str, *, name: bool = False) -> tuple[str, ...]:
    """The normalized key of an entity: words without leading "the" and titles (may be empty).

    With ``name=True`` (named entities) a score at either end is left out first, and a
    lowercase ``us`` is the country (in lowercased text "the us" is written so).
    """
    tokens = normalize_tokens(_EDGE_SCORE.sub("", text) if name else text)
    if name:  # NER read it as a name: lowercased "us" is the country here, not the pronoun
        tokens = ["US" if token == "us" else token for token in tokens]
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


def phrase(tokens: Iterable[str]) -> str:
    return " " + " ".join(tokens) + " "

