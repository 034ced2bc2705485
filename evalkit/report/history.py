"""Trends across releases: each headline value per system over many runs, oldest first, with the gate's verdicts.

``evalkit history RUNS...`` reads run folders (or folders of runs, such as a folder of CI runs),
orders them by the time in their manifests (``created``), and lays out one tidy row per
(run, system, value) with the run's mean (:meth:`evalkit.run.record.Run.table`) and the verdict
``evalkit check`` recorded in the run folder (``gate.json``, :data:`evalkit.report.gate.commands.GATE_FILE`).

A mean is only comparable with another when both were scored the same way on the same documents.
Every run is compared with the latest one: a value whose metric instance has another signature
(all values of a run with other documents or another length target) is kept but marked
``comparable = False``, with the reason in :attr:`HistoryRun.differences`.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.core.errors import DataError
from evalkit.core.types import Measure
from evalkit.report.gate.commands import GATE_FILE
from evalkit.report.tables import headline_metrics, json_number
from evalkit.run.record import Run

log = logging.getLogger(__name__)

COLUMNS = ("run", "created", "commit", "system", "metric", "mean", "verdict", "comparable")
VERDICTS = ("passed", "regressed", "incomparable")
"""The verdicts ``evalkit check`` records; a run it never checked has none (``None``)."""


@dataclass(frozen=True)
class HistoryRun:
    """One run of a history, as its manifest and its recorded gate verdict describe it."""

    run_id: str
    """The run folder's name."""
    path: Path
    created: str | None
    """The manifest's ``created`` (ISO 8601); ``None`` when the run did not record it."""
    when: datetime
    """``created`` as an aware time (a run without one: its manifest file's modification time)."""
    commit: str | None
    """The git commit the run was made at, as recorded (full hash), or ``None``."""
    verdict: str | None
    """``passed``, ``regressed`` or ``incomparable`` as ``evalkit check`` recorded it; ``None``: never checked."""
    baseline_run: str | None
    """The run the recorded check compared against."""
    regressed: tuple[tuple[str, str], ...]
    """The (system, value) checks that regressed."""
    differences: tuple[str, ...]
    """Why its values are not comparable with the latest run's (empty: scored the same way)."""

    @property
    def short_commit(self) -> str:
        return self.commit[:7] if self.commit else "?"

    @property
    def date(self) -> str:
        return self.when.strftime("%Y-%m-%d") if self.created else "?"


@dataclass(frozen=True)
class History:
    """Runs in time order and their headline means: what ``evalkit history`` prints, charts and writes as JSON."""

    runs: tuple[HistoryRun, ...]
    """Oldest first."""
    frame: pd.DataFrame
    """One row per (run, system, value): run, created, commit, system, metric, mean, verdict, comparable."""
    metrics: tuple[str, ...]
    """The values shown, in order."""
    systems: tuple[str, ...]
    """Every system of any run, latest run's order first."""
    measures: dict[str, Measure]
    """Value name -> its measure (label, scale), from the latest run that declared it."""

    def labels(self) -> list[str]:
        """Each run's label: its date (and time, where two runs share a date) and its commit's short hash."""
        dates = [r.date for r in self.runs]
        if len(set(dates)) < len(dates):
            dates = [r.when.strftime("%Y-%m-%d %H:%M") if r.created else "?" for r in self.runs]
        return [f"{d} {r.short_commit}" for d, r in zip(dates, self.runs)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the runs (oldest first) with their verdicts, and the tidy rows."""
        return {
            "metrics": list(self.metrics), "systems": list(self.systems),
            "runs": [{"run": r.run_id, "path": str(r.path), "created": r.created, "commit": r.commit,
                      "verdict": r.verdict, "baseline_run": r.baseline_run,
                      "regressed": [{"system": s, "metric": m} for s, m in r.regressed],
                      "comparable": not r.differences, "differences": list(r.differences)} for r in self.runs],
            "values": [{**row, "mean": json_number(row["mean"]), "comparable": bool(row["comparable"])}
                       for row in self.frame.to_dict("records")],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """The run folders among ``paths``: each is a run folder (it has ``manifest.json``) or a folder of them."""
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise DataError(f"{path}: no such folder; pass run folders or folders of runs (such as runs/)")
        if (path / "manifest.json").is_file():
            found[path.resolve()] = None
            continue
        inside = sorted(p for p in path.iterdir() if (p / "manifest.json").is_file())
        if not inside:
            raise DataError(f"{path}: neither a run folder nor a folder of runs (no manifest.json in it or its "
                            "subfolders); pass the folders 'evalkit run --output' wrote")
        found.update(dict.fromkeys(p.resolve() for p in inside))
    return list(found)


def load_history(paths: Sequence[str | Path], metrics: Sequence[str] | None = None) -> History:
    """Read the runs under ``paths`` (see :func:`find_runs`), oldest first, with their means of ``metrics``
    (default: every headline value of any run); a value no run has raises ``KeyError`` with a did-you-mean."""
    runs = sorted((Run.load(p) for p in find_runs(paths)), key=lambda run: (_when(run), run.run_id))
    latest = runs[-1]
    available = list(dict.fromkeys(m for run in reversed(runs) for m in run.values()["metric"]))
    if metrics is None:
        chosen = list(dict.fromkeys(m for run in reversed(runs) for m in headline_metrics(run)))
    else:
        chosen = list(dict.fromkeys(metrics))
        missing = [m for m in chosen if m not in available]
        if missing:
            hints = []
            for name in missing:
                close = [a for a in available if a.lower() == name.lower()] or \
                    difflib.get_close_matches(name, sorted(available), n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise KeyError(f"--metrics {', '.join(hints)}: in none of the {len(runs)} runs; they have "
                           f"{', '.join(sorted(available))}")
    measures: dict[str, Measure] = {}
    for run in reversed(runs):
        for name in chosen:
            if name not in measures and name in run.measures():
                measures[name] = run.measure(name)
    measures = {name: measures.get(name) or latest.measure(name) for name in chosen}

    entries, rows = [], []
    for run in runs:
        unlike = _data_differences(run, latest)  # every value of the run; a signature only its own values
        entry = _entry(run, _scoring_differences(run, latest) + unlike)
        entries.append(entry)
        present = [m for m in chosen if m in set(run.values()["metric"])]
        if not present:
            continue
        table = run.table(present)
        for metric in present:
            comparable = not unlike and _signature(run, metric) == _signature(latest, metric)
            for system, mean in table[metric].items():
                rows.append({"run": run.run_id, "created": entry.created, "commit": entry.commit, "system": system,
                             "metric": metric, "mean": float(mean), "verdict": entry.verdict,
                             "comparable": comparable})
    systems = list(dict.fromkeys([*latest.manifest.system_order(),
                                  *(s for run in reversed(runs) for s in run.manifest.system_order())]))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    systems = [s for s in systems if s in set(frame["system"])]
    return History(tuple(entries), frame, tuple(chosen), tuple(systems), measures)


def _when(run: Run) -> datetime:
    created = run.manifest.created
    if created:
        try:
            when = datetime.fromisoformat(created)
        except ValueError:
            log.warning("run %s: created %r is not an ISO 8601 time; ordering it by its manifest file's time",
                        run.run_id, created)
        else:
            return when if when.tzinfo else when.astimezone()  # a time without offset: this machine's local time
    return datetime.fromtimestamp((run.run_dir / "manifest.json").stat().st_mtime, timezone.utc)


def _signature(run: Run, metric: str) -> str | None:
    key = run.manifest.instance_of(metric)
    return run.manifest.metrics[key].signature if key else None


def _entry(run: Run, differences: list[str]) -> HistoryRun:
    gate = _recorded_verdict(run.run_dir)
    regressed = tuple((str(c.get("system")), str(c.get("metric"))) for c in gate.get("regressed") or ()
                      if isinstance(c, dict))
    return HistoryRun(run.run_id, run.run_dir, run.manifest.created, _when(run), run.manifest.git_commit,
                      gate.get("verdict"), gate.get("baseline_run"), regressed, tuple(differences))


def _recorded_verdict(run_dir: Path) -> dict[str, Any]:
    """The verdict ``evalkit check`` recorded in ``run_dir``, or {} (never checked, or an unreadable record)."""
    path = run_dir / GATE_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("%s: unreadable (%s); the run is shown as not checked: check it again to rewrite it", path, exc)
        return {}
    if not isinstance(record, dict) or record.get("verdict") not in VERDICTS:
        log.warning("%s: no verdict of %s in it; the run is shown as not checked", path, ", ".join(VERDICTS))
        return {}
    return record


def _scoring_differences(run: Run, latest: Run) -> list[str]:
    """The metric instances ``run`` scored with another signature than ``latest``: those values are not comparable."""
    a, b = run.manifest.metrics, latest.manifest.metrics
    return [f"{key} scored differently ({a[key].signature} vs {b[key].signature})"
            for key in sorted(set(a) & set(b)) if a[key].signature != b[key].signature]


def _data_differences(run: Run, latest: Run) -> list[str]:
    """Why none of ``run``'s values are comparable with ``latest``'s: other documents or another length target."""
    out = []
    a, b = run.manifest, latest.manifest
    if a.data.documents and b.data.documents and a.data.documents != b.data.documents:
        out.append(f"other documents ({a.data.n_documents} vs {b.data.n_documents})")
    if a.config.target != b.config.target:
        ta, tb = a.config.target, b.config.target
        out.append(f"other length target ({ta.describe() if ta else 'none'} vs {tb.describe() if tb else 'none'})")
    return out


def format_history(history: History) -> str:
    """The history as text: the runs with their verdicts, then one block per value (runs down, systems across)."""
    labels = history.labels()
    width = max(len(label) for label in labels)
    lines = [f"{len(history.runs)} runs, oldest first (compared with the latest, {history.runs[-1].run_id}):"]
    for i, (run, label) in enumerate(zip(history.runs, labels), 1):
        verdict = run.verdict or "not checked"
        detail = (verdict.upper() if verdict == "regressed" else verdict) + (f" against {run.baseline_run}" if run.baseline_run else "")
        if run.regressed:
            detail += ": " + ", ".join(f"{s} {m}" for s, m in run.regressed)
        lines.append(f"  {i:>2}  {label:<{width}}  {run.run_id}  gate: {detail}")
        if run.differences:
            lines.append(f"      * not comparable: {'; '.join(run.differences)}")
    frame = history.frame
    flagged = False
    for metric in history.metrics:
        measure = history.measures[metric]
        rows = frame[frame["metric"] == metric]
        systems = [s for s in history.systems if s in set(rows["system"])]
        cells = {(r.run, r.system): measure.format(r.mean) + ("" if r.comparable else "*")
                 for r in rows.itertuples(index=False)}
        flagged |= not rows["comparable"].all()
        header = ["#", "run", *systems]
        body = [[str(i), label, *(cells.get((run.run_id, s), "-") for s in systems)]
                for i, (run, label) in enumerate(zip(history.runs, labels), 1)]
        widths = [max(len(r[k]) for r in [header, *body]) for k in range(len(header))]
        lines += ["", f"{metric}: {measure.axis_label}"]
        for cells_of_row in [header, *body]:
            lines.append("  " + "  ".join(c.ljust(w) if k == 1 else c.rjust(w)
                                          for k, (c, w) in enumerate(zip(cells_of_row, widths))))
    lines.append("")
    lines.append("- = the run has no such system or value; gate = the verdict 'evalkit check' recorded in the run folder")
    if flagged:
        lines.append("* = scored differently from the latest run (another metric signature, other documents or "
                     "length target): not comparable")
    return "\n".join(lines)
