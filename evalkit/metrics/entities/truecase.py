"""Lowercased, PTB-tokenized system output: detokenization and case restoration.

See *Lowercased, PTB-tokenized output* in :mod:`evalkit.metrics.entities.metric`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from evalkit.metrics.entities.normalize import APOSTROPHES, POSSESSIVE

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
                base = POSSESSIVE.sub("", core.translate(APOSTROPHES))
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

