"""A general English casing lexicon: how words are usually written, for words a document does not have.

Case restoration (:mod:`~evalkit.metrics.entities.truecase`) takes each word's casing from the
document's own cased texts first. A word found in none of them (most often a name the system
invented: "post office in glasgow" over an article that never says Glasgow) takes its form
from this lexicon, so that NER sees "Glasgow" and the invented name can be flagged.

The lexicon is spaCy's English word-probability table (``en_lexeme_prob`` in the
``spacy-lookups-data`` package, one million case-sensitive forms with log probabilities
estimated from a large web corpus). A lowercased word maps to its most probable capitalized
form when that form is at least :data:`CASE_RATIO` times as probable as the lowercase one:
"glasgow" -> "Glasgow" (17 to 1), "obama" -> "Obama", "mcdonald" -> "McDonald", "monday" ->
"Monday"; "apple" (2 to 1 would be needed, it is 1.96), "bill", "mark" and "may" stay
lowercase, since their lowercase uses are at least half as common. A capitalized form with no
lowercase entry ("Corbyn") counts as capitalized. Only alphabetic words are in it.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from functools import lru_cache

log = logging.getLogger(__name__)

CASE_RATIO = 2.0
"""A word is capitalized when its capitalized form is at least this many times as probable as its
lowercase one. Chosen before measuring: "more often capitalized than not, by a clear margin"
(sentence starts alone capitalize a common word about 1 time in 10 to 20). On FRANK the entity
precision's partial correlation is .110 at 1, .107 at 2, .108 at 4, .099 at 10: not sensitive to it."""

TABLE = "en_lexeme_prob.json.gz"
PACKAGE = "spacy-lookups-data"


class LexiconMissingError(RuntimeError):
    """The lexicon's package is not installed."""


def version() -> str:
    """The installed ``spacy-lookups-data`` version, ``"missing"`` when it is not installed."""
    try:
        from spacy_lookups_data import __version__
    except ImportError:
        return "missing"
    return __version__


@lru_cache(maxsize=1)
def case_lexicon() -> dict[str, str]:
    """Lowercase word -> its usual capitalized form, for words mostly written capitalized (~126k words).

    Built once per process from the probability table (about 2.5 s and 150 MB while building,
    15 MB kept).
    """
    try:
        import spacy_lookups_data
    except ImportError as exc:
        raise LexiconMissingError(
            f'restoring case uses the {PACKAGE} casing lexicon, which is not installed: '
            f'pip install "evalkit[metrics]" (or {PACKAGE}), or set case_lexicon: false'
        ) from exc
    with gzip.open(spacy_lookups_data.get_file(TABLE), "rt", encoding="utf-8") as handle:
        probabilities: dict[str, float] = json.load(handle)
    return capitalized_forms(probabilities)


def capitalized_forms(probabilities: dict[str, float], ratio: float = CASE_RATIO) -> dict[str, str]:
    """From ``{form: log probability}``, lowercase word -> the most probable form that starts with a
    capital, for words whose that form is at least ``ratio`` times as probable as the lowercase one."""
    margin = math.log(ratio)
    best: dict[str, tuple[str, float]] = {}
    for form, logp in probabilities.items():
        if not (form[:1].isupper() and form.isalpha()):
            continue
        lower = form.lower()
        if logp - probabilities.get(lower, -math.inf) < margin:
            continue
        if lower not in best or logp > best[lower][1]:
            best[lower] = (form, logp)
    log.info("entities: casing lexicon of %d words", len(best))
    return {lower: form for lower, (form, _) in best.items()}
