"""Agreement between annotators: Krippendorff's alpha, Cohen's and Fleiss' kappa, raw agreement.

Input is a list of :class:`Rating` ``(item, coder, value)``; an item need not be rated by every
coder (missing values are allowed wherever the statistic allows them).

- Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability",
  https://repository.upenn.edu/asc_papers/43): ``1 - D_o / D_e`` over the coincidence matrix,
  at the nominal, ordinal or interval level, computed by the ``krippendorff`` package
  (Castro's implementation); only units with two or more values are pairable.
- Cohen's kappa (Cohen 1960): two coders, items both rated; ``(p_o - p_e) / (1 - p_e)`` with
  ``p_e`` from each coder's own marginals.
- Fleiss' kappa (Fleiss 1971, "Measuring nominal scale agreement among many raters"): items
  rated by the same number ``n >= 2`` of coders; ``(P̄ - P̄_e) / (1 - P̄_e)``.
- Raw agreement: per item, the share of pairs of its ratings that are equal, averaged over
  items with two or more ratings.

:func:`among_annotators` places one extra coder (an LLM judge) among the people: alpha among
the people alone, alpha with the judge added, and leave-one-out alpha of every coder against
the mean (nominal: the majority) of the *other people*.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from evalkit.core.errors import ConfigError

ALPHA_LEVELS = ("nominal", "ordinal", "interval")


@dataclass(frozen=True)
class Rating:
    """One coder's value for one item."""

    item: Hashable
    """What was rated (e.g. ``(document_id, system)``)."""
    coder: str
    """Who rated it (an annotator's name, or a judge)."""
    value: Any
    """The value: a number for ordinal/interval data, any hashable for nominal data."""


@dataclass(frozen=True)
class AgreementRow:
    """Agreement on one question."""

    question: str
    level: str
    """The level alpha was computed at."""
    items: int
    """Items rated by two or more coders (the pairable ones)."""
    coders: int
    ratings: int
    alpha: float
    """Krippendorff's alpha (NaN when fewer than two pairable values or no variation)."""
    raw: float
    """Mean share of agreeing pairs of ratings per item."""
    cohen: float | None
    """Cohen's kappa when exactly two coders rated; else None."""
    fleiss: float | None
    """Fleiss' kappa over the items rated by the most common number of coders (>= 2); else None."""


def _krippendorff() -> Any:
    try:
        import krippendorff
    except ImportError as exc:
        raise ConfigError("Krippendorff's alpha needs the krippendorff package: pip install 'evalkit[human]'") from exc
    return krippendorff


def reliability_matrix(ratings: Sequence[Rating]) -> tuple[list[str], list[Hashable], list[list[Any]]]:
    """Coders x items, ``None`` where a coder did not rate an item (a coder's later rating of an item wins)."""
    coders = list(dict.fromkeys(r.coder for r in ratings))
    items = list(dict.fromkeys(r.item for r in ratings))
    row, column = {c: i for i, c in enumerate(coders)}, {u: j for j, u in enumerate(items)}
    matrix: list[list[Any]] = [[None] * len(items) for _ in coders]
    for r in ratings:
        matrix[row[r.coder]][column[r.item]] = r.value
    return coders, items, matrix


def alpha(ratings: Sequence[Rating], level: str = "nominal") -> float:
    """Krippendorff's alpha at ``level`` (nominal, ordinal, interval), missing values allowed."""
    if level not in ALPHA_LEVELS:
        raise ConfigError(f"alpha level must be one of {', '.join(ALPHA_LEVELS)}, not {level!r}")
    _, _, matrix = reliability_matrix(ratings)
    if not matrix:
        return math.nan
    values = sorted({v for row in matrix for v in row if v is not None}, key=_order)
    pairable = sum(1 for column in zip(*matrix) if sum(v is not None for v in column) >= 2)
    if len(values) < 2 or pairable == 0:
        return math.nan  # no variation or nothing pairable: alpha is undefined (0/0)
    if level == "nominal" or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if level != "nominal":
            raise ConfigError(f"{level} alpha needs numeric values; got {values[:3]}")
        code = {v: float(i) for i, v in enumerate(values)}  # nominal: any labels, coded to numbers
        data = np.array([[np.nan if v is None else code[v] for v in row] for row in matrix], dtype=float)
        domain = sorted(code.values())
    else:
        data = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=float)
        domain = sorted(float(v) for v in values)
    return float(_krippendorff().alpha(reliability_data=data, value_domain=domain, level_of_measurement=level))


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa of two coders' paired values (``None`` pairs dropped); NaN when chance agreement is 1."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return math.nan
    n = len(pairs)
    observed = sum(x == y for x, y in pairs) / n
    first, second = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    expected = sum(first[v] * second[v] for v in first) / (n * n)
    return math.nan if expected == 1 else (observed - expected) / (1 - expected)


def fleiss_kappa_table(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa of an items x categories table of counts, every row summing to the same ``n >= 2``."""
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or not len(table):
        raise ConfigError("Fleiss' kappa needs an items x categories table of counts")
    raters = table.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ConfigError("Fleiss' kappa needs every item rated by the same number (at least 2) of coders")
    n, items = raters[0], len(table)
    p_items = ((table * table).sum(axis=1) - n) / (n * (n - 1))
    p_categories = table.sum(axis=0) / (items * n)
    mean, expected = p_items.mean(), float((p_categories ** 2).sum())
    return math.nan if expected == 1 else float((mean - expected) / (1 - expected))


def fleiss_kappa(ratings: Sequence[Rating]) -> float | None:
    """Fleiss' kappa over the items rated by the most common number (>= 2) of coders; None if there are none."""
    by_item: dict[Hashable, list[Any]] = defaultdict(list)
    for r in _latest(ratings):
        by_item[r.item].append(r.value)
    sizes = Counter(len(v) for v in by_item.values() if len(v) >= 2)
    if not sizes:
        return None
    size = max(sizes, key=lambda s: (sizes[s], s))
    rows = [v for v in by_item.values() if len(v) == size]
    categories = sorted({v for row in rows for v in row}, key=_order)
    return fleiss_kappa_table([[row.count(c) for c in categories] for row in rows])


def raw_agreement(ratings: Sequence[Rating]) -> float:
    """Mean over items with two or more ratings of the share of equal pairs of ratings."""
    by_item: dict[Hashable, list[Any]] = defaultdict(list)
    for r in _latest(ratings):
        by_item[r.item].append(r.value)
    shares = [sum(x == y for x, y in combinations(v, 2)) / math.comb(len(v), 2) for v in by_item.values()
              if len(v) >= 2]
    return float(np.mean(shares)) if shares else math.nan


def _latest(ratings: Sequence[Rating]) -> list[Rating]:
    """One rating per (item, coder): the last one given."""
    return list({(r.item, r.coder): r for r in ratings}.values())


def disagreements(ratings: Sequence[Rating], level: str = "nominal", top: int = 10) -> list[tuple[Hashable, float,
                                                                                                       list[Any]]]:
    """The ``top`` items with the most disagreement: ``(item, spread, values)``, most first.

    Spread: nominal, the share of unequal pairs of ratings; ordinal/interval, the range of the values.
    """
    by_item: dict[Hashable, list[Any]] = defaultdict(list)
    for r in _latest(ratings):
        by_item[r.item].append(r.value)
    scored = []
    for item, values in by_item.items():
        if len(values) < 2:
            continue
        if level == "nominal":
            spread = sum(x != y for x, y in combinations(values, 2)) / math.comb(len(values), 2)
        else:
            spread = float(max(values) - min(values))
        scored.append((item, spread, values))
    scored.sort(key=lambda t: -t[1])
    return [t for t in scored[:top] if t[1] > 0]


def agreement_row(question: str, ratings: Sequence[Rating], level: str = "nominal") -> AgreementRow:
    """Every statistic of this module for one question's ratings."""
    ratings = _latest(ratings)
    coders = sorted({r.coder for r in ratings})
    by_item = Counter(r.item for r in ratings)
    cohen = None
    if len(coders) == 2:
        _, _, matrix = reliability_matrix(ratings)
        cohen = cohen_kappa(matrix[0], matrix[1])
    return AgreementRow(question, level, sum(1 for n in by_item.values() if n >= 2), len(coders), len(ratings),
                        alpha(ratings, level), raw_agreement(ratings), cohen, fleiss_kappa(ratings))


@dataclass(frozen=True)
class CoderAgreement:
    """One coder (a person or a judge) against the other people."""

    coder: str
    alpha: float
    """Alpha between this coder and the mean (nominal: majority) of the other people, item by item."""
    items: int
    """Items this coder and at least one other person rated."""
    judge: bool


def among_annotators(ratings: Sequence[Rating], judge: Sequence[Rating], level: str = "interval"
                     ) -> tuple[float, float, list[CoderAgreement]]:
    """Place a judge among the people: ``(alpha of people, alpha with the judge as one more coder, leave-one-out)``.

    Leave-one-out compares each coder with the consensus of the people *other than itself*: the
    mean for ordinal/interval values, the most common value (ties: the smallest) for nominal ones;
    the judge is compared with the consensus of all people. Best agreement first.
    """
    people = _latest(ratings)
    judges = _latest(judge)
    names = sorted({r.coder for r in people})
    rows = [_versus_rest(name, people, [r for r in people if r.coder == name], level, False) for name in names]
    rows += [_versus_rest(name, people, [r for r in judges if r.coder == name], level, True)
             for name in sorted({r.coder for r in judges})]
    rows.sort(key=lambda c: (math.isnan(c.alpha), -c.alpha if not math.isnan(c.alpha) else 0, c.coder))
    return alpha(people, level), alpha([*people, *judges], level), rows


def _versus_rest(name: str, people: list[Rating], own: list[Rating], level: str, judge: bool) -> CoderAgreement:
    others: dict[Hashable, list[Any]] = defaultdict(list)
    for r in people:
        if r.coder != name:
            others[r.item].append(r.value)
    pairs = [Rating(r.item, "coder", r.value) for r in own if others.get(r.item)]
    pairs += [Rating(r.item, "rest", _consensus(others[r.item], level)) for r in own if others.get(r.item)]
    return CoderAgreement(name, alpha(pairs, level) if pairs else math.nan, len(pairs) // 2, judge)


def _consensus(values: list[Any], level: str) -> Any:
    if level == "nominal":
        counts = Counter(values)
        best = max(counts.values())
        return min((v for v, n in counts.items() if n == best), key=_order)
    return float(np.mean([float(v) for v in values]))
