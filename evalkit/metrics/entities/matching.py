"""What one text holds for matching (its distinct entities, words and numbers) and the support rules.

See *Support* and *Numbers* in :mod:`evalkit.metrics.entities.metric`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evalkit.metrics.entities.normalize import alias_keys, canonical_key, entity_key, phrase
from evalkit.metrics.entities.numbers import NUMBER_FILLERS, NUMBER_WORDS, SCALE_SUFFIXES, read_numbers

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


PLACEHOLDERS = frozenset({"unk"})
"""Normalized words that stand for a word a system could not produce (``UNK``, ``[UNK]``, ``<unk>``)."""


def distinct(ents: Iterable[tuple[str, str]], types: frozenset[str], *,
             name: bool) -> tuple[tuple[Entity, ...], tuple[Entity, ...]]:
    """``(entities, placeholder entities)`` of the given types, de-duplicated by canonical key.

    ``name``: the types are names (see :func:`entity_key`), not numbers.
    """
    seen: dict[tuple[str, ...], Entity] = {}
    for text, label in ents:
        if label not in types:
            continue
        key = entity_key(text, name=name)
        if not key:
            continue
        seen.setdefault(canonical_key(key), Entity(text, label, key))
    kept = tuple(e for e in seen.values() if not PLACEHOLDERS.intersection(e.key))
    return kept, tuple(e for e in seen.values() if PLACEHOLDERS.intersection(e.key))


def supported(key: tuple[str, ...], other: Analysis, match: str) -> bool:
    for variant in alias_keys(key):
        padded = phrase(variant)
        if any(padded in candidate for candidate in other.entity_phrases):
            return True
        if match == "text" and padded in other.stream:
            return True
    return False


CONJUNCTIONS = frozenset({"and", "or"})
"""Words that join two names in one span ("the Olympics and Paralympics", "Council or Police")."""


def conjuncts(key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The names a coordinated key joins ("olympics and paralympics" -> olympics, paralympics); ``[key]``
    when it joins none (a conjunction at either end, or two in a row, is not a join)."""
    parts, current = [], []
    for word in key:
        if word in CONJUNCTIONS:
            if not current:
                return [key]
            parts.append(tuple(current))
            current = []
        else:
            current.append(word)
    if not current:
        return [key]
    return [*parts, tuple(current)]


def name_supported(key: tuple[str, ...], other: Analysis, match: str) -> bool:
    """:func:`supported`, or every name of a coordinated key supported on its own (see *Support*)."""
    if supported(key, other, match):
        return True
    parts = conjuncts(key)
    return len(parts) > 1 and all(supported(part, other, match) for part in parts)


def number_supported(entity: Entity, source: Analysis, match: str) -> bool:
    if supported(entity.key, source, match):
        return True
    numbers = read_numbers(entity.text)
    if not numbers:
        return False
    if not all(any(n.matches(v) for v in source.values) for n in numbers):
        return False
    content = [w for w in entity.key if not any(c.isdigit() for c in w) and w not in NUMBER_WORDS
               and w not in NUMBER_FILLERS and w not in SCALE_SUFFIXES]
    return all(w in source.words for w in content)

