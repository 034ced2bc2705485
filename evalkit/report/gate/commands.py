"""``evalkit baseline save`` and ``evalkit check``: the gate on the command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from evalkit.core.errors import DataError, GateError, PolicyError
from evalkit.report.gate.baseline import save_baseline
from evalkit.report.gate.decision import EXIT_INCOMPARABLE, EXIT_PASSED, EXIT_USAGE, GateResult, check
from evalkit.report.gate.policy import DEFAULT_POLICY
from evalkit.run.record import Run

log = logging.getLogger(__name__)

GATE_FILE = "gate.json"
"""Where ``evalkit check`` leaves its verdict in the run folder it checked (read by ``evalkit history``)."""


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _alpha(value: str) -> float:
    try:
        alpha = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number, got {value!r}") from None
    if not 0 < alpha < 1:
        raise argparse.ArgumentTypeError(f"alpha must lie strictly between 0 and 1, got {value}")
    return alpha


def cmd_baseline_save(args: argparse.Namespace) -> int:
    try:
        baseline = save_baseline(args.run, args.file, systems=_names(args.systems), metrics=_names(args.metrics),
                                 policy=args.policy)
    except (PolicyError, ValueError, FileNotFoundError, KeyError, DataError) as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except GateError as exc:
        print(f"evalkit: could not save a baseline: {exc}", file=sys.stderr)
        return EXIT_INCOMPARABLE
    hashes = "with" if baseline["data"]["hashes"] is not None else "without"
    print(f"Saved baseline of run {baseline['run']['run_id']} to {args.file}: "
          f"{len(baseline['systems'])} system(s) ({', '.join(baseline['systems'])}) x "
          f"{len(baseline['metrics'])} metric(s) ({', '.join(baseline['metrics'])}) on "
          f"{len(baseline['data']['ids'])} documents ({hashes} per-document text hashes)")
    if baseline["not_gated"]:
        print(f"Not gated (the run has no such metric): {', '.join(baseline['not_gated'])}")
    return EXIT_PASSED


def cmd_check(args: argparse.Namespace) -> int:
    try:
        run = Run.load(args.run)
        result = check(run, args.baseline, policy=args.policy, alpha=args.alpha)
    except (PolicyError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    record_verdict(run.run_dir, result, args.baseline)
    print(result.to_json() if args.json else result.to_text(all_rows=args.all), end="\n" if not args.json else "")
    for option, text in ((args.markdown, lambda: result.to_markdown(all_rows=args.all)),
                         (args.junit, result.to_junit)):
        if option:
            path = Path(option)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")
    return result.exit_code


def record_verdict(run_dir: Path, result: GateResult, baseline: str | Path) -> Path | None:
    """Write the verdict into ``run_dir/gate.json`` (a new file renamed over the old one, so a reader never sees
    half of it); returns its path, or ``None`` with a warning when the run folder cannot be written (read-only)."""
    record = {"verdict": result.verdict, "exit_code": result.exit_code, "run": result.run_id,
              "baseline_run": result.baseline_run, "baseline_file": str(baseline),
              "checked": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "regressed": [{"system": c.system, "metric": c.metric} for c in result.regressions],
              "errors": list(result.errors)}
    path = run_dir / GATE_FILE
    temporary = run_dir / f".{GATE_FILE}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        temporary.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        log.warning("could not record the verdict in %s (%s); evalkit history will show this run as not checked",
                    path, exc.strerror or exc)
        return None
    return path


def add_commands(subparsers) -> None:
    """Register ``baseline save`` and ``check`` on an ``argparse`` subparsers object."""
    baseline = subparsers.add_parser("baseline", help="manage the CI gate's baseline (see docs/ci-gate.md)")
    actions = baseline.add_subparsers(dest="baseline_command", required=True)
    save = actions.add_parser("save", help="save a run's per-document scores as the gate's baseline")
    save.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    save.add_argument("file", help="where to write the baseline (.json, or .json.gz to compress)")
    save.add_argument("--systems", help="comma-separated systems to gate (default: all of the run's)")
    save.add_argument("--metrics", help="comma-separated values to gate (default: those the policy gates that "
                                        "the run has)")
    save.add_argument("--policy", help=f"gate policy YAML (default: the bundled {DEFAULT_POLICY.name})")
    save.set_defaults(func=cmd_baseline_save)

    gate = subparsers.add_parser("check", help="fail (exit 1) when a run regressed against a baseline")
    gate.add_argument("run", help="the new run folder (or runs/ for the latest)")
    gate.add_argument("--baseline", required=True, help="a file written by 'evalkit baseline save'")
    gate.add_argument("--policy", help=f"gate policy YAML (default: the bundled {DEFAULT_POLICY.name})")
    gate.add_argument("--markdown", metavar="OUT.md", help="also write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    gate.add_argument("--junit", metavar="OUT.xml", help="also write JUnit XML (one testcase per system x metric)")
    gate.add_argument("--json", action="store_true", help="print the result as JSON instead of text")
    gate.add_argument("--all", action="store_true", help="list every check, not only regressions and improvements")
    gate.add_argument("--alpha", type=_alpha, help="significance level (default: the policy's, 0.05)")
    gate.set_defaults(func=cmd_check)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evalkit.report.gate baseline save ... | check ...`` (the same as ``evalkit ...``)."""
    parser = argparse.ArgumentParser(prog="evalkit", description="The CI regression gate on summary quality.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)
