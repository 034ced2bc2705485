"""``evalkit history RUNS...``: each headline value per system across runs, oldest first, with the gate's verdicts.

Reads the runs (:mod:`evalkit.report.history`), prints one table per value, and writes the chart
(:mod:`evalkit.report.plots.history`) and the tidy rows as JSON when asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.report.history import format_history, load_history


def add_commands(subparsers: Any) -> None:
    """``evalkit history RUNS... [--metrics a,b] [--chart FILE] [--json FILE]`` (see the module docstring)."""
    parser = subparsers.add_parser("history", help="headline values per system across runs, with the gate's verdicts")
    parser.add_argument("runs", nargs="+", metavar="RUNS",
                        help="run folders, or folders of runs (such as runs/ or a folder of CI runs)")
    parser.add_argument("--metrics", help="comma-separated values to show (default: every headline value)")
    parser.add_argument("--chart", metavar="FILE", help="write the chart (PNG/SVG/PDF): a panel per value")
    parser.add_argument("--json", metavar="FILE", help="write the runs, their verdicts and the means as JSON")
    parser.set_defaults(func=cmd_history)


def cmd_history(args: Any) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    history = load_history(args.runs, metrics)
    print(format_history(history))
    for option, write in ((args.json, lambda path: path.write_text(history.to_json(), encoding="utf-8")),
                          (args.chart, lambda path: _chart(history, path))):
        if option:
            path = Path(option)
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
            print(f"Wrote {path}")
    return 0


def _chart(history, path: Path) -> None:
    from evalkit.report.plots.history import history_chart

    history_chart(history).savefig(path, dpi=150)
