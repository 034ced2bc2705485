"""NER throughput of the entities metric's spaCy pipeline: processes x batch size, quiet and under load.

Runs :func:`evalkit.metrics.entities.ner.run_pipeline` (``ner`` and the ``tok2vec`` it listens
to, nothing else) over the first ``--docs`` CNN/DM articles of the shared sample for each
``n_process`` x ``batch_size`` setting, once on the machine as it is and once with ``--load``
busy-loop processes running beside it (started and stopped by this script), and prints words
per second and whether the entities equal the single-process ones.

    python benchmarks/ner_speed.py --docs 200 --load 2

It prints a table and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

from evalkit.metrics.entities.ner import DEFAULT_MODEL, load_pipeline, processes, run_pipeline

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cnndm_sample.jsonl"


def _spin() -> None:  # a background CPU load
    while True:
        pass


def articles(count: int) -> list[str]:
    if not DATA.exists():
        sys.exit(f"CNN/DM sample not found at {DATA}; see shared/data/README.md")
    with DATA.open(encoding="utf-8") as handle:
        return [json.loads(line)["article"] for line, _ in zip(handle, range(count))]


def measure(nlp, texts: list[str], settings: list[tuple[int | str, int]], repeats: int) -> dict:
    """``(n_process, batch_size) -> (best seconds, entities)`` over ``repeats`` runs."""
    out = {}
    for n_process, batch_size in settings:
        best, found = float("inf"), None
        for _ in range(repeats):
            start = time.perf_counter()
            found = run_pipeline(nlp, texts, batch_size=batch_size, n_process=n_process)
            best = min(best, time.perf_counter() - start)
        out[(n_process, batch_size)] = (best, found)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="CNN/DM articles to run NER on")
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes for the loaded run (0: none)")
    parser.add_argument("--processes", default="1,2,auto", help="n_process values, comma-separated")
    parser.add_argument("--batches", default="32,128", help="batch sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (the best is kept)")
    args = parser.parse_args(argv)
    texts = articles(args.docs)
    words = sum(len(t.split()) for t in texts)
    nlp = load_pipeline(DEFAULT_MODEL)
    run_pipeline(nlp, texts[:5], batch_size=8, n_process=1)  # warm up
    settings = [(int(p) if p.isdigit() else p, int(b)) for p in args.processes.split(",")
                for b in args.batches.split(",")]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"NER ({'+'.join(nlp.pipe_names)}) on {len(texts)} CNN/DM articles, {words:,} words; {cores} cores; "
          f"'auto' runs {processes('auto', texts)} processes here; best of {args.repeats}")
    conditions = [("quiet", 0)] + ([(f"+{args.load} busy", args.load)] if args.load else [])
    results = {}
    for label, load in conditions:
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(load)]
        for spinner in spinners:
            spinner.start()
        try:
            results[label] = measure(nlp, texts, settings, args.repeats)
        finally:
            for spinner in spinners:
                spinner.terminate()
                spinner.join(timeout=5)
    reference = results["quiet"][settings[0]][1]
    print(f"{'n_process':>9} | {'batch':>5} | " + " | ".join(f"{label + ' words/s':>16}" for label, _ in conditions)
          + " | same entities as the first setting")
    for setting in settings:
        cells = [f"{words / results[label][setting][0]:>16,.0f}" for label, _ in conditions]
        same = all(results[label][setting][1] == reference for label, _ in conditions)
        print(f"{setting[0]!s:>9} | {setting[1]:>5} | " + " | ".join(cells) + f" | {same}")


if __name__ == "__main__":
    main()
