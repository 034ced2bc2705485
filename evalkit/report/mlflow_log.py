"""Log a stored run to MLflow: one MLflow run per evalkit run, found again by a tag (docs/tracking.md).

What an MLflow run of evalkit holds, all read from the stored :class:`~evalkit.run.record.Run`:

- run name: the evalkit run id (its folder's name); tags ``evalkit.run_id`` (how a second
  :func:`log_run` of the same run finds it and logs nothing), ``evalkit.version`` and
  ``mlflow.source.git.commit`` (what made the run);
- params: ``system/<name>/fingerprint`` per system, ``metric/<key>/signature`` per metric
  instance, ``data/documents`` (the digest of the documents), ``data/n_documents``, ``target``
  and ``seed``;
- metrics: ``<system>/<value>``, the per-system mean of every headline value (``run.table()``),
  plus ``n_documents`` and ``failures`` (summaries that failed);
- artifacts: ``scores.csv``, ``summaries.jsonl``, ``facts.jsonl``, ``sources.jsonl`` (the articles, so the
  logged run can be read without the data), ``manifest.json`` and the HTML report (``report.html``).

MLflow names may hold letters, digits, ``_ - . /`` and spaces: any other character of a
system or value name is written as ``_``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from evalkit.core.errors import ConfigError, EvalkitError
from evalkit.report.tables import headline_metrics
from evalkit.run.record import FACTS_FILE, SOURCES_FILE, Run

log = logging.getLogger(__name__)

EXTRA = 'pip install "evalkit[mlflow]"'
"""The install command a missing mlflow package is reported with."""
RUN_TAG = "evalkit.run_id"
"""The tag that ties an MLflow run to its evalkit run: logging the same run again finds it by this."""
ARTIFACTS = ("scores.csv", "summaries.jsonl", FACTS_FILE, SOURCES_FILE, "manifest.json")
"""The run folder's files logged as artifacts (beside the HTML report)."""
REPORT = "report.html"
PROBE_SECONDS = 10.0
"""How long an http(s) tracking server has to answer before it counts as unreachable."""


class TrackingError(EvalkitError):
    """The run could not be logged to the tracking server (the run folder itself is untouched)."""


@dataclass(frozen=True)
class Logged:
    """Where an evalkit run is in MLflow."""

    run_id: str
    """The MLflow run id."""
    experiment_id: str
    """The MLflow experiment it is in."""
    experiment: str
    """That experiment's name."""
    created: bool
    """False when the evalkit run was logged before and nothing was logged this time."""


def log_run(run: Run | str | Path, *, uri: str, experiment: str | None = None) -> Logged:
    """Log ``run`` (a :class:`Run` or its folder) to the MLflow tracking server at ``uri``, once.

    ``experiment``: the MLflow experiment (created when missing); default the run's experiment name.
    Raises :class:`ConfigError` when mlflow is not installed and :class:`TrackingError` when the
    server cannot be reached or refuses the run: one line each, and the run folder stays as it is.
    """
    run = run if isinstance(run, Run) else Run.load(run)
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError(f"logging to MLflow needs the mlflow package ({exc.name or exc} is missing): {EXTRA}") \
            from None
    _probe(uri, run)
    experiment = experiment or run.manifest.name or "evalkit"
    client = MlflowClient(tracking_uri=uri)
    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        existing = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{_quoted(run.run_id)}'",
                                      max_results=2)
        finished = [r for r in existing if r.info.status == "FINISHED"]
        if finished:
            log.info("run %s is already MLflow run %s; nothing logged", run.run_id, finished[0].info.run_id)
            return Logged(finished[0].info.run_id, experiment_id, experiment, created=False)
        if existing:  # an earlier attempt stopped halfway: complete that run rather than add a second
            mlflow_id = existing[0].info.run_id
        else:
            mlflow_id = client.create_run(experiment_id, start_time=_millis(run.manifest.created),
                                          tags=tags(run), run_name=run.run_id).info.run_id
        _log_contents(client, mlflow_id, run)
        with contextlib.redirect_stdout(io.StringIO()):  # MLflow writes its own "View run" lines to stdout
            client.set_terminated(mlflow_id, "FINISHED")
    except MlflowException as exc:
        raise TrackingError(f"MLflow at {uri} refused run {run.run_id}: {_one_line(exc.message)}; the run folder "
                            f"{run.run_dir} is kept: fix the cause and re-run `evalkit log {run.run_dir} --mlflow "
                            f"{uri}`") from exc
    return Logged(mlflow_id, experiment_id, experiment, created=True)


def tags(run: Run) -> dict[str, str]:
    """The MLflow tags of a run: its id (the idempotence key), evalkit version and git commit."""
    out = {RUN_TAG: run.run_id, "evalkit.version": run.manifest.packages.get("evalkit", "unknown")}
    if run.manifest.git_commit:
        out["mlflow.source.git.commit"] = run.manifest.git_commit
    return out


def params(run: Run) -> dict[str, str]:
    """The MLflow params of a run: fingerprints, signatures, data identity, target and seed."""
    manifest = run.manifest
    out = {f"system/{mlflow_name(name)}/fingerprint": str(entry.fingerprint)
           for name, entry in manifest.systems.items()}
    out.update({f"metric/{mlflow_name(key)}/signature": str(entry.signature) for key, entry in manifest.metrics.items()})
    out["data/documents"] = str(manifest.data.documents)
    out["data/n_documents"] = str(manifest.data.n_documents)
    target = manifest.config.target
    out["target"] = (target.describe() if target else "") or "none"
    out["seed"] = str(manifest.seed)
    return out


def metrics(run: Run) -> dict[str, float]:
    """The MLflow metrics of a run: ``<system>/<value>`` means of the headline values, documents and failures."""
    table = run.table(headline_metrics(run))
    out = {f"{mlflow_name(system)}/{mlflow_name(name)}": float(value)
           for system, row in table.iterrows() for name, value in row.items()}
    out["n_documents"] = float(run.manifest.data.n_documents or run.summaries["document_id"].nunique())
    out["failures"] = float(run.summaries["error"].notna().sum())
    return out


def mlflow_name(name: str) -> str:
    """``name`` as one segment of an MLflow key: only letters, digits, ``_ - .`` and spaces; never ``.`` or ``..``."""
    part = re.sub(r"[^\w.\- ]", "_", str(name))
    return part if part.strip(".") else "_" + part


def _log_contents(client: Any, mlflow_id: str, run: Run) -> None:
    from mlflow.entities import Metric, Param

    _check_unique(run)
    stamp = _millis(run.manifest.created) or int(time.time() * 1000)
    client.log_batch(mlflow_id, params=[Param(k, v) for k, v in params(run).items()],
                     metrics=[Metric(k, v, stamp, 0) for k, v in metrics(run).items()])
    for name in ARTIFACTS:
        if (run.run_dir / name).exists():
            client.log_artifact(mlflow_id, str(run.run_dir / name))
    from evalkit.report.html import write_html

    with tempfile.TemporaryDirectory(prefix="evalkit-mlflow-") as folder:
        client.log_artifact(mlflow_id, str(write_html(run, Path(folder) / REPORT)))


def _check_unique(run: Run) -> None:
    """Raise when two systems (or two values) become one MLflow name, so that no mean overwrites another."""
    for what, names in (("systems", list(run.manifest.systems)), ("values", headline_metrics(run))):
        seen: dict[str, str] = {}
        for name in names:
            other = seen.setdefault(mlflow_name(name), name)
            if other != name:
                raise TrackingError(f"{what} {other!r} and {name!r} are both {mlflow_name(name)!r} in MLflow (it "
                                    "allows letters, digits, _ - . / and spaces); rename one and re-run")


def _probe(uri: str, run: Run) -> None:
    """Raise :class:`TrackingError` at once when an http(s) server does not answer (MLflow itself retries for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_SECONDS):
            pass
    except urllib.error.HTTPError:
        pass  # it answered: a server without /health (a proxy, Databricks) is still there
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"cannot reach the MLflow server at {uri} ({_one_line(str(reason))}); the run folder "
                            f"{run.run_dir} is kept: start the server or fix the URI, then re-run `evalkit log "
                            f"{run.run_dir} --mlflow URI`") from None


def _millis(created: str | None) -> int | None:
    """The manifest's ISO 8601 time as epoch milliseconds (None when absent or unreadable)."""
    try:
        return int(datetime.fromisoformat(created).timestamp() * 1000) if created else None
    except ValueError:
        return None


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]
