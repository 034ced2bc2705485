"""Entity precision against the source on FRANK: does it agree with people about factuality?

Scores all 2,246 FRANK summaries (the ``summary`` field: the system output as FRANK ships it,
mostly lowercased and PTB-tokenized) against their articles with
:class:`evalkit.metrics.entities.EntityOverlap`, with ``restore_case`` (with and without the
general casing lexicon, ``case_lexicon``) and without it, and reports the partial correlation
(Pearson and Spearman) with the human ``Factuality`` score controlling for ``model_name``
(:mod:`evalkit.report.correlation`, as FRANK computes it), per dataset and overall, next to FRANK's
own baseline metrics on the same items. Items where a value is undefined (no entity in the
summary) are counted and left out. The 250 items that also have a
``summary_cased`` (CNN/DM BART) show how close restored casing comes to the real one.

    cd /work/main && PYTHONPATH=. python benchmarks/frank_entities.py
    python benchmarks/frank_entities.py --store /tmp/frank-ner.sqlite   # NER kept between runs
    python benchmarks/frank_entities.py --subset xsum                    # one dataset only

It prints tables and writes nothing, except the NER results in ``--store`` when given (a
second run then only runs NER on texts it has not seen, e.g. summaries whose restored text
changed: a quick way to measure a matching change).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from evalkit.report.correlation import bootstrap_partial_correlation, partial_correlation
from evalkit.metrics.base import Candidate
from evalkit.metrics.entities import EntityOverlap
from evalkit.core.types import Document

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "frank_benchmark.jsonl"
BASELINES = ("BertScore P Art", "Rouge 1", "FactCC", "QAGS", "FEQA", "Dep Entail")
SUBSETS = ("cnndm", "xsum", "all")
SEED = 0
RESAMPLES = 1000


def load(path: Path = DATA) -> list[dict]:
    """FRANK's rows, or exit with a message when the file is absent."""
    if not path.exists():
        sys.exit(f"FRANK data not found at {path}; see shared/data/README.md (frank_benchmark.jsonl)")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def candidates(rows: list[dict], field: str = "summary") -> list[Candidate]:
    """One candidate per row; one document per (dataset, article hash), the row's reference as its reference."""
    documents: dict[str, Document] = {}
    out = []
    for row in rows:
        doc_id = f"{row['dataset']}:{row['hash']}"
        if doc_id not in documents:
            documents[doc_id] = Document(id=doc_id, text=row["article"], references=(row["reference"],))
        out.append(Candidate(document=documents[doc_id], text=row[field] or ""))
    return out


def score(metric: EntityOverlap, rows: list[dict], field: str = "summary") -> tuple[list, float]:
    start = time.perf_counter()
    results = metric.score(candidates(rows, field))
    return results, time.perf_counter() - start


def correlation_row(label: str, values: list, rows: list[dict], keep: np.ndarray, with_ci: bool) -> str:
    cells = [f"{label:<34}"]
    for subset in SUBSETS:
        mask = keep & np.array([subset == "all" or r["dataset"] == subset for r in rows])
        x = [values[i] for i in np.flatnonzero(mask)]
        y = [rows[i]["human"]["Factuality"] for i in np.flatnonzero(mask)]
        g = [rows[i]["model_name"] for i in np.flatnonzero(mask)]
        if len(x) < 3:  # a subset left out with --subset
            cells.append(f"{len(x):>5} {'-':>7}  {'-':>7} ")
            continue
        pearson, spearman = partial_correlation(x, y, g, "pearson"), partial_correlation(x, y, g, "spearman")
        cells.append(f"{pearson.n:>5} {pearson.r:>7.3f}{_stars(pearson.p_value)} {spearman.r:>7.3f}"
                     f"{_stars(spearman.p_value)}")
        if with_ci and subset == "all":
            boot = bootstrap_partial_correlation(x, y, g, "pearson", n_resamples=RESAMPLES, seed=SEED)
            cells.append(f"[{boot.low:.3f}, {boot.high:.3f}]")
    return " | ".join(cells)


def _stars(p: float) -> str:
    return "*" if p < 0.05 else " "


def header() -> str:
    cells = [f"{'metric':<34}"] + [f"{subset + ': n':>5} {'P':>7}  {'S':>7} " for subset in SUBSETS]
    return " | ".join(cells) + " | 95% CI P (all)"


def block(title: str, rows: list[dict], keep: np.ndarray, lines: list[tuple[str, list, bool]]) -> None:
    print(f"\n{title}")
    print(header())
    print("-" * len(header()))
    for label, values, with_ci in lines:
        print(correlation_row(label, values, rows, keep, with_ci))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="an evalkit store (SQLite file) that keeps NER results between runs")
    parser.add_argument("--subset", choices=SUBSETS[:-1], help="score one FRANK dataset only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = load()
    if args.subset:
        rows = [r for r in rows if r["dataset"] == args.subset]
    n = len(rows)
    factuality = np.array([r["human"]["Factuality"] for r in rows], dtype=float)
    if np.isnan(factuality).any():
        sys.exit("some FRANK rows lack a human Factuality score")

    metric_on = EntityOverlap(restore_case=True)
    metric_off = metric_on.variant(restore_case=False)  # shares the pipeline and the articles' NER
    metric_doc = metric_on.variant(case_lexicon=False)  # casing from the document's texts alone
    store = None
    if args.store:
        from evalkit.run.store import Store

        store = Store(args.store)
        metric_on.attach_cache(store)
        metric_off.cache = metric_doc.cache = metric_on.cache
    on, seconds_on = score(metric_on, rows)
    off, seconds_off = score(metric_off, rows)
    doc, seconds_doc = score(metric_doc, rows)

    def column(results, name):
        return [r.values[name] for r in results]

    p_on, p_off = column(on, "entity_precision_source"), column(off, "entity_precision_source")
    p_doc = column(doc, "entity_precision_source")
    num_on = column(on, "number_precision_source")
    defined_on = np.array([v is not None for v in p_on])
    defined_off = np.array([v is not None for v in p_off])
    defined_doc = np.array([v is not None for v in p_doc])
    defined_num = np.array([v is not None for v in num_on])
    baselines = [b for b in BASELINES if all(b in r["baseline_metrics"] for r in rows)]
    base_values = {b: [r["baseline_metrics"][b] for r in rows] for b in baselines}

    print(f"FRANK: {n} summaries, {len({(r['dataset'], r['hash']) for r in rows})} articles, "
          f"{len({r['model_name'] for r in rows})} systems; human score: Factuality; "
          f"partial correlation controlling for model_name (P = Pearson, S = Spearman, * = p < 0.05); "
          f"95% CI: percentile bootstrap over items, {RESAMPLES} resamples, seed {SEED}")
    print(f"metric signature (restore_case=True):  {metric_on.signature}")
    print(f"metric signature (restore_case=False): {metric_off.signature}")
    print(f"metric signature (case_lexicon=False): {metric_doc.signature}")

    print("\nEntities found in the summaries (field `summary`; time: scoring wall time, the second setting "
          "reuses the articles' NER)")
    print(f"{'setting':<22} | {'subset':<6} | {'items':>5} | {'with entities':>13} | {'entities':>8} | "
          f"{'unsupported':>11} | {'UNK set aside':>13} | {'mean P-src':>10} | {'numbers':>7} | {'time':>8}")
    for label, results, seconds in (("restore_case=True", on, seconds_on), ("case_lexicon=False", doc, seconds_doc),
                                    ("restore_case=False", off, seconds_off)):
        for subset in SUBSETS:
            idx = [i for i, r in enumerate(rows) if subset == "all" or r["dataset"] == subset]
            if not idx:
                continue
            counts = [results[i].values["entity_count"] for i in idx]
            unsupported = sum(results[i].values["entity_unsupported_count"] for i in idx)
            precision = [results[i].values["entity_precision_source"] for i in idx]
            defined = [v for v in precision if v is not None]
            numbers = sum(results[i].values["number_count"] for i in idx)
            placeholders = sum(len(results[i].info["placeholder_entities"]) for i in idx)
            print(f"{label:<22} | {subset:<6} | {len(idx):>5} | {sum(c > 0 for c in counts):>13} | "
                  f"{sum(counts):>8} | {unsupported:>11} | {placeholders:>13} | {np.mean(defined):>10.3f} | "
                  f"{numbers:>7} | "
                  + (f"{seconds:>7.1f}s" if subset == "all" else f"{'':>8}"))

    block(f"Partial correlation with Factuality, items where entity_precision_source (restore_case=True) is "
          f"defined ({int(defined_on.sum())} of {n}; {n - int(defined_on.sum())} without entities left out)",
          rows, defined_on,
          [("entity_precision_source (restore)", p_on, True),
           ("entity_unsupported_count (neg.)", [-v for v in column(on, "entity_unsupported_count")], False)]
          + [(b, base_values[b], False) for b in baselines])
    block(f"Same, items where entity_precision_source (restore_case=True, case_lexicon=False: casing from the "
          f"document alone) is defined ({int(defined_doc.sum())} of {n}; {n - int(defined_doc.sum())} left out)",
          rows, defined_doc,
          [("entity_precision_source (doc case)", p_doc, True)] + [(b, base_values[b], False) for b in baselines])
    block(f"Same, items where entity_precision_source (restore_case=False) is defined "
          f"({int(defined_off.sum())} of {n}; {n - int(defined_off.sum())} left out)",
          rows, defined_off,
          [("entity_precision_source (no rest.)", p_off, True)] + [(b, base_values[b], False) for b in baselines])
    block(f"Same, items where number_precision_source (restore_case=True) is defined "
          f"({int(defined_num.sum())} of {n}; {n - int(defined_num.sum())} without numbers left out)",
          rows, defined_num,
          [("number_precision_source (restore)", num_on, True)] + [(b, base_values[b], False) for b in baselines])
    everything = np.ones(n, dtype=bool)
    block(f"FRANK baselines on all {n} items (for comparison with the FRANK paper)", rows, everything,
          [(b, base_values[b], False) for b in baselines])

    cased = [i for i, r in enumerate(rows) if r.get("summary_cased")]
    if cased:
        sub = [rows[i] for i in cased]
        real, _ = score(metric_off, sub, "summary_cased")
        print(f"\nRestored vs real casing: the {len(cased)} items with `summary_cased` "
              f"({', '.join(sorted({r['dataset'] + '/' + r['model_name'] for r in sub}))})")
        print(f"{'input':<38} | {'entities':>8} | {'with entities':>13} | {'mean P-src':>10} | "
              f"{'same P-src as real':>18}")
        reference = [r.values["entity_precision_source"] for r in real]
        for label, results in (("summary_cased, restore_case=False", real),
                               ("summary, restore_case=True", [on[i] for i in cased]),
                               ("summary, restore_case=False", [off[i] for i in cased])):
            values = [r.values["entity_precision_source"] for r in results]
            defined = [v for v in values if v is not None]
            same = sum(a == b for a, b in zip(values, reference))
            print(f"{label:<38} | {sum(r.values['entity_count'] for r in results):>8} | "
                  f"{sum(r.values['entity_count'] > 0 for r in results):>13} | "
                  f"{(np.mean(defined) if defined else float('nan')):>10.3f} | {same:>14}/{len(cased)}")
    if store is not None:
        store.close()
    print(f"\nTotal runtime {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
