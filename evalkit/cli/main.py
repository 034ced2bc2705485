"""The ``evalkit`` command line: ``run``, ``report`` (and more as the toolkit grows)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
log = logging.getLogger("evalkit")


from evalkit.core.errors import DataError  # noqa: E402
from evalkit.report.tables import format_ranking, format_table, stopped_at_budget  # noqa: E402  (the views of a run)


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit.run.experiment import Experiment

    config = Path(args.config) if args.config else DEFAULT_CONFIG
    experiment = Experiment.from_yaml(config)
    from evalkit.run.defaults import add_api_systems  # the default run adds API systems whose key is set
    notes = add_api_systems(experiment) if not args.config else []
    if args.output or args.store:
        experiment.relocate(args.output or experiment.output_dir, args.store)
    if args.limit is not None:
        experiment.data = replace(experiment.data, limit=args.limit)
    if args.shard:
        from evalkit.run.settings import Shard

        experiment.shard = Shard.parse(args.shard)
    experiment.progress = not args.quiet
    if args.replay:
        experiment.replay_only = True
    experiment.retry_failed = args.retry_failed
    if args.executor:
        experiment.executor = args.executor
    if args.ray_address:
        experiment.executor, experiment.ray_address = "ray", args.ray_address
    if args.dry_run:
        from evalkit.hosted.pricing import estimate_cost

        from evalkit.run.repeats import samples_of

        plan = experiment.plan()
        print(f"Dry run of '{experiment.name}': nothing is generated or sent.")
        print(f"Systems ({len(plan)}): " + ", ".join(s.name for s, _ in plan))
        total = 0.0
        unknown = False
        requests = local = 0
        for (summarizer, pending), spec in zip(plan, experiment.systems):
            estimate = estimate_cost(summarizer, pending)
            samples = samples_of(spec, experiment.samples)
            print(f"  {estimate.describe()}" + ("" if estimate.requests or not pending else
                                                f" ({len(pending)} summaries to compute)")
                  + (f" [samples: {samples}]" if samples > 1 else ""))
            requests += estimate.requests
            local += 0 if estimate.requests else len(pending)
            if estimate.requests:
                unknown |= estimate.usd is None
                total += estimate.usd or 0.0
        print(f"Total: {requests} API requests and {local} local summaries to compute")
        print(f"Estimated API cost: {'at least ' if unknown else ''}${total:.4f}")
        return 0
    run = experiment.run()
    counts = run.manifest.counts
    print(f"evalkit run '{experiment.name}': {run.manifest.data.n_documents} documents x "
          f"{len(run.manifest.systems)} systems, target {experiment.target.describe() or 'none'}"
          + (f", shard {experiment.shard}" if experiment.shard else ""))
    print(format_table(run))
    ranking = format_ranking(run)
    if ranking:
        print("\n" + ranking)
    print("".join(f"\n{note}" for note in notes), end="")
    print(f"\nComputed {counts.summaries_computed} summaries ({counts.summaries_cached} from the store) and "
          f"{counts.scores_computed} scores ({counts.scores_cached} from the store); "
          f"{counts.summaries_failed} failed.")
    from evalkit.core.cost import total_cost

    cost = total_cost(run.summaries)
    if cost.requests:
        print(cost.describe())
    print(f"Results: {run.run_dir}/scores.csv (tidy), summaries.jsonl, facts.jsonl, manifest.json")
    status = _failure_status(run, strict=args.strict)
    if experiment.tracking and experiment.tracking.mlflow:
        from evalkit.cli.log import log_tracked

        return log_tracked(run, experiment.tracking.mlflow) or status
    return status


def _failure_status(run, *, strict: bool) -> int:
    """0, or 1 with one line on stderr naming each failing system's first error (every summary failed, or --strict)."""
    summaries = run.summaries
    failed = summaries[summaries["error"].notna()]
    if failed.empty:
        return 0
    causes = "; ".join(f"{system}: {len(rows)}/{int((summaries['system'] == system).sum())} failed, e.g. "
                       f"{' '.join(str(rows['error'].iloc[0]).split())[:300]}"
                       for system, rows in failed.groupby("system", sort=False))
    if len(failed) == len(summaries):
        print(f"evalkit: error: every summary failed, nothing could be scored ({causes}). Fix the cause and re-run: "
              "only the failed ones are computed again", file=sys.stderr)
        return 1
    if strict:
        print(f"evalkit: error: --strict: {len(failed)} of {len(summaries)} summaries failed ({causes}); the means "
              "cover fewer documents for those systems", file=sys.stderr)
        return 1
    print(f"evalkit: warning: {len(failed)} of {len(summaries)} summaries failed ({causes}); use --strict to make "
          "this an error", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from evalkit.run.record import Run

    try:
        run = Run.load(args.run)
    except (ValueError, KeyError, TypeError) as exc:  # a damaged manifest.json or scores.csv
        from evalkit.core.errors import EvalkitError

        if isinstance(exc, EvalkitError):  # already says what is wrong and what to do (e.g. a bad runs/LATEST)
            raise
        raise DataError(f"{args.run}: not a readable run folder ({type(exc).__name__}: {exc}); re-run the "
                        "experiment, or pass another folder under runs/") from exc
    if args.html or args.json:
        from evalkit.report import html, summary

        print(summary.to_json(summary.run_summary(run)) if args.json else f"Wrote {html.write_html(run, args.html)}",
              end="" if args.json else "\n")
        return 0
    if args.pass_condition:
        from evalkit.report.tables import format_pass_rates

        print(format_pass_rates(run, args.pass_condition))
        return 0
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    print(f"run {run.run_id} ({run.manifest.created or '?'}), "
          f"{run.manifest.data.n_documents} documents")
    print(format_table(run, metrics))
    ranking = format_ranking(run, metrics[0] if metrics else None)
    if ranking:
        print("\n" + ranking)
    return 0


COMPARE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "compare.yaml"


def headline_by_group(run) -> dict[str, list[str]]:
    """Group -> the run's headline values in it, groups in :data:`~evalkit.core.types.GROUPS` order:
    what ``evalkit compare`` prints under each summary (any metric of the config, without naming it here)."""
    from evalkit.core.types import GROUPS

    out: dict[str, list[str]] = {}
    for name, measure in run.measures().items():
        if measure.headline:
            out.setdefault(measure.group, []).append(name)
    return {group: out[group] for group in sorted(out, key=GROUPS.index)}


def cmd_compare(args: argparse.Namespace) -> int:
    """Clean a pasted article, read its length instruction, and compare strategies on it."""
    from evalkit.inputs.clean import clean
    from evalkit.inputs.data import MAX_MARKUP_SHARE, document_from_request, html_to_text, markup_share, read_text
    from evalkit.run.experiment import Experiment

    path = Path(args.article)
    if not path.is_file():
        raise DataError(f"{path}: no such article file" + (" (it is a folder)" if path.is_dir() else "") +
                        "; give a text file: an optional instruction line, then the article")
    raw = read_text(path)
    if markup_share(raw) > MAX_MARKUP_SHARE:
        log.warning("%s looks like an HTML page: using its visible text", path)
        raw = html_to_text(raw)
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
    groups = headline_by_group(run)
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
        details = run.details(row["document_id"], system)
        if details.get("short_source"):
            print("-- the article is shorter than the target: this is all of its content")
        if stopped_at_budget(details):
            print("-- stopped at the length budget" + (": it ends mid-sentence" if details.get("cut") is True else "")
                  + " (raise max_new_tokens / max_tokens for the whole summary)")
        values = wide.loc[system] if system in wide.index else {}
        for group, names in groups.items():
            shown = [f"{m}={values[m]:.3g}" for m in names if m in values and values[m] == values[m]]
            if shown:
                print(f"-- {group}: " + ", ".join(shown))
        for key in [k for k, entry in run.manifest.metrics.items() if entry.kind == "entities"]:
            info = run.info(row["document_id"], system, key)
            for what, field in (("entities", "unsupported_entities"), ("numbers", "unsupported_numbers")):
                print(f"-- {what} not in the source: {', '.join(info.get(field) or []) or 'none'}")
            cut = [*(info.get("cut_entities") or []), *(info.get("cut_numbers") or [])]
            if cut:
                print(f"-- cut off by the budget (not counted as unsupported): {', '.join(cut)}")
    print(f"\nResults: {run.run_dir}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value} (leave it out to use every document)")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line with where to look, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evalkit")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evalkit", description="Compare news summarizers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=f"evalkit {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run an experiment from a YAML config (default: the bundled one)")
    run.add_argument("config", nargs="?", help=f"experiment YAML (default: {DEFAULT_CONFIG.name}, bundled data)")
    run.add_argument("--output", help="folder for runs and the store (default: the config's output_dir, runs/)")
    run.add_argument("--store", help="SQLite store path (default: <output>/store.sqlite)")
    run.add_argument("--limit", type=_positive_int, help="only the first N documents (N >= 1)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    run.add_argument("--dry-run", action="store_true",
                     help="show what would be computed and estimate API cost; send nothing")
    run.add_argument("--replay", action="store_true",
                     help="never call an API: fail on any summary missing from the store (also EVALKIT_OFFLINE=1)")
    run.add_argument("--strict", action="store_true",
                     help="exit 1 when any summary failed (default: a warning; exit 1 only when all failed)")
    run.add_argument("--retry-failed", action="store_true",
                     help="re-send stored failures marked permanent (400/403/404, context length; transient "
                          "failures are always retried)")
    run.add_argument("--executor", choices=("local", "ray"),
                     help="where the work runs: this process (default) or Ray actors (docs/ray.md)")
    run.add_argument("--ray-address", help="join this Ray cluster (e.g. auto, ray://head:10001); implies --executor ray")
    run.add_argument("--shard", metavar="I/N", help="only part I of N of the documents (by a hash of the id); "
                                                    "combine the parts' stores with 'evalkit merge' (docs/scale.md)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="print a stored run's per-system table")
    report.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    report.add_argument("--metrics", help="comma-separated metric names to show")
    report.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (charts, drill-down)")
    report.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    report.add_argument("--pass", dest="pass_condition", metavar="METRIC>=VALUE",
                        help="per system: how often its samples meet the condition (pass rate, pass^k, pass@k), "
                             "e.g. 'rougeL_f>=0.3'")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser("compare", help="clean one pasted article and compare strategies on it")
    compare.add_argument("article", help="a text file: an optional instruction line, then the article")
    compare.add_argument("--instruction", help='the length instruction, e.g. "in about 120 words, 2 paragraphs"')
    compare.add_argument("--config", help=f"strategies and metrics (default: {COMPARE_CONFIG.name})")
    compare.add_argument("--output", help="folder for the run and its store (default: runs/)")
    compare.set_defaults(func=cmd_compare)

    from evalkit.report import gate

    gate.add_commands(sub)  # baseline save, check
    from evalkit.cli import metaeval

    metaeval.add_commands(sub)  # meta-eval
    from evalkit.cli import history

    history.add_commands(sub)  # history
    from evalkit.cli import log as log_command

    log_command.add_commands(sub)  # log (MLflow)
    from evalkit.cli import merge

    merge.add_commands(sub)  # merge
    from evalkit.cli import view

    view.add_commands(sub)  # view (the local web app)
    from evalkit.cli import labels

    labels.add_commands(sub)  # labels export, import, status
    from evalkit.cli import plan

    plan.add_commands(sub)  # plan
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_redact_record)
    try:
        return args.func(args)
    except BrokenPipeError:  # `evalkit report runs/ | head`: the reader left; say nothing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"evalkit: interrupted ({signal.Signals(signum).name}); every summary that arrived is in the store, "
              "re-run to resume", file=sys.stderr)
        return 128 + signum
    except Exception as exc:  # noqa: BLE001 (the one place errors become a message)
        message, code = describe_error(exc)
        if args.verbose:
            import traceback

            traceback.print_exc()
        from evalkit.core.redact import redact

        print(f"evalkit: error: {redact(' '.join(message.split()))}", file=sys.stderr)
        return code


def describe_error(exc: BaseException) -> tuple[str, int]:
    """One user-facing message and exit code for any exception that reaches the command line."""
    import errno
    import sqlite3

    from evalkit.core.errors import EvalkitError, GateError

    if isinstance(exc, EvalkitError):
        return str(exc), 3 if isinstance(exc, GateError) else 2
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and " " in exc.args[0]:
        return exc.args[0], 2  # our own lookups carry a sentence with a did-you-mean
    if isinstance(exc, PermissionError):
        return (f"no permission to {'write' if _writing(exc) else 'read'} {exc.filename or 'a file'} "
                f"({exc.strerror}); make it accessible or choose another folder with --output / --store"), 2
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a folder where a file is needed; give a file path", 2
    if isinstance(exc, FileNotFoundError):
        return (f"{exc.filename}: no such file or folder; check the path" if exc.filename else str(exc)), 2
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return (f"disk full writing {exc.filename or 'a file'}: the store keeps every summary and score already "
                "computed; free space and re-run the same command (it resumes)"), 2
    if isinstance(exc, OSError):
        return (f"cannot use {exc.filename or 'a file'}: {exc.strerror or exc}; check the disk and the path, or "
                "choose another folder with --output"), 2
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8", 2
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"the store could not be read ({exc}); it is damaged: move it aside and re-run (run folders keep "
                "their results)"), 2
    return (f"unexpected {type(exc).__name__}: {exc} (a bug in evalkit, or an input it does not check yet: "
            "re-run with -v for the traceback and report it)"), 1


def _writing(exc: OSError) -> bool:
    name = str(exc.filename or "")
    return not name or not Path(name).exists() or os.access(Path(name).parent, os.R_OK)


def _redact_record(record: logging.LogRecord) -> bool:
    """Logging filter: credentials in URLs never reach a log line."""
    from evalkit.core.redact import redact

    message = record.getMessage()
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    return True


if __name__ == "__main__":
    sys.exit(main())
