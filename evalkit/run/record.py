"""A stored run: its manifest, tidy scores and summaries, read by every view and by the gate.

The manifest says what each metric instance produced: ``manifest["metrics"]`` maps an instance
key (``rouge``, ``bertscore``, ``bertscore_src``) to its kind, config, signature and the
:class:`~evalkit.core.types.Measure` of every value it wrote. Views and the gate read labels,
scales and directions from there (:meth:`Run.measures`), never by building a metric.

Runs written before the manifest recorded measures (``metrics: {kind: signature}``) are read
through :func:`upgrade_manifest`, which rebuilds the measures from the run's own metric config
once, when the run is opened.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.core.errors import SignatureMismatch
from evalkit.core.types import LengthTarget, Measure, ScoreRow, Summary

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("document_id", "system", "metric", "value", "note")
MANIFEST_VERSION = 2
"""2: ``metrics`` maps instance keys to {kind, config, signature, measures}; 1: ``{kind: signature}``."""

__all__ = ["Run", "SignatureMismatch", "check_comparable", "upgrade_manifest", "metric_instances", "measures_of",
           "instance_of"]


def upgrade_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest in the current format; version-1 manifests get their metric entries rebuilt.

    Version 1 stored ``{kind: signature}``. Its measures are recovered from the run's metric
    config (constructors load no model); a metric that cannot be rebuilt here keeps its
    signature and gets no measures (views then show its raw value names).
    """
    manifest = dict(manifest)
    metrics = manifest.get("metrics") or {}
    if all(isinstance(v, Mapping) for v in metrics.values()):
        manifest.setdefault("manifest_version", MANIFEST_VERSION)
        return manifest
    from evalkit.run.registry import build_metric  # only for old runs: current runs carry their measures

    specs = {}
    for spec in (manifest.get("config") or {}).get("metrics", []):
        spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
        specs.setdefault(spec.get("kind"), spec)
    upgraded = {}
    for kind, signature in metrics.items():
        spec = specs.get(kind, {"kind": kind})
        entry = {"kind": kind, "config": spec, "signature": signature, "measures": []}
        key = kind
        try:
            metric = build_metric(spec)
            entry["measures"] = [m.to_dict() for m in metric.measures()]
            key = metric.key
        except Exception as exc:  # noqa: BLE001 - an unbuildable old metric keeps its signature
            log.info("run %s: cannot rebuild metric %r to read its measures: %s", manifest.get("run_id"), spec, exc)
        upgraded[key] = entry
    manifest["metrics"] = upgraded
    manifest["manifest_version"] = MANIFEST_VERSION
    return manifest


def metric_instances(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Instance key -> {kind, config, signature, measures} of a manifest (either format)."""
    return {k: dict(v) for k, v in (upgrade_manifest(manifest).get("metrics") or {}).items()}


def measures_of(manifest: Mapping[str, Any]) -> dict[str, Measure]:
    """Value name -> its :class:`Measure`, for every value the run's metrics declared."""
    out: dict[str, Measure] = {}
    for entry in metric_instances(manifest).values():
        for item in entry.get("measures") or ():
            out.setdefault(item["name"], Measure.from_dict(item, entry.get("kind")))
    return out


def instance_of(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Value name -> the key of the metric instance that produced it."""
    out: dict[str, str] = {}
    for key, entry in metric_instances(manifest).items():
        for item in entry.get("measures") or ():
            out.setdefault(item["name"], key)
    return out


@dataclass
class Run:
    """A finished run: its directory, manifest, tidy scores and summaries."""

    run_dir: Path
    manifest: dict[str, Any]
    scores: pd.DataFrame
    """One row per (document, system, metric): document_id, system, metric, value, note."""
    summaries: pd.DataFrame
    """One row per (document, system): text, error, seconds, fingerprint, target, details."""

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @classmethod
    def create(cls, output_dir: Path, name: str, manifest: dict[str, Any], rows: list[ScoreRow],
               summaries: list[Summary], target_of: Mapping[str, LengthTarget]) -> Run:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        output_dir.mkdir(parents=True, exist_ok=True)
        run_dir, suffix = output_dir / f"{name}-{stamp}", 1
        while True:  # mkdir is atomic: two runs finishing in the same second get different folders
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                suffix += 1
                run_dir = output_dir / f"{name}-{stamp}-{suffix}"
        manifest = {**manifest, "run_id": run_dir.name}
        scores = pd.DataFrame([astuple(row) for row in rows], columns=list(TABLE_COLUMNS))
        summary_frame = pd.DataFrame([{
            "document_id": s.document_id, "system": s.system, "text": s.text, "error": s.error,
            "seconds": s.seconds, "fingerprint": s.fingerprint, "target": target_of[s.document_id].key(),
            "details": json.dumps(dict(s.details), ensure_ascii=False, sort_keys=True),
        } for s in summaries])
        scores.to_csv(run_dir / "scores.csv", index=False)
        summary_frame.to_json(run_dir / "summaries.jsonl", orient="records", lines=True, force_ascii=False)
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str),
                                               encoding="utf-8")
        (output_dir / "LATEST").write_text(run_dir.name + "\n", encoding="utf-8")
        return cls(run_dir, manifest, scores, summary_frame)

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Open a run directory (or ``runs/`` itself, meaning its latest run)."""
        path = Path(path)
        if (path / "LATEST").exists() and not (path / "manifest.json").exists():
            path = path / (path / "LATEST").read_text(encoding="utf-8").strip()
        if not (path / "manifest.json").exists():
            raise FileNotFoundError(f"{path}: not a run directory (no manifest.json); pass a folder under runs/")
        manifest = upgrade_manifest(json.loads((path / "manifest.json").read_text(encoding="utf-8")))
        scores = pd.read_csv(path / "scores.csv", dtype={"document_id": str, "system": str, "metric": str,
                                                         "note": "string"})
        scores["note"] = scores["note"].astype(object).where(scores["note"].notna(), None)
        summaries = pd.read_json(path / "summaries.jsonl", orient="records", lines=True, dtype={"document_id": str})
        return cls(path, manifest, scores, summaries)

    def measures(self) -> dict[str, Measure]:
        """Value name -> :class:`Measure` for every value this run's metrics declared."""
        return measures_of(self.manifest)

    def measure(self, name: str) -> Measure:
        """The measure of one value; a value no metric declared gets a plain one named after itself."""
        return self.measures().get(name) or Measure(name, name, "score", None)

    def rows(self) -> list[ScoreRow]:
        """The tidy table as :class:`~evalkit.core.types.ScoreRow` values."""
        return [ScoreRow(r.document_id, r.system, r.metric, None if pd.isna(r.value) else float(r.value),
                         None if r.note is None or pd.isna(r.note) else r.note)
                for r in self.scores.itertuples(index=False)]

    def merge(self, other: Run) -> pd.DataFrame:
        """Both runs' tidy tables in one, after checking they were scored the same way.

        Raises :class:`SignatureMismatch` naming the metric whose settings differ, or the
        systems the two runs share (a system is identified by name; merge renamed runs instead).
        """
        check_comparable(self.manifest, other.manifest)
        shared = set(self.scores["system"]) & set(other.scores["system"])
        if shared:
            raise SignatureMismatch(f"both runs have system(s) {sorted(shared)}; rename them in one run's config "
                                    "before merging, so every row stays attributable")
        return pd.concat([self.scores, other.scores], ignore_index=True)

    def values(self) -> pd.DataFrame:
        """The numeric rows only (``*_info`` rows dropped), values as floats."""
        frame = self.scores[~self.scores["metric"].str.endswith("_info")].copy()
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        return frame

    def wide(self) -> pd.DataFrame:
        """One row per (document, system), one column per metric."""
        return self.values().pivot_table(index=["document_id", "system"], columns="metric", values="value",
                                         aggfunc="first").reset_index()

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Mean of each metric per system (systems in config order), undefined values excluded."""
        frame = self.values()
        if metrics is not None:
            missing = [m for m in metrics if m not in set(frame["metric"])]
            if missing:
                raise KeyError(f"metric(s) {missing} not in this run; it has {sorted(set(frame['metric']))}")
            frame = frame[frame["metric"].isin(metrics)]
        table = frame.pivot_table(index="system", columns="metric", values="value", aggfunc="mean", dropna=False)
        order = list(self.manifest.get("systems", {})) or list(table.index)
        table = table.reindex([s for s in order if s in set(frame["system"])])
        if metrics is not None:
            table = table.reindex(columns=list(metrics))  # a metric no summary could be scored on stays, as NaN
        return table


def check_comparable(a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    """Raise :class:`SignatureMismatch` unless two run manifests scored the same metrics the same way."""
    metrics_a, metrics_b = metric_instances(a), metric_instances(b)
    problems = []
    for key in sorted(set(metrics_a) | set(metrics_b)):
        sig_a = (metrics_a.get(key) or {}).get("signature")
        sig_b = (metrics_b.get(key) or {}).get("signature")
        if sig_a != sig_b:
            problems.append(f"metric {key!r}: {sig_a or 'not scored'} vs {sig_b or 'not scored'}")
    ta, tb = a.get("config", {}).get("target"), b.get("config", {}).get("target")
    if ta != tb:
        problems.append(f"length target: {ta} vs {tb}")
    if problems:
        raise SignatureMismatch(f"runs {a.get('run_id', '?')} and {b.get('run_id', '?')} were not scored the same way: "
                                + "; ".join(problems) + ". Re-score one with the other's metric settings.")
