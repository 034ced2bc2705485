"""How much a summary copies from its source: extractive fragments and novel n-grams.

**Fragments, coverage, density, compression** — Grusky, Naaman & Artzi (2018), "Newsroom: A
Dataset of 1.3 Million Summaries with Diverse Extractive Strategies", NAACL.
With the article ``A`` and the summary ``S`` as token sequences, the greedy procedure
``F(A, S)`` given in the paper walks the summary left to right; at summary position ``i`` it
scans the article left to right and, at each article position ``j`` where ``S[i] == A[j]``,
extends the match as far as both sequences agree (``S[i:i']`` equals ``A[j:j']``), keeps it
if it is strictly longer than the best so far, and *resumes the scan at ``j'``* (positions
inside a match are not tried as new starts). It then records the longest match (if any) as a
fragment and moves ``i`` past it, or by one token when nothing matched. Then

- ``coverage    = sum(|f| for f in F) / |S|``: the share of summary tokens inside a fragment;
- ``density     = sum(|f|**2 for f in F) / |S|``: the average length of the fragment each
  summary token belongs to;
- ``compression = |A| / |S|``.

Because the scan resumes at ``j'``, ``F`` is greedy and not always the longest possible
match: for ``A = "go go go home"`` and ``S = "go go home"`` it finds ``[go go] [home]``
(density 5/3), not ``[go go home]`` (density 3). That is the paper's algorithm and its
reference implementation (``newsroom/analyze/fragments.py``), kept here so that values are
comparable with published ones.

**Novel n-grams** — See, Liu & Manning (2017), "Get To The Point: Summarization with
Pointer-Generator Networks", ACL (their analysis of abstraction): ``novel_{n}gram`` is the
share of the summary's n-gram *occurrences* (a repeated n-gram counts each time) that never
occur in the source, for n = 1, 2, 3. N-grams are taken over the whole token sequence, so
they may cross sentence boundaries, in the summary and in the source alike.

**Tokens** (for both texts; see :data:`TOKENIZATION`): the words of
:func:`evalkit.core.text.words` (whitespace-separated tokens that contain a letter or digit), each
with its leading and trailing non-alphanumeric characters removed (Unicode-aware; ``_`` counts
as punctuation) and then lowercased with ``str.lower``. Inner punctuation stays:
``"(Reuters)"`` -> ``reuters``, ``"U.S.,"`` -> ``u.s``, ``"2,000"`` -> ``2,000``,
``"don't"`` -> ``don't``; ``"—"`` is not a word at all. This differs from the paper, which
used spaCy tokens (punctuation tokens included), so absolute values are close to but not
the same as Newsroom's.

**Undefined values** — an empty summary (no words) has no coverage, density, compression or
novel n-gram ratios: they are ``None`` with the note ``"empty summary"``. A summary with fewer
than ``n`` tokens has no n-grams: ``novel_{n}gram`` is ``None`` with a note saying so. An empty
source gives coverage, density and compression 0 (they are defined) with an ``"empty source"``
note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.core.options import Options
from evalkit.metrics.base import Candidate, Measure, Metric, MetricResult
from evalkit.core.text import TEXT_VERSION, words

NGRAM_ORDERS: tuple[int, ...] = (1, 2, 3)

TOKENIZATION = (
    f"evalkit.text.words v{TEXT_VERSION} (whitespace-separated tokens containing a letter or digit, "
    "each Chinese/Japanese character a token); "
    "leading and trailing characters matching [\\W_] (Unicode) stripped; str.lower(); "
    "inner punctuation kept"
)
"""The tokenization, exactly, as it goes into :meth:`Extractiveness.settings`."""

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")

Fragment = tuple[int, int, int]
"""``(summary_start, source_start, length)`` of one extractive fragment."""


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` used for fragments and n-grams (see the module docstring)."""
    return [_EDGES.sub("", word).lower() for word in words(text)]


def _positions(source: Sequence[str]) -> dict[str, list[int]]:
    """Token -> the positions where it occurs in ``source``, ascending."""
    index: dict[str, list[int]] = {}
    for position, token in enumerate(source):
        index.setdefault(token, []).append(position)
    return index


def fragments(source: Sequence[str], summary: Sequence[str],
              positions: dict[str, list[int]] | None = None) -> list[Fragment]:
    """Grusky et al.'s greedy ``F(A, S)`` with ``A = source`` and ``S = summary`` token lists.

    ``positions`` (from the source) only speeds up the scan: jumping from one occurrence of
    ``S[i]`` to the next is the same as the paper's ``j <- j + 1`` over non-matching tokens.
    """
    if positions is None:
        positions = _positions(source)
    found: list[Fragment] = []
    i = 0
    while i < len(summary):
        best_length, best_start = 0, -1
        j = 0  # the paper's scan position: starts before j are never tried
        for start in positions.get(summary[i], ()):
            if start < j:
                continue
            length = 1
            while (i + length < len(summary) and start + length < len(source)
                   and summary[i + length] == source[start + length]):
                length += 1
            if length > best_length:
                best_length, best_start = length, start
            j = start + length
        if best_length:
            found.append((i, best_start, best_length))
        i += max(best_length, 1)
    return found


def _ngrams(sequence: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(sequence[k:k + n]) for k in range(len(sequence) - n + 1)]


@dataclass(frozen=True)
class _Source:
    """What depends only on the source text: computed once per distinct text in a batch."""

    tokens: tuple[str, ...]
    positions: dict[str, list[int]]
    ngrams: dict[int, frozenset[tuple[str, ...]]]


def _profile(text: str) -> _Source:
    source = tokens(text)
    return _Source(tokens=tuple(source), positions=_positions(source),
                   ngrams={n: frozenset(_ngrams(source, n)) for n in NGRAM_ORDERS})


class Extractiveness(Metric):
    """Extractive fragment coverage, density and compression (Grusky et al. 2018) and novel n-grams.

    Needs no reference summary. One source tokenization per distinct document text per batch.
    """

    kind = "extractiveness"
    version = "1"
    Options = Options
    """It takes no options."""
    text_version_key = "tokenization"

    def measures(self) -> tuple[Measure, ...]:
        return (Measure("coverage", "extractive coverage", "fraction", None, None,
                        "share of summary words inside fragments copied from the source (Grusky et al. 2018)",
                        group="extractiveness"),
                Measure("density", "extractive density", "score", None, "words",
                        "mean squared length of copied fragments (Grusky et al. 2018)", headline=True,
                        group="extractiveness"),
                Measure("compression", "compression", "ratio", None, "source words / summary words",
                        "source words divided by summary words", group="length"),
                *(Measure(f"novel_{n}gram", f"novel {n}-grams", "fraction", None, None,
                          f"share of summary {n}-grams not in the source", group="extractiveness")
                  for n in NGRAM_ORDERS))

    def settings(self) -> dict[str, Any]:
        return {
            "tokenization": TOKENIZATION,
            "fragments": "Grusky et al. 2018 greedy F(A,S); scan resumes after each match",
            "novel_ngrams": {"orders": list(NGRAM_ORDERS), "counting": "occurrences",
                             "across_sentences": True},
        }

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        sources: dict[str, _Source] = {}
        results = []
        for candidate in candidates:
            text = candidate.document.text
            if text not in sources:
                sources[text] = _profile(text)
            results.append(self._score_one(sources[text], tokens(candidate.text)))
        return results

    def _score_one(self, source: _Source, summary: list[str]) -> MetricResult:
        if not summary:
            return MetricResult(values={name: None for name in self.names},
                                notes={name: "empty summary" for name in self.names},
                                info={"summary_tokens": 0, "source_tokens": len(source.tokens)})
        found = fragments(source.tokens, summary, source.positions)
        lengths = [length for _, _, length in found]
        values: dict[str, float | None] = {
            "coverage": sum(lengths) / len(summary),
            "density": sum(length * length for length in lengths) / len(summary),
            "compression": len(source.tokens) / len(summary),
        }
        notes: dict[str, str] = {}
        if not source.tokens:
            notes.update({name: "empty source" for name in ("coverage", "density", "compression")})
        for n in NGRAM_ORDERS:
            name = f"novel_{n}gram"
            grams = _ngrams(summary, n)
            if not grams:
                values[name] = None
                notes[name] = f"summary has fewer than {n} tokens"
                continue
            values[name] = sum(gram not in source.ngrams[n] for gram in grams) / len(grams)
        info = {"summary_tokens": len(summary), "source_tokens": len(source.tokens),
                "fragments": len(found), "longest_fragment": max(lengths, default=0)}
        return MetricResult(values={name: values[name] for name in self.names}, notes=notes, info=info)
