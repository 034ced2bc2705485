"""Entity-level factual consistency (Nan et al., EACL 2021): the ``entities`` metric.

The metric and its definition are in :mod:`~evalkit.metrics.entities.metric`; the parts it is
built from, each with one reason to change:

- :mod:`~evalkit.metrics.entities.normalize`: the words matching compares, entity keys
  (titles, "the"), aliases;
- :mod:`~evalkit.metrics.entities.numbers`: numbers read from text, matched with rounding;
- :mod:`~evalkit.metrics.entities.truecase`: PTB detokenization and case restoration;
- :mod:`~evalkit.metrics.entities.lexicon`: the general English casing lexicon case restoration
  falls back on;
- :mod:`~evalkit.metrics.entities.matching`: what one text holds for matching, the support rules;
- :mod:`~evalkit.metrics.entities.ner`: the spaCy pipeline (components, batches, processes).
"""

from evalkit.metrics.entities.matching import PLACEHOLDERS, Analysis, Entity
from evalkit.metrics.entities.metric import (
    ENTITY_TYPES,
    MATCH_MODES,
    MEASURES,
    NAMES,
    NUMBER_TYPES,
    EntityOverlap,
)
from evalkit.metrics.entities.ner import AUTO_PROCESS_WORDS, DEFAULT_MODEL
from evalkit.metrics.entities.normalize import (
    ALIASES,
    TITLES,
    alias_keys,
    canonical_key,
    entity_key,
    normalize_tokens,
)
from evalkit.metrics.entities.numbers import NUMBER_FILLERS, Number, read_numbers
from evalkit.metrics.entities.truecase import casing_table, detokenize, looks_lowercased, truecase

__all__ = [
    "ALIASES", "AUTO_PROCESS_WORDS", "DEFAULT_MODEL", "ENTITY_TYPES", "MATCH_MODES", "MEASURES", "NAMES",
    "NUMBER_FILLERS", "NUMBER_TYPES", "PLACEHOLDERS", "TITLES", "Analysis", "Entity", "EntityOverlap", "Number",
    "alias_keys", "canonical_key", "casing_table", "detokenize", "entity_key", "looks_lowercased",
    "normalize_tokens", "read_numbers", "truecase",
]
