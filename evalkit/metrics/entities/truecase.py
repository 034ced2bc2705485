"""Lowercased, PTB-tokenized system output: detokenization and case restoration.

See *Lowercased, PTB-tokenized output* in :mod:`evalkit.metrics.entities.metric`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from evalkit.metrics.entities.normalize import APOSTROPHES, POSSESSIVE, SPLIT_NAME

_PTB = [
    (re.compile(r"\\'"), "'"),
    (re.compile(r"-lrb-|-LRB-"), "("), (re.compile(r"-rrb-|-RRB-"), ")"),
    (re.compile(r"-lsb-|-LSB-"), "["), (re.compile(r"-rsb-|-RSB-"), "]"),
    (re.compile(r"-lcb-|-LCB-"), "{"), (re.compile(r"-rcb-|-RCB-"), "}"),
    (re.compile(r"``|''"), '"'),
    (SPLIT_NAME, r"\1'"),
    (re.compile(r"\s+('s|'re|'ve|'ll|'d|'m|n't)\b", re.IGNORECASE), r"\1"),
    (re.compile(r"\s+([,.;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$£€])\s+"), r"\1"),
]


def detokenize(text: str) -> str:
    """Undo PTB tokenization: ``"king 's ."`` -> ``"king's."``, ``-lrb-`` -> ``(``, ``\\'`` -> ``'``."""
    for pattern, replacement in _PTB:
        text = pattern.sub(replacement, text)
    return text


_TOKEN = re.compile(r"\S+")
_EDGE = re.compile(r"^([\W_]*)(.*?)([\W_]*)$", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*$")
_QUOTES = ('"', "``", "“", "'", "‘")


def looks_lowercased(text: str) -> bool:
    """True when no word inside a sentence has an upper-case letter followed by a lower-case one.

    Sentence-initial words do not count, so text lowercased except at sentence starts ("Paul
    merson joined burnley.", as many systems' outputs are distributed) is lowercased too;
    all-capital words (``UNK``, ``FBI``) do not count either.
    """
    at_start = True
    for match in _TOKEN.finditer(text):
        token = match.group()
        _, core, _ = _split_core(token)
        if core and not at_start and any(ch.isupper() and nxt.islower() for ch, nxt in zip(core, core[1:])):
            return False
        if core:
            at_start = False
        if (_SENTENCE_END.search(token) and not _is_initial(core)) or token in _QUOTES:
            at_start = True
    return True


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
                base = POSSESSIVE.sub("", core.translate(APOSTROPHES))
                for form in (base, *base.split("-")) if "-" in base else (base,):
                    if form:
                        (initial if at_start else inside).setdefault(form.lower(), Counter())[form] += 1
            at_start = bool(_SENTENCE_END.search(token)) or token in _QUOTES
    table = {}
    for word in set(inside) | set(initial):
        counts = inside.get(word) or initial[word]
        table[word] = max(counts.items(), key=lambda item: (item[1], item[0] == word))[0]
    return table


def truecase(text: str, table: dict[str, str], lexicon: dict[str, str] | None = None) -> str:
    """``text`` with each word in its form from ``table`` (else from ``lexicon``, see
    :func:`~evalkit.metrics.entities.lexicon.case_lexicon`) and sentence starts capitalized."""
    lexicon = lexicon or {}

    def form(word: str) -> str:
        lower = word.lower()
        return table.get(lower) or lexicon.get(lower) or word

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
            if base.lower() in table or base.lower() in lexicon:
                base = form(base)
            elif "-" in base:
                base = "-".join(form(part) for part in base.split("-"))
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



NAME_PARTICLES = frozenset(
    "of the and for on in at to a an de da del della der den di du la le van von al el bin ibn y".split())
"""Words kept lowercase inside a displayed name ("Duchess of Cambridge", "Ludwig van Beethoven")."""


def display_name(text: str) -> str:
    """A named entity of lowercased text in a clean casing: "tony Abbott" -> "Tony Abbott", "europe" -> "Europe".

    Words that start with a lower-case letter are capitalized, except :data:`NAME_PARTICLES`
    after the first word; words already holding a capital are kept ("McDonald", "UNK").
    """
    out = []
    for index, piece in enumerate(re.split(r"(\s+|-)", text)):
        if piece[:1].islower() and not (index and piece in NAME_PARTICLES):
            piece = piece[:1].upper() + piece[1:]
        if re.match(r"[^\W\d_]'[^\W\d_]", piece):  # O'sullivan -> O'Sullivan
            piece = piece[:2] + piece[2].upper() + piece[3:]
        out.append(piece)
    return "".join(out)
