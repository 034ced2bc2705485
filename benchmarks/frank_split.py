"""Entity precision on FRANK with a held-out half: study errors on dev, report on test.

FRANK's items are split by article (``dataset:hash``): an article whose SHA-256 starts with an
even byte is in the *dev* half, else in *test*, so the same article (and its four or five systems'
summaries) never sits in both. Changes to the entity metric are studied on dev only
(``--errors``); the test half is the honest number.

For each half and for all items it prints the partial Pearson correlation of
``entity_precision_source`` with the human ``Factuality`` score controlling for ``model_name``
(as FRANK computes it), twice: on the items where the precision is defined (a summary without
entities left out, as ``evalkit meta-eval`` does), and on every item with a summary without
entities read as precision 1.0 (the convention of the entity-precision code Nan et al.'s group
published; see docs/factuality.md).

    cd <repo> && PYTHONPATH=. python benchmarks/frank_split.py --store /tmp/frank/frank.sqlite
    python benchmarks/frank_split.py --store ... --errors 40     # dev false alarms, grouped

It writes nothing except NER results into ``--store``.
"""

from __future__ import annotations

import argparse
import hashlib
from collections import Counter

from benchmarks.frank_entities import load, score
from evalkit.metrics.entities import EntityOverlap
from evalkit.report.correlation import (
    bootstrap_partial_correlation,
    partial_correlation,
)

HALVES = ("dev", "test", "all")
HIGH = 1.0
"""Factuality at or above which an unsupported entity is a false alarm (``--high``; 1.0: no error found)."""


def half(row: dict) -> str:
    """``dev`` or ``test``, by a hash of the article (never both for one article)."""
    return "dev" if hashlib.sha256(f"{row['dataset']}:{row['hash']}".encode()).digest()[0] % 2 == 0 else "test"


def correlations(rows: list[dict], values: list[float | None], resamples: int) -> dict[str, tuple]:
    """Half -> (n defined, r defined, CI, n all, r all with None as 1.0, CI)."""
    out = {}
    for name in HALVES:
        idx = [i for i, r in enumerate(rows) if name == "all" or half(r) == name]
        y = [rows[i]["human"]["Factuality"] for i in idx]
        g = [rows[i]["model_name"] for i in idx]
        x = [values[i] for i in idx]
        filled = [1.0 if v is None else v for v in x]
        cells = []
        for xs in (x, filled):
            r = partial_correlation(xs, y, g, "pearson")
            boot = bootstrap_partial_correlation(xs, y, g, "pearson", n_resamples=resamples, seed=0)
            cells += [r.n, r.r, (boot.low, boot.high)]
        out[name] = tuple(cells)
    return out


def print_table(label: str, table: dict[str, tuple]) -> None:
    for name, (n1, r1, ci1, n2, r2, ci2) in table.items():
        print(f"{label:<28} {name:<5} defined n={n1:>4} r={r1:.3f} [{ci1[0]:.3f}, {ci1[1]:.3f}]   "
              f"none=1.0 n={n2:>4} r={r2:.3f} [{ci2[0]:.3f}, {ci2[1]:.3f}]")


def errors(rows: list[dict], results: list, limit: int, high: float = HIGH) -> None:
    """Dev summaries rated fully factual whose unsupported entities/numbers are false alarms, then misses."""
    alarms: Counter = Counter()
    shown = 0
    for row, result in zip(rows, results):
        if half(row) != "dev":
            continue
        bad = result.info["unsupported_entities"]
        if row["human"]["Factuality"] >= high and bad:
            alarms.update(e.lower() for e in bad)
            if shown < limit:
                shown += 1
                print(f"\n[{row['dataset']}/{row['model_name']} F={row['human']['Factuality']:.2f}] "
                      f"unsupported={bad} entities={result.info['summary_entities']}")
                print("   ", result.info.get("text_for_ner", row["summary"])[:300])
    print("\nmost frequent false-alarm entities (dev, Factuality 1):", alarms.most_common(40))
    misses = Counter()
    for row, result in zip(rows, results):
        if half(row) == "dev" and row["human"]["Factuality"] == 0 and row["human"].get("EntE", 1) < 1 \
                and result.values["entity_precision_source"] in (None, 1.0):
            misses[result.values["entity_precision_source"] is None] += 1
    print("dev misses (Factuality 0 with an entity error, precision None / 1.0):",
          {"none": misses[True], "1.0": misses[False]})


def misses(rows: list[dict], results: list, limit: int) -> None:
    """Dev summaries with an entity error (FRANK ``EntE`` < 1) that entity precision scores 1.0 or None."""
    shown = 0
    for row, result in zip(rows, results):
        if half(row) == "dev" and row["human"]["Factuality"] == 0 and row["human"].get("EntE", 1) < 1 \
                and result.values["entity_precision_source"] in (None, 1.0) and shown < limit:
            shown += 1
            print(f"\n[{row['dataset']}/{row['model_name']}] entities={result.info['summary_entities']} "
                  f"numbers={result.info['summary_numbers']} unsupported numbers={result.info['unsupported_numbers']}")
            print("   ", result.info.get("text_for_ner", row["summary"])[:300])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="an evalkit store (SQLite file) that keeps NER results between runs")
    parser.add_argument("--errors", type=int, default=0, help="print this many dev false alarms, grouped")
    parser.add_argument("--high", type=float, default=HIGH, help="Factuality at or above which a summary is right")
    parser.add_argument("--misses", type=int, default=0, help="print this many dev misses")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--option", action="append", default=[], help="an entities option, NAME=VALUE (yaml)")
    args = parser.parse_args(argv)
    import yaml

    rows = load()
    options = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.option)}
    metric = EntityOverlap(**options)
    if args.store:
        from evalkit.run.store import Store

        metric.attach_cache(Store(args.store))
    results, seconds = score(metric, rows)
    counts = Counter(half(r) for r in rows)
    print(f"FRANK {len(rows)} items: dev {counts['dev']}, test {counts['test']}; scored in {seconds:.1f}s; "
          f"signature {metric.signature}")
    print_table("entity_precision_source", correlations(
        rows, [r.values["entity_precision_source"] for r in results], args.resamples))
    if args.errors:
        errors(rows, results, args.errors, args.high)
    if args.misses:
        misses(rows, results, args.misses)


if __name__ == "__main__":
    main()
