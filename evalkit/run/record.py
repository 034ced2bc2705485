"""A stored run: its typed manifest, tidy scores, summaries and facts, read by every view and by the gate.

The manifest (:class:`~evalkit.run.schema.RunManifest`) says what each metric instance produced:
``run.manifest.metrics`` maps an instance key (``rouge``, ``bertscore``, ``bertscore_src``) to its
kind, config, signature and the :class:`~evalkit.core.types.Measure` of every value it wrote.
Views and the gate read labels, scales and directions from there (:meth:`Run.measures`), never
by building a metric, and per-summary facts, details and targets through :meth:`Run.info`,
:meth:`Run.details` and :meth:`Run.target_of`, never by decoding text.

Runs written by older versions are read through the upgrades of :mod:`evalkit.run.schema`,
once, when the run is opened.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.core.errors import DataError, SignatureMismatch
from evalkit.core.fingerprint import document_hash
from evalkit.core.types import Document, LengthTarget, Measure, ScoreRow, Summary
from evalkit.run.schema import (MANIFEST_VERSION, Fact, RunManifest, as_target_value,
                                details_from_text, empty_facts, facts_frame, facts_from_notes, upgrade_manifest)

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("document_id", "system", "metric", "value", "note")
SAMPLE_COLUMNS = ("document_id", "system", "sample", "metric", "value", "note")
"""The columns of ``scores.csv`` and :attr:`Run.sample_scores`: one row per sample."""
KEYS = ["document_id", "system", "metric"]
SUMMARY_COLUMNS = ("document_id", "system", "sample", "text", "error", "seconds", "fingerprint", "target", "details")
FACTS_FILE = "facts.jsonl"
"""One :class:`~evalkit.run.schema.Fact` per line (since manifest version 3)."""
SOURCES_FILE = "sources.jsonl"
"""The run's source documents, one per line: ``document_id``, ``hash`` (:func:`~evalkit.core.fingerprint.document_hash`,
the manifest's ``data.document_hashes`` entry), ``text`` and ``references``. Runs written before it have none."""
LATEST = "LATEST"
"""The file in an output folder that names its latest run folder (a plain name, one line)."""

__all__ = ["Run", "RunManifest", "Fact", "SignatureMismatch", "check_comparable", "upgrade_manifest",
           "MANIFEST_VERSION"]


@dataclass
class Run:
    """A finished run: its directory, manifest, tidy scores, summaries and facts.

    ``manifest`` may be given as a mapping of any version: it is upgraded to a
    :class:`RunManifest`. Old ``<key>_info`` rows in ``scores`` are moved into ``facts``.
    """

    run_dir: Path
    manifest: RunManifest
    scores: pd.DataFrame
    """One row per (document, system, value): document_id, system, metric, value, note. With ``samples: k``,
    the value is the mean over the document's samples (undefined ones left out) and the note the first
    sample's: documents stay the unit of every table, ranking and gate. Given with a ``sample`` column
    (one row per sample), it is read as :attr:`sample_scores` and averaged."""
    summaries: pd.DataFrame
    """One row per (document, system, sample): text, error, seconds, fingerprint, target (object), details (object)."""
    facts: pd.DataFrame = field(default_factory=empty_facts)
    """One row per (document, system, sample, metric instance) that recorded facts: document_id, system, sample,
    metric, info."""
    sample_scores: pd.DataFrame = field(init=False, repr=False)
    """One row per (document, system, sample, value): document_id, system, sample, metric, value, note
    (sample 0 only, for a run without samples and for runs written before samples existed)."""
    _sources: dict[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    """``sources.jsonl`` by document id, read on the first :meth:`source` call."""

    def __post_init__(self) -> None:
        self.manifest = RunManifest.load(self.manifest)
        scores, old_facts = facts_from_notes(self.scores)
        self.sample_scores, self.scores = _per_sample_and_document(scores)
        if len(old_facts):
            self.facts = pd.concat([self.facts, old_facts], ignore_index=True) if len(self.facts) else old_facts
        summaries = self.summaries
        if "details" in summaries.columns and any(isinstance(d, str) for d in summaries["details"]):
            summaries = summaries.assign(details=[details_from_text(d) for d in summaries["details"]])  # version 2
        if "target" in summaries.columns and any(isinstance(t, str) for t in summaries["target"]):
            summaries = summaries.assign(target=[_target_dict(t) for t in summaries["target"]])  # version 2
        if "sample" not in summaries.columns or summaries["sample"].isna().any():
            summaries = summaries.assign(sample=summaries.get("sample", pd.Series(0, index=summaries.index)))
            summaries["sample"] = summaries["sample"].fillna(0)
        self.summaries = summaries.astype({"sample": int})

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @classmethod
    def create(cls, output_dir: Path, name: str, manifest: RunManifest, rows: list[ScoreRow],
               summaries: list[Summary], target_of: Mapping[str, LengthTarget], facts: Sequence[Fact] = (),
               documents: Sequence[Document] = ()) -> Run:
        """Write a new run folder under ``output_dir`` (and point ``LATEST`` at it); ``documents``: the sources,
        recorded in :data:`SOURCES_FILE` so a viewer can show each article beside its summaries."""
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
        manifest = RunManifest.load(manifest).model_copy(update={"run_id": run_dir.name})
        scores = pd.DataFrame([(r.document_id, r.system, r.sample, r.metric, r.value, r.note) for r in rows],
                              columns=list(SAMPLE_COLUMNS))
        summary_frame = pd.DataFrame([{
            "document_id": s.document_id, "system": s.system, "sample": s.sample, "text": s.text, "error": s.error,
            "seconds": s.seconds, "fingerprint": s.fingerprint, "target": target_of[s.document_id].to_dict(),
            "details": dict(s.details),
        } for s in summaries], columns=list(SUMMARY_COLUMNS))
        fact_records = [f.model_dump(mode="json") for f in facts]
        scores.to_csv(run_dir / "scores.csv", index=False)
        _write_jsonl(run_dir / "summaries.jsonl", summary_frame.to_dict(orient="records"))
        _write_jsonl(run_dir / FACTS_FILE, fact_records)
        if documents:
            _write_jsonl(run_dir / SOURCES_FILE, [{"document_id": d.id, "hash": document_hash(d.text, d.references),
                                                   "text": d.text, "references": list(d.references)}
                                                  for d in documents])
        (run_dir / "manifest.json").write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False),
                                               encoding="utf-8")
        _point_latest(output_dir, run_dir.name)
        return cls(run_dir, manifest, scores, summary_frame, facts_frame(fact_records))

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Open a run directory (or ``runs/`` itself, meaning its latest run), of any version."""
        path = Path(path)
        if (path / LATEST).exists() and not (path / "manifest.json").exists():
            path = path / _latest_name(path)
        if not (path / "manifest.json").exists():
            raise FileNotFoundError(f"{path}: not a run directory (no manifest.json); pass a folder under runs/")
        manifest = RunManifest.load(json.loads((path / "manifest.json").read_text(encoding="utf-8")))
        scores = pd.read_csv(path / "scores.csv", dtype={"document_id": str, "system": str, "metric": str,
                                                         "note": "string"})  # a "sample" column since samples: k
        scores["note"] = scores["note"].astype(object).where(scores["note"].notna(), None)
        summaries = pd.DataFrame(_read_jsonl(path / "summaries.jsonl"))
        summaries = summaries.reindex(columns=list(dict.fromkeys([*SUMMARY_COLUMNS, *summaries.columns])))
        summaries["document_id"] = summaries["document_id"].astype(str)
        facts_path = path / FACTS_FILE
        facts = facts_frame(_read_jsonl(facts_path)) if facts_path.exists() else empty_facts()
        return cls(path, manifest, scores, summaries, facts)

    def info(self, document_id: str, system: str, metric: str) -> dict[str, Any]:
        """What metric instance ``metric`` recorded about one summary (its ``MetricResult.info``), or {}."""
        rows = self.facts[(self.facts["document_id"] == str(document_id)) & (self.facts["system"] == system)
                          & (self.facts["metric"] == metric)]
        return dict(rows["info"].iloc[0]) if len(rows) else {}

    def source(self, document_id: str) -> str | None:
        """The source text of a document as the run recorded it; ``None`` when the run did not record its sources
        (runs written before :data:`SOURCES_FILE`), has no such document, or the recorded text and references are
        not those the manifest hashed (an edited file)."""
        entry = self._source_entry(document_id)
        return None if entry is None else entry["text"]

    def references(self, document_id: str) -> list[str]:
        """The reference summaries of a document as the run recorded them (empty when not recorded)."""
        entry = self._source_entry(document_id)
        return [] if entry is None else [str(r) for r in entry.get("references") or []]

    def records_sources(self) -> bool:
        """Whether this run recorded its source documents (:data:`SOURCES_FILE`)."""
        return (self.run_dir / SOURCES_FILE).is_file()

    def _source_entry(self, document_id: str) -> dict[str, Any] | None:
        if self._sources is None:
            path = self.run_dir / SOURCES_FILE
            self._sources = {str(r["document_id"]): r for r in _read_jsonl(path)} if path.is_file() else {}
        entry = self._sources.get(str(document_id))
        if entry is None or not isinstance(entry.get("text"), str):
            return None
        expected = (self.manifest.data.document_hashes or {}).get(str(document_id)) or entry.get("hash")
        if document_hash(entry["text"], [str(r) for r in entry.get("references") or []]) != expected:
            log.warning("run %s: the recorded source of document %r is not the text the run hashed; not shown",
                        self.run_id, document_id)
            return None
        return entry

    def details(self, document_id: str, system: str) -> dict[str, Any]:
        """A summary's details (tokens, cost, truncation, ``short_source``...), or {} for no such summary."""
        rows = self.summaries[(self.summaries["document_id"] == str(document_id))
                              & (self.summaries["system"] == system)]
        return dict(rows["details"].iloc[0]) if len(rows) else {}

    def target_of(self, document_id: str) -> LengthTarget:
        """The length target a document's summaries were asked for (the run's target if it has no summary)."""
        rows = self.summaries[self.summaries["document_id"] == str(document_id)]
        target = as_target_value(rows["target"].iloc[0]) if len(rows) else None
        return target or self.manifest.config.target or LengthTarget()

    def targets(self) -> dict[str, LengthTarget]:
        """Document id -> its length target, for every document with a summary."""
        first = self.summaries.drop_duplicates("document_id")
        return {str(d): as_target_value(t) or LengthTarget() for d, t in zip(first["document_id"], first["target"])}

    def measures(self) -> dict[str, Measure]:
        """Value name -> :class:`Measure` for every value this run's metrics declared."""
        return self.manifest.measures()

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
        """The tidy rows, values as floats (NaN: undefined)."""
        frame = self.scores.copy()
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
        order = self.manifest.system_order() or list(table.index)
        table = table.reindex([s for s in order if s in set(frame["system"])])
        if metrics is not None:
            table = table.reindex(columns=list(metrics))  # a metric no summary could be scored on stays, as NaN
        return table


def check_comparable(a: RunManifest, b: RunManifest) -> None:
    """Raise :class:`SignatureMismatch` unless two run manifests scored the same metrics the same way."""
    a, b = RunManifest.load(a), RunManifest.load(b)
    problems = []
    for key in sorted(set(a.metrics) | set(b.metrics)):
        sig_a = a.metrics[key].signature if key in a.metrics else None
        sig_b = b.metrics[key].signature if key in b.metrics else None
        if sig_a != sig_b:
            problems.append(f"metric {key!r}: {sig_a or 'not scored'} vs {sig_b or 'not scored'}")
    ta, tb = a.config.target, b.config.target
    if ta != tb:
        problems.append(f"length target: {ta.describe() if ta else None} vs {tb.describe() if tb else None}")
    if problems:
        raise SignatureMismatch(f"runs {a.run_id or '?'} and {b.run_id or '?'} were not scored the same way: "
                                + "; ".join(problems) + ". Re-score one with the other's metric settings.")


def _per_sample_and_document(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(one row per sample, one row per document)`` from a scores frame with or without a ``sample`` column.

    Without samples above 0 the per-document frame is the given one (less its ``sample`` column), rows
    and types untouched; with them, each (document, system, metric) keeps its first sample's row, its
    value replaced by the mean of the defined values over the samples (NaN when none is defined).
    """
    if "sample" not in scores.columns:
        return scores.assign(sample=0).reindex(columns=_ordered(scores.columns)), scores
    scores = scores.assign(sample=scores["sample"].fillna(0).astype(int))
    by_sample = scores.reindex(columns=_ordered(scores.columns))
    if not len(scores) or scores["sample"].max() == 0:
        return by_sample, scores.drop(columns="sample")
    values = pd.to_numeric(scores["value"], errors="coerce")
    means = values.groupby([scores[k] for k in KEYS], sort=False, dropna=False).mean()
    first = scores.sort_values("sample", kind="stable").drop_duplicates(KEYS).drop(columns="sample")
    first["value"] = means.reindex(pd.MultiIndex.from_frame(first[KEYS])).to_numpy()
    if "note" in first.columns:
        first["note"] = first["note"].astype(object).where(first["note"].notna(), None)
    return by_sample, first.reset_index(drop=True)


def _ordered(columns: Sequence[str]) -> list[str]:
    """The columns of a per-sample frame: :data:`SAMPLE_COLUMNS` first, then any others as they were."""
    return [*SAMPLE_COLUMNS, *(c for c in columns if c not in SAMPLE_COLUMNS)]


def _point_latest(output_dir: Path, name: str) -> None:
    """Make ``output_dir/LATEST`` a regular file holding ``name``, atomically: a new file renamed over it, so
    a reader never sees half a name and a symlink there is replaced, never written through."""
    temporary = output_dir / f".{LATEST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # O_EXCL: never through a link
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(name + "\n")
        os.replace(temporary, output_dir / LATEST)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _latest_name(folder: Path) -> str:
    """The run folder ``folder/LATEST`` names: only a plain folder name inside ``folder`` is accepted."""
    name = (folder / LATEST).read_text(encoding="utf-8").strip()
    if not name or name in (".", "..") or name != Path(name).name or (os.altsep and os.altsep in name) \
            or any(ord(c) < 32 for c in name):
        shown = name if len(name) <= 200 else name[:200] + "…"
        raise DataError(f"{folder / LATEST} must hold the name of a run folder inside {folder}, not {shown!r}; "
                        f"pass the run folder itself (such as {folder}/<name>-<date>), or delete {LATEST} and re-run")
    return name


def _write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, float) or hasattr(value, "item"):  # numpy scalars
        return value.item() if hasattr(value, "item") else value
    return str(value)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _target_dict(value: Any) -> dict[str, Any] | None:
    target = as_target_value(value)
    return None if target is None else target.to_dict()
