"""The ``evalkit`` command line: ``run``, ``report`` (and more as the toolkit grows)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.yaml"
log = logging.getLogger("evalkit")


from evalkit.tables import format_ranking, format_table  # noqa: E402  (the views of a run)


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit.experiment import Experiment

    config = Path(args.config) if args.config else DEFAULT_CONFIG
    experiment = Experiment.from_yaml(config)
    from evalkit.defaults import add_api_systems  # the default run adds API systems whose key is set
    notes = add_api_systems(experiment) if not args.config else []
    if args.output or args.store:
        experiment.relocate(args.output or experiment.output_dir, args.store)
    if args.limit:
        experiment.data = type(experiment.data)(**{**experiment.data.__dict__, "limit": args.limit})
    experiment.progress = not args.quiet
    if args.replay:
        experiment.replay_only = True
    if args.dry_run:
        from evalkit.pricing import estimate_cost

        plan = experiment.plan()
        print(f"Dry run of '{experiment.name}': nothing is generated or sent.")
        total = 0.0
        unknown = False
        for summarizer, pending in plan:
            estimate = estimate_cost(summarizer, pending)
            print(f"  {estimate.describe()}" + ("" if estimate.requests or not pending else
                                                f" ({len(pending)} summaries to compute)"))
            if estimate.requests:
                unknown |= estimate.usd is None
                total += estimate.usd or 0.0
        print(f"Estimated API cost: {'at least ' if unknown else ''}${total:.4f}")
        return 0
    run = experiment.run()
    counts = run.manifest["counts"]
    print(f"evalkit run '{experiment.name}': {run.manifest['data']['n_documents']} documents x "
          f"{len(run.manifest['systems'])} systems, target {experiment.target.describe() or 'none'}")
    print(format_table(run))
    ranking = format_ranking(run)
    if ranking:
        print("\n" + ranking)
    print("".join(f"\n{note}" for note in notes), end="")
    print(f"\nComputed {counts['summaries_computed']} summaries ({counts['summaries_cached']} from the store) and "
          f"{counts['scores_computed']} scores ({counts['scores_cached']} from the store); "
          f"{counts['summaries_failed']} failed.")
    from evalkit.pricing import total_cost

    cost = total_cost(run.summaries)
    if cost.requests:
        print(cost.describe())
    print(f"Results: {run.run_dir}/scores.csv (tidy), summaries.jsonl, manifest.json")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from evalkit.runs import Run

    run = Run.load(args.run)
    metrics = args.metrics.split(",") if args.metrics else None
    print(f"run {run.run_id} ({run.manifest.get('created', '?')}), "
          f"{run.manifest['data']['n_documents']} documents")
    print(format_table(run, metrics))
    ranking = format_ranking(run, metrics[0] if metrics else None)
    if ranking:
        print("\n" + ranking)
    return 0


COMPARE_CONFIG = Path(__file__).resolve().parent / "configs" / "compare.yaml"
COMPARE_METRICS = ("length_words", "length_paragraphs", "length_ok", "length_feasible", "density",
                   "novel_2gram", "entity_precision_source", "entity_unsupported_count")


def cmd_compare(args: argparse.Namespace) -> int:
    """Clean a pasted article, read its length instruction, and compare strategies on it."""
    from evalkit.clean import clean
    from evalkit.data import DataError, document_from_request
    from evalkit.experiment import Experiment

    path = Path(args.article)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such article file")
    raw = path.read_text(encoding="utf-8")
    document = document_from_request(raw, doc_id=path.stem, instruction=args.instruction)
    cleaned = clean(document.text)
    if not cleaned.text.strip():
        raise DataError(f"{path}: nothing is left of the article after removing page noise")
    document = replace(document, text=cleaned.text,
                       metadata={**document.metadata, "removed_lines": len(cleaned.removed)})
    experiment = Experiment.from_yaml(Path(args.config) if args.config else COMPARE_CONFIG)
    if args.output:
        experiment.relocate(args.output)
    experiment.progress = False
    target = document.target or experiment.target
    instruction = document.metadata.get("instruction")
    print(f"Instruction: {instruction!r}" if instruction else "Instruction: (none; using the config's target)")
    print(f"Target: {target.describe() or 'none'}")
    print(cleaned.report())
    run = experiment.run(documents=[document])
    wide = run.wide().set_index("system")
    notes = run.scores.dropna(subset=["note"])
    feasible = notes[notes["metric"] == "length_feasible"]["note"]
    if len(feasible):
        print(f"\nWarning: {feasible.iloc[0]}.")
    shown_texts: dict[str, str] = {}
    for _, row in run.summaries.iterrows():
        system = row["system"]
        print(f"\n=== {system} ===")
        if row["error"]:
            print(f"(failed: {row['error']})")
            continue
        if row["text"] in shown_texts:
            print(f"(identical to {shown_texts[row['text']]})")
        else:
            shown_texts[row["text"]] = system
            print(row["text"])
        if '"short_source": true' in row["details"]:
            print("-- the article is shorter than the target: this is all of its content")
        if system in wide.index:
            shown = [f"{m}={wide.loc[system, m]:.3g}" for m in COMPARE_METRICS
                     if m in wide.columns and wide.loc[system, m] == wide.loc[system, m]]
            print("-- " + ", ".join(shown))
        info = run.scores[(run.scores["system"] == system) & (run.scores["metric"] == "entities_info")]
        if len(info):
            import json

            unsupported = json.loads(info["note"].iloc[0]).get("unsupported_entities", [])
            print(f"-- entities not in the source: {', '.join(unsupported) if unsupported else 'none'}")
    print(f"\nResults: {run.run_dir}")
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
    run.add_argument("--dry-run", action="store_true",
                     help="show what would be computed and estimate API cost; send nothing")
    run.add_argument("--replay", action="store_true",
                     help="never call an API: fail on any summary missing from the store (also EVALKIT_OFFLINE=1)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="print a stored run's per-system table")
    report.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    report.add_argument("--metrics", help="comma-separated metric names to show")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser("compare", help="clean one pasted article and compare strategies on it")
    compare.add_argument("article", help="a text file: an optional instruction line, then the article")
    compare.add_argument("--instruction", help='the length instruction, e.g. "in about 120 words, 2 paragraphs"')
    compare.add_argument("--config", help=f"strategies and metrics (default: {COMPARE_CONFIG.name})")
    compare.add_argument("--output", help="folder for the run and its store (default: runs/)")
    compare.set_defaults(func=cmd_compare)

    from evalkit import gate

    gate.add_commands(sub)  # baseline save, check
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from evalkit.data import DataError
    from evalkit.registry import ConfigError
    from evalkit.targets import TargetParseError

    try:
        return args.func(args)
    except (ConfigError, DataError, TargetParseError, FileNotFoundError, KeyError) as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalkit: interrupted; everything finished so far is in the store, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
