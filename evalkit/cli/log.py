"""``evalkit log RUN --mlflow URI``: log a stored run to an MLflow tracking server (docs/tracking.md)."""

from __future__ import annotations

import os
import sys
from typing import Any

from evalkit.core.errors import ConfigError, EvalkitError
from evalkit.core.redact import redact
from evalkit.report.mlflow_log import Logged, log_run


def add_commands(subparsers: Any) -> None:
    """``evalkit log RUN --mlflow URI [--experiment NAME]``."""
    parser = subparsers.add_parser("log", help="log a stored run to MLflow (params, metrics, artifacts), once")
    parser.add_argument("run", help="a run folder (runs/<name>-<time>) or runs/ for the latest")
    parser.add_argument("--mlflow", metavar="URI", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="the tracking server, e.g. http://127.0.0.1:5000 (default: $MLFLOW_TRACKING_URI)")
    parser.add_argument("--experiment", metavar="NAME", help="the MLflow experiment (default: the run's name)")
    parser.set_defaults(func=cmd_log)


def cmd_log(args: Any) -> int:
    if not args.mlflow:
        raise ConfigError("no tracking server: pass --mlflow URI (e.g. http://127.0.0.1:5000) or set "
                          "MLFLOW_TRACKING_URI")
    print(describe(log_run(args.run, uri=args.mlflow, experiment=args.experiment), args.mlflow))
    return 0


def describe(logged: Logged, uri: str) -> str:
    """One line saying where the run is in MLflow, and whether this call logged it."""
    what = "Logged to" if logged.created else "Already in"
    where = (f": {redact(uri.rstrip('/'))}/#/experiments/{logged.experiment_id}/runs/{logged.run_id}"
             if uri.startswith(("http://", "https://")) else "")
    return (f"{what} MLflow {redact(uri)}: experiment '{logged.experiment}' ({logged.experiment_id}), "
            f"run {logged.run_id}{where}")


def log_tracked(run: Any, tracking: Any) -> int:
    """After ``evalkit run``: log the run to the config's ``tracking: {mlflow: ...}``; 0, or 2 with one line on
    stderr when it could not be logged (the run folder is written either way)."""
    try:
        print(describe(log_run(run, uri=tracking.uri, experiment=tracking.experiment), tracking.uri))
    except EvalkitError as exc:
        print(f"evalkit: error: {redact(' '.join(str(exc).split()))}", file=sys.stderr)
        return 2
    return 0
