"""The run folder's schema: a typed, versioned manifest and the upgrades that read older runs.

A run folder holds ``manifest.json`` (a :class:`RunManifest`), ``scores.csv`` (one numeric row
per document, system and value), ``summaries.jsonl`` (one row per document and system, its
``details`` and ``target`` as JSON objects) and ``facts.jsonl`` (one :class:`Fact` per
document, system and metric instance that recorded any: unsupported entities, numbers,
claims). Everything evalkit itself reads is a typed field here; keys a later version adds
are kept (``extra="allow"``), not refused. The model follows inspect_ai's ``EvalLog``.

Versions, and the upgrade that reads each (applied in a chain when a run is opened):

- 1 (before a6b5edf..): ``metrics: {kind: signature}``. :func:`upgrade_manifest` rebuilds the
  measures from the run's own metric config.
- 2 (up to f113411): ``metrics: {key: {kind, config, signature, measures}}``; facts travelled as
  JSON text in the note of ``<key>_info`` score rows, ``details`` as JSON text and the target as
  :meth:`LengthTarget.key` text. :func:`facts_from_notes`, :func:`details_from_text` and
  :func:`target_from_key` recover them.
- 3: this module's models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evalkit.core.types import LengthTarget, Measure

log = logging.getLogger(__name__)

MANIFEST_VERSION = 3
"""3: typed manifest, facts in ``facts.jsonl``, details and targets as objects; 2: metric instances; 1: ``{kind: signature}``."""
INFO_SUFFIX = "_info"
"""Version 2 wrote a metric instance's facts as a score row named ``<key>_info``."""
FACT_COLUMNS = ("document_id", "system", "sample", "metric", "info")

__all__ = ["MANIFEST_VERSION", "RunManifest", "SystemEntry", "MetricEntry", "DataIdentity", "RunConfig", "Counts",
           "ExecutorInfo", "Fact", "upgrade_manifest", "facts_from_notes", "details_from_text", "target_from_key",
           "as_target_value"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class SystemEntry(_Model):
    """One summarizer of the run, as it was built."""

    kind: str
    """The registry kind (``lead``, ``hf-seq2seq``, ``openai``...)."""
    fingerprint: str | None = None
    """What its summaries depend on: two systems with one fingerprint give the same summaries."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """The settings the fingerprint was made of (no credentials)."""
    samples: int = 1
    """Replies per document (``samples: k``); 1 in runs without samples and in older runs."""
    samples_computed: int | None = None
    """How many of them were generated per document: ``samples``, or 1 for a system that does not sample
    (the others are copies of sample 0, marked ``copy_of_sample`` in their details); None without samples."""
    seeds: str | None = None
    """How sample ``i`` of a document was seeded, in words (:meth:`Summarizer.seed_policy`); None without samples."""


class MetricEntry(_Model):
    """One metric instance of the run: how it was configured and what values it wrote."""

    kind: str
    """The registry kind (``rouge``, ``bertscore``, ``llm-judge``...)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The spec it was built from, as the config gave it."""
    signature: str | None = None
    """How it scores: two runs are comparable on it only when the signatures are equal."""
    measures: tuple[Measure, ...] = ()
    """Every value it writes; empty for an old metric that could not be rebuilt."""

    @model_validator(mode="before")
    @classmethod
    def _measures_of_their_kind(cls, data: Any) -> Any:
        """A measure written before measures had groups gets its metric kind's group (Measure.from_dict)."""
        if isinstance(data, Mapping) and isinstance(data.get("measures"), (list, tuple)):
            kind = data.get("kind")
            data = {**data, "measures": [Measure.from_dict(m, kind) if isinstance(m, Mapping) else m
                                         for m in data["measures"]]}
        return data


class DataIdentity(_Model):
    """Which documents the run was made on."""

    spec: dict[str, Any] | None = None
    """The data spec (path or hub dataset, split, limit, columns...)."""
    n_documents: int | None = None
    documents: str | None = None
    """Digest of every (id, document hash) pair, in run order."""
    document_hashes: dict[str, str] | None = None
    """Document id -> hash of its text and references; ``None`` in runs that did not record them."""
    cleaning: dict[str, Any] | None = None
    """What text cleaning changed, per kind of change."""

    @property
    def ids(self) -> list[str]:
        """The document ids in run order (empty when the run did not record its hashes)."""
        return list(self.document_hashes or {})


class RunConfig(_Model):
    """The experiment as configured (``Experiment.to_dict``), credentials redacted; ``samples`` (an extra key)
    only when the experiment set one for all its systems (each system's count is in :class:`SystemEntry`)."""

    name: str | None = None
    seed: int = 0
    data: dict[str, Any] | None = None
    target: LengthTarget | None = None
    """The run's length target; a document's own target (from its instruction) takes precedence."""
    systems: list[dict[str, Any]] = Field(default_factory=list)
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    batch_size: int | None = None
    output_dir: str | None = None
    store: str | None = None


class Counts(_Model):
    """What the run computed and what it took from the store."""

    summaries_computed: int = 0
    summaries_cached: int = 0
    summaries_failed: int = 0
    summaries_copied: int = 0
    """Samples recorded as copies of sample 0, for systems that do not sample (not generated, not from the store)."""
    scores_computed: int = 0
    scores_cached: int = 0


class ExecutorInfo(_Model):
    """Where the run's chunks ran."""

    name: str = "local"
    ray_address: str | None = None


class RunManifest(_Model):
    """What a run was: its systems, metric instances, data, settings and provenance."""

    manifest_version: int = MANIFEST_VERSION
    run_id: str | None = None
    """The run folder's name; set when the folder is made."""
    name: str | None = None
    created: str | None = None
    """ISO 8601 local time the run finished."""
    config: RunConfig = Field(default_factory=RunConfig)
    seed: int = 0
    git_commit: str | None = None
    python: str | None = None
    platform: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    """Package -> installed version, for the packages a score may depend on."""
    systems: dict[str, SystemEntry] = Field(default_factory=dict)
    """System name -> entry, in config order."""
    metrics: dict[str, MetricEntry] = Field(default_factory=dict)
    """Instance key (``rouge``, ``bertscore_src``) -> entry, in config order."""
    metric_signature: str | None = None
    """Digest of every instance's signature."""
    data: DataIdentity = Field(default_factory=DataIdentity)
    executor: ExecutorInfo = Field(default_factory=ExecutorInfo)
    counts: Counts = Field(default_factory=Counts)
    seconds: float | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    """``summarize:<system>`` / ``score:<metric>`` -> seconds."""

    @classmethod
    def load(cls, data: Mapping[str, Any] | RunManifest) -> RunManifest:
        """A manifest of any version, upgraded to this one; a malformed one raises ValueError saying which field."""
        if isinstance(data, RunManifest):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"a run manifest is a JSON object, got {type(data).__name__}")
        upgraded = upgrade_manifest(data)
        upgraded["manifest_version"] = MANIFEST_VERSION
        try:
            return cls.model_validate(upgraded)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"run {data.get('run_id', '?')}: manifest field {where}: {first['msg']} "
                             f"({exc.error_count()} problem(s)); re-run the experiment to rewrite it") from None

    def to_json(self) -> dict[str, Any]:
        """The manifest as ``manifest.json`` holds it."""
        return self.model_dump(mode="json", fallback=str)  # a setting no JSON type fits is kept as its text

    def measures(self) -> dict[str, Measure]:
        """Value name -> :class:`Measure`, for every value the run's metrics declared."""
        out: dict[str, Measure] = {}
        for entry in self.metrics.values():
            for measure in entry.measures:
                out.setdefault(measure.name, measure)
        return out

    def instance_of(self, name: str) -> str | None:
        """The key of the metric instance that wrote value ``name``, or ``None``."""
        for key, entry in self.metrics.items():
            if any(m.name == name for m in entry.measures):
                return key
        return None

    def kind_of(self, system: str) -> str | None:
        """The registry kind of a system, or ``None`` for a system the manifest does not list."""
        entry = self.systems.get(system)
        return entry.kind if entry else None

    def is_upper_bound(self, system: str) -> bool:
        """True for an oracle: it reads the references, so it is an upper bound, not a competitor."""
        return self.kind_of(system) == "oracle"

    def upper_bounds(self) -> list[str]:
        """The systems that are upper bounds (:meth:`is_upper_bound`), in manifest order."""
        return [name for name in self.systems if self.is_upper_bound(name)]

    def system_order(self) -> list[str]:
        """System names in config order (from the config when the manifest lists none)."""
        return list(self.systems) or [s.get("name") or s.get("kind") for s in self.config.systems]


class Fact(_Model):
    """What one metric instance recorded about one summary, beyond its values."""

    document_id: str
    system: str
    metric: str
    """The metric instance key (``entities``, ``judge``)."""
    sample: int = 0
    """Which of the system's replies (``samples: k``) it is about; 0 in runs without samples."""
    info: dict[str, Any]
    """The metric's :attr:`MetricResult.info` (e.g. ``{"unsupported_entities": [...]}``)."""


# -- upgrades --------------------------------------------------------------------------------------

def upgrade_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A version-1 manifest as version 2 (other versions unchanged): its metric entries rebuilt.

    Version 1 stored ``{kind: signature}``. Its measures are recovered from the run's metric
    config (constructors load no model); a metric that cannot be rebuilt here keeps its
    signature and gets no measures (views then show its raw value names).
    """
    manifest = dict(manifest)
    metrics = manifest.get("metrics") or {}
    if all(isinstance(v, Mapping) for v in metrics.values()):
        manifest.setdefault("manifest_version", 2)
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
    manifest["manifest_version"] = 2
    return manifest


def facts_from_notes(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Version 2's ``<key>_info`` score rows taken out of ``scores`` and read back as facts.

    Returns the scores without those rows and a facts frame (document_id, system, metric, info).
    A note that is not a JSON object is logged and dropped.
    """
    if "metric" not in scores.columns:
        return scores, empty_facts()
    is_info = scores["metric"].astype(str).str.endswith(INFO_SUFFIX)
    if not is_info.any():
        return scores, empty_facts()
    facts, bad = [], 0
    for row in scores.loc[is_info].itertuples(index=False):
        try:
            info = json.loads(row.note) if isinstance(row.note, str) else None
        except json.JSONDecodeError:
            info = None
        if not isinstance(info, dict):
            bad += 1
            continue
        facts.append({"document_id": str(row.document_id), "system": str(row.system),
                      "metric": str(row.metric)[:-len(INFO_SUFFIX)], "info": info})
    if bad:
        log.warning("%d *_info note(s) of an old run are not JSON objects; their facts are left out", bad)
    return scores.loc[~is_info].reset_index(drop=True), facts_frame(facts)


def details_from_text(value: Any) -> dict[str, Any]:
    """A summary's details as version 2 stored them (JSON text) or as an object, as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def target_from_key(key: str) -> LengthTarget:
    """Version 2's ``LengthTarget.key()`` text (``"words=60,bound=about"``, ``"none"``) as a target."""
    fields: dict[str, Any] = {}
    if key and key != "none":
        for part in key.split(","):
            name, _, raw = part.partition("=")
            name, raw = name.strip(), raw.strip()
            if name in ("words", "sentences", "paragraphs"):
                fields[name] = int(raw)
            elif name == "bound":
                fields[name] = raw
            else:
                raise ValueError(f"target {key!r}: unknown part {part!r}; expected words=, sentences=, "
                                 "paragraphs= or bound=")
    return LengthTarget(**fields)


def as_target_value(value: Any) -> LengthTarget | None:
    """A summary row's target (an object, or version 2's key text) as a :class:`LengthTarget`; None if absent."""
    if isinstance(value, LengthTarget):
        return value
    if isinstance(value, Mapping):
        return LengthTarget(**{k: v for k, v in value.items() if k in LengthTarget.__dataclass_fields__})
    if isinstance(value, str):
        return target_from_key(value)
    return None


def empty_facts() -> pd.DataFrame:
    return pd.DataFrame(columns=list(FACT_COLUMNS))


def facts_frame(facts: list[Mapping[str, Any]]) -> pd.DataFrame:
    """A tidy facts frame (document_id, system, metric, info) from fact records."""
    if not facts:
        return empty_facts()
    frame = pd.DataFrame([{c: f.get(c, 0) if c == "sample" else f[c] for c in FACT_COLUMNS} for f in facts],
                         columns=list(FACT_COLUMNS))
    for column in ("document_id", "system", "metric"):
        frame[column] = frame[column].astype(str)
    frame["sample"] = frame["sample"].fillna(0).astype(int)
    return frame
