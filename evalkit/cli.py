"""The ``evalkit`` command line: ``run``, ``report`` (and more as the toolkit grows)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.yaml"
HEADLINE = ("rouge1_f", "rouge2_f", "rougeLsum_f", "bertscore_f", "entity_precision_source", "length_words",
            "length_ok", "length_feasible", "density")
PERCENT = {"rouge1_f", "rouge2_f", "rougeL_f", "rougeLsum_f", "bertscore_f", "entity_precision_source",
           "length_ok", "length_feasible", "length_words_ok"}

log = logging.getLogger("evalkit")


def format_table(run, metrics: Sequence[str] | None = None) -> str:
    """The per-system mean table as text: percentages for rates and F-scores."""
    frame = run.values()
    available = set(frame["metric"])
    chosen = [m for m in (metrics or HEADLINE) if m in available]
    if not chosen:
        return "(no scores in this run)"
    table = run.table(chosen)
    counts = run.summaries.groupby("system")["error"].apply(lambda e: int(e.notna().sum()))
    header = ["system", *chosen, "failed"]
    lines = []
    for system, row in table.iterrows():
        cells = [str(system)]
        for metric in chosen:
            value = row[metric]
            cells.append("n/a" if value != value else f"{100 * value:.1f}" if metric in PERCENT else f"{value:.1f}")
        cells.append(str(counts.get(system, 0)))
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    rule = "  ".join("-" * w for w in widths)
    note = "F-scores and rates in %; length_words is the mean word count."
    return "\n".join([fmt(header), rule, *map(fmt, lines), "", note])


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit.experiment import Experiment

    config = Path(args.config) if args.config else DEFAULT_CONFIG
    experiment = Experiment.from_yaml(config)
    if args.output:
        experiment.output_dir = Path(args.output)
        experiment.store = Path(args.store) if args.store else experiment.output_dir / "store.sqlite"
    elif args.store:
        experiment.store = Path(args.store)
    if args.limit:
        experiment.data = type(experiment.data)(**{**experiment.data.__dict__, "limit": args.limit})
    experiment.progress = not args.quiet
    run = experiment.run()
    counts = run.manifest["counts"]
    print(f"evalkit run '{experiment.name}': {run.manifest['data']['n_documents']} documents x "
          f"{len(run.manifest['systems'])} systems, target {experiment.target.describe() or 'none'}")
    print(format_table(run))
    print(f"\nComputed {counts['summaries_computed']} summaries ({counts['summaries_cached']} from the store) and "
          f"{counts['scores_computed']} scores ({counts['scores_cached']} from the store); "
          f"{counts['summaries_failed']} failed.")
    print(f"Results: {run.run_dir}/scores.csv (tidy), summaries.jsonl, manifest.json")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from evalkit.experiment import Run

    run = Run.load(args.run)
    metrics = args.metrics.split(",") if args.metrics else None
    print(f"run {run.run_id} ({run.manifest.get('created', '?')}), "
          f"{run.manifest['data']['n_documents']} documents")
    print(format_table(run, metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evalkit", description="Compare news summarizers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an experiment from a YAML config (default: the bundled one)")
    run.add_argument("config", nargs="?", help=f"experiment YAML (default: {DEFAULT_CONFIG.name}, bundled data)")
    run.add_argument("--output", help="folder for runs and the store (default: the config's output_dir, runs/)")
    run.add_argument("--store", help="SQLite store path (default: <output>/store.sqlite)")
    run.add_argument("--limit", type=int, help="only the first N documents")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="print a stored run's per-system table")
    report.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    report.add_argument("--metrics", help="comma-separated metric names to show")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from evalkit.data import DataError
    from evalkit.registry import ConfigError

    try:
        return args.func(args)
    except (ConfigError, DataError, FileNotFoundError, KeyError) as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalkit: interrupted; everything finished so far is in the store, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
