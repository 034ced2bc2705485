"""Human labels in the run store, keyed by content, and what they mean for one run.

A label is one annotator's answers to one rubric version about one summary (``pointwise``) or
about two summaries of the same document (``pairwise``). Its key is the document's hash, the
summary text's hash (pairwise: both, in hash order), the rubric version, the annotator and the
kind, so the same judgment given again replaces itself (upsert), two annotators or two viewers
on one store never collide, a killed server loses at most the label in flight, and a re-run
that writes the same summaries keeps their labels. Labels live in the ``labels`` table of the
run store (:mod:`evalkit.run.store`, migration 4); each rubric version is kept in ``rubrics``
so old labels can still be read against the questions they answered.

Against a run (:func:`label_status`), a label is *current* when its document and summary text
are in the run, *stale* when the run's summary for that document and system has changed since
(shown, never reused), and *missing* when the run no longer has that summary: reported in one
line, kept in the store, never dropped.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.core.errors import ConfigError, DataError
from evalkit.core.fingerprint import canonical_json, digest
from evalkit.inputs.annotated import Item
from evalkit.inputs.human_rubric import HumanRubric
from evalkit.run.record import Run
from evalkit.run.store import Store

log = logging.getLogger(__name__)

KINDS = ("pointwise", "pairwise")
TIE = "tie"
"""A pairwise answer that prefers neither summary (otherwise the answer is the preferred summary's hash)."""


def text_hash(text: str) -> str:
    """The content hash of a summary's text."""
    return digest({"summary": text}, 32)


@dataclass(frozen=True)
class Label:
    """One annotator's answers about one summary (or one pair of summaries) under one rubric version."""

    document_hash: str
    """The document's content hash (the run manifest's ``document_hashes``)."""
    summary_hash: str
    """:func:`text_hash` of the summary; pairwise: the two hashes in sorted order joined by ``+``."""
    rubric_version: str
    annotator: str
    kind: str
    """``pointwise`` or ``pairwise``."""
    answers: Mapping[str, Any]
    """Question name -> answer (yes/no as a bool, a scale point, a comment, a list of ``{start, end, text}``
    spans; pairwise: the preferred summary's hash or ``tie``)."""
    run_id: str = ""
    """The run it was given in (information only: not part of the key)."""
    document_id: str = ""
    systems: tuple[str, ...] = ()
    """The system(s) whose summary was shown, in :attr:`summary_hash` order (information only)."""
    created: float = 0.0
    """When the key was first labelled (kept by an upsert)."""
    updated: float = 0.0
    """When the answers were last written."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"a label's kind is one of {', '.join(KINDS)}, not {self.kind!r}")
        if not self.annotator.strip():
            raise ConfigError("a label needs an annotator name")

    @property
    def key(self) -> str:
        """The content key an upsert replaces by."""
        return digest({"document": self.document_hash, "summary": self.summary_hash, "rubric": self.rubric_version,
                       "annotator": self.annotator, "kind": self.kind}, 32)

    @property
    def summary_hashes(self) -> tuple[str, ...]:
        return tuple(self.summary_hash.split("+"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (one line of the JSONL export)."""
        out = asdict(self)
        out["answers"], out["systems"] = dict(self.answers), list(self.systems)
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Label:
        """The inverse of :meth:`to_dict`; a missing field is a one-line :class:`DataError`."""
        try:
            return cls(str(record["document_hash"]), str(record["summary_hash"]), str(record["rubric_version"]),
                       str(record["annotator"]), str(record["kind"]), dict(record["answers"]),
                       str(record.get("run_id", "")), str(record.get("document_id", "")),
                       tuple(str(s) for s in record.get("systems", ())), float(record.get("created", 0.0)),
                       float(record.get("updated", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a label record ({type(exc).__name__}: {exc}); a label has document_hash, "
                            "summary_hash, rubric_version, annotator, kind and answers") from exc


def pair_hash(first: str, second: str) -> str:
    """The summary key of a pair: both hashes in sorted order (A/B order never changes the key)."""
    return "+".join(sorted((first, second)))


# -- storage -----------------------------------------------------------------------------------------------------
class LabelStore:
    """Labels and rubric versions in a run store (:class:`~evalkit.run.store.Store`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def put(self, labels: Iterable[Label], *, keep_times: bool = False) -> int:
        """Upsert labels by key in one transaction (the first ``created`` is kept); returns how many were written.

        ``keep_times``: write the labels' own ``created``/``updated`` (an import), instead of now.
        """
        now = time.time()
        rows = [(label.key, label.document_hash, label.summary_hash, label.rubric_version, label.annotator,
                 label.kind, label.run_id, label.document_id, canonical_json(list(label.systems)),
                 canonical_json(dict(label.answers)), label.created if keep_times else now,
                 label.updated if keep_times else now) for label in labels]
        with self.store.transaction() as db:
            db.executemany(
                "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "answers = excluded.answers, updated = excluded.updated, run_id = excluded.run_id, "
                "document_id = excluded.document_id, systems = excluded.systems"
                + (", created = excluded.created" if keep_times else ""), rows)
        return len(rows)

    def all(self, *, rubric_version: str | None = None, annotator: str | None = None) -> list[Label]:
        """Every stored label (optionally of one rubric version or annotator), oldest first."""
        where, params = [], []
        if rubric_version is not None:
            where.append("rubric_version = ?")
            params.append(rubric_version)
        if annotator is not None:
            where.append("annotator = ?")
            params.append(annotator)
        sql = ("SELECT document_hash, summary_hash, rubric_version, annotator, kind, run_id, document_id, systems, "
               "answers, created, updated FROM labels" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY created, key")
        return [Label(d, s, v, a, k, json.loads(ans), r, doc, tuple(json.loads(sy)), c, u)
                for d, s, v, a, k, r, doc, sy, ans, c, u in self.store.query(sql, params)]

    def save_rubric(self, rubric: HumanRubric) -> None:
        """Keep this rubric version's questions (once per version)."""
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO rubrics VALUES (?, ?, ?)",
                       (rubric.version, canonical_json(rubric.model_dump(mode="json")), time.time()))

    def rubrics(self) -> dict[str, HumanRubric]:
        """Every rubric version labels were given under, by version."""
        return {v: HumanRubric.model_validate(json.loads(d))
                for v, d in self.store.query("SELECT version, definition FROM rubrics ORDER BY created")}


# -- a run's items -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunItem:
    """One summary of a run that people can judge."""

    document_id: str
    system: str
    text: str
    document_hash: str
    summary_hash: str


def run_items(run: Run) -> list[RunItem]:
    """The run's summaries that were produced (no error, not empty), in document then system order."""
    hashes = run.manifest.data.document_hashes or {}
    order = {s: i for i, s in enumerate(run.manifest.system_order() or [])}
    documents = list(dict.fromkeys(hashes)) or list(dict.fromkeys(run.summaries["document_id"]))
    rank = {d: i for i, d in enumerate(documents)}
    items = []
    for row in run.summaries.itertuples(index=False):
        text = row.text if isinstance(row.text, str) else ""
        if not text.strip() or (isinstance(row.error, str) and row.error):
            continue
        doc = str(row.document_id)
        doc_hash = hashes.get(doc) or digest({"run": run.run_id, "document_id": doc}, 32)
        items.append(RunItem(doc, str(row.system), text, doc_hash, text_hash(text)))
    items.sort(key=lambda i: (rank.get(i.document_id, len(rank)), order.get(i.system, len(order)), i.system))
    return items


def pairs_of(items: Sequence[RunItem]) -> list[tuple[RunItem, RunItem]]:
    """Every pair of distinct summaries of the same document (systems in run order)."""
    by_doc: dict[str, list[RunItem]] = {}
    for item in items:
        by_doc.setdefault(item.document_id, []).append(item)
    return [(a, b) for group in by_doc.values() for i, a in enumerate(group) for b in group[i + 1:]
            if a.summary_hash != b.summary_hash]


def run_store(run: Run) -> Path:
    """The store a run was computed with: its manifest's ``store`` when that file exists, else ``store.sqlite``
    next to the run folder (the default ``<output_dir>/store.sqlite``)."""
    recorded = run.manifest.config.store
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    return run.run_dir.parent / "store.sqlite"


# -- assignment --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssignmentConfig:
    """Who labels what: every item to ``k`` annotators of a roster (or to everyone when there is no roster)."""

    k: int = 2
    """Annotators per item (only with a roster); with fewer names on the roster, every name gets every item."""
    seed: int = 0
    annotators: tuple[str, ...] = ()
    """The roster; empty: anyone may annotate and every annotator is given every item."""

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"assignment k must be a whole number of annotators per item (>= 1), not {self.k!r}")


def assigned(items: Sequence[Any], annotator: str, config: AssignmentConfig) -> list[Any]:
    """The items ``annotator`` is given, in this annotator's own seeded order (deterministic).

    With a roster of ``n`` names, the items are shuffled with ``seed`` and item ``i`` goes to roster
    positions ``i, i+1, ..., i+k-1`` (mod ``n``): each item to exactly ``min(k, n)`` annotators, the
    overlap spread evenly. Each annotator then sees their items in an order seeded by
    ``(seed, annotator)``, so position effects do not line up across annotators.
    """
    chosen = list(items)
    roster = list(config.annotators)
    if roster:
        if annotator not in roster:
            import difflib

            close = difflib.get_close_matches(annotator, roster, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the roster is {', '.join(roster)}"
            raise ConfigError(f"annotator {annotator!r} is not on this study's roster; {hint}")
        order = list(range(len(chosen)))
        random.Random(config.seed).shuffle(order)
        position, n = roster.index(annotator), len(roster)
        k = min(config.k, n)
        chosen = [chosen[index] for slot, index in enumerate(order) if (position - slot) % n < k]
    random.Random(digest({"seed": config.seed, "annotator": annotator})).shuffle(chosen)
    return chosen


# -- labels against a run ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelStatus:
    """A run's labels sorted into current, stale and missing."""

    current: tuple[Label, ...] = ()
    stale: tuple[Label, ...] = ()
    """Labels of a (document, system) whose summary text changed since: kept, not used."""
    missing: tuple[Label, ...] = ()
    """Labels given in this run (or on its documents) whose summary the run no longer has: kept, not used."""

    def messages(self, run_id: str) -> list[str]:
        """One line per kind of problem, naming a few of the labels concerned."""
        out = []
        if self.stale:
            out.append(f"{len(self.stale)} label(s) are stale: the summary text changed since they were given "
                       f"({_few(self.stale)}); kept under their old text, not counted")
        if self.missing:
            out.append(f"{len(self.missing)} label(s) are for summaries run {run_id} no longer has "
                       f"({_few(self.missing)}); kept in the store, not counted")
        return out


def _few(labels: Sequence[Label]) -> str:
    shown = [f"{label.document_id}/{'+'.join(label.systems)} by {label.annotator}" for label in labels[:3]]
    return ", ".join(shown) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")


def label_status(run: Run, labels: Iterable[Label]) -> LabelStatus:
    """Sort the labels that concern ``run`` (given in it, or on its documents) into current, stale and missing."""
    items = run_items(run)
    present = {(i.document_hash, i.summary_hash) for i in items}
    documents = {i.document_hash for i in items} | set((run.manifest.data.document_hashes or {}).values())
    shown = {(i.document_id, i.system) for i in items}
    current, stale, missing = [], [], []
    for label in labels:
        if label.run_id != run.run_id and label.document_hash not in documents:
            continue  # another run's documents: not this run's business
        if all((label.document_hash, h) in present for h in label.summary_hashes):
            current.append(label)
        elif any((label.document_id, s) in shown for s in label.systems):
            stale.append(label)
        else:
            missing.append(label)
    return LabelStatus(tuple(current), tuple(stale), tuple(missing))


def _by_content(run: Run) -> dict[tuple[str, str], list[RunItem]]:
    """(document hash, summary hash) -> the run's items with that text (several when systems wrote the same)."""
    out: dict[tuple[str, str], list[RunItem]] = {}
    for item in run_items(run):
        out.setdefault((item.document_hash, item.summary_hash), []).append(item)
    return out


def ratings_by_question(run: Run, labels: Sequence[Label], rubric: HumanRubric) -> dict[str, list[tuple]]:
    """Question -> ``[((document_id, system), annotator, number)]`` from the current pointwise labels of one
    rubric version (a summary shown under several systems counts once per system)."""
    by_key = _by_content(run)
    out: dict[str, list[tuple]] = {q.name: [] for q in rubric.rated}
    for label in labels:
        if label.kind != "pointwise" or label.rubric_version != rubric.version:
            continue
        for item in by_key.get((label.document_hash, label.summary_hash), []):
            for q in rubric.rated:
                value = q.number(label.answers.get(q.name))
                if value is not None:
                    out[q.name].append(((item.document_id, item.system), label.annotator, value))
    return out


def human_items(run: Run, labels: Sequence[Label], rubric: HumanRubric,
                metrics: Sequence[str] | None = None) -> tuple[list[Item], dict[str, list[float | None]]]:
    """Meta-eval input: one :class:`Item` per labelled summary, its human columns the mean label of each rated
    question, and the run's metric columns (every metric of the run, or ``metrics``)."""
    ratings = ratings_by_question(run, labels, rubric)
    means: dict[tuple[str, str], dict[str, float]] = {}
    for question, rows in ratings.items():
        grouped: dict[tuple[str, str], list[float]] = {}
        for item, _, value in rows:
            grouped.setdefault(item, []).append(value)
        for item, values in grouped.items():
            means.setdefault(item, {})[question] = float(np.mean(values))
    if not means:
        raise DataError(f"run {run.run_id}: no current labels under rubric {rubric.name!r} version "
                        f"{rubric.version}; label some summaries in `evalkit view` or import labels first")
    wide, names = _metric_table(run, metrics)
    texts = {(i.document_id, i.system): i.text for i in run_items(run)}
    keys = sorted(means, key=lambda k: (k[0], k[1]))
    items = [Item(document_id=d, system=s, summary=texts.get((d, s), ""), human=means[(d, s)]) for d, s in keys]
    columns = {m: [_value(wide, k, m) for k in keys] for m in names}
    return items, columns


def _metric_table(run: Run, metrics: Sequence[str] | None) -> tuple[Any, list[str]]:
    """The run's values indexed by (document_id, system), and the metric names asked for (default: every value
    defined somewhere); an unknown name is a one-line :class:`ConfigError`."""
    wide = run.wide().set_index(["document_id", "system"])
    names = list(metrics) if metrics is not None else [c for c in wide.columns if wide[c].notna().any()]
    unknown = [m for m in names if m not in wide.columns]
    if unknown:
        raise ConfigError(f"metric(s) {unknown} not in run {run.run_id}; it has {', '.join(wide.columns)}")
    return wide, names


def metric_values(run: Run, metrics: Sequence[str] | None = None) -> dict[str, dict[tuple[str, str], float | None]]:
    """Metric -> (document_id, system) -> the run's value (``None`` where undefined), for every metric of the run
    or ``metrics``: the metric side of the pairwise meta-eval."""
    wide, names = _metric_table(run, metrics)
    return {m: {(str(d), str(s)): _value(wide, (d, s), m) for d, s in wide.index} for m in names}


def pairwise_by_question(run: Run, labels: Sequence[Label], rubric: HumanRubric) -> dict[str, list[tuple]]:
    """Question -> ``[(document_id, system_a, system_b, annotator, score of a)]`` from the current pairwise labels
    of one rubric version: 1 when a's summary was preferred, 0 when b's, 1/2 for a tie (unanswered questions are
    left out); a summary shown under several systems counts once per system, as in :func:`ratings_by_question`."""
    by_key = _by_content(run)
    out: dict[str, list[tuple]] = {q.name: [] for q in rubric.rated}
    for label in labels:
        if label.kind != "pairwise" or label.rubric_version != rubric.version:
            continue
        first, second = label.summary_hashes
        for q in rubric.rated:
            answer = label.answers.get(q.name)
            score = 0.5 if answer == TIE else 1.0 if answer == first else 0.0 if answer == second else None
            if score is None:
                continue
            for a in by_key.get((label.document_hash, first), []):
                for b in by_key.get((label.document_hash, second), []):
                    out[q.name].append((a.document_id, a.system, b.system, label.annotator, score))
    return out


def _value(wide: Any, key: tuple[str, str], metric: str) -> float | None:
    try:
        value = wide.at[key, metric]
    except KeyError:
        return None
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


# -- JSONL -------------------------------------------------------------------------------------------------------
def write_jsonl(labels: Iterable[Label], path: str | Path) -> int:
    """One label per line, in a stable order; returns the count."""
    lines = [canonical_json(label.to_dict()) for label in sorted(labels, key=lambda lab: (lab.created, lab.key))]
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def read_jsonl(path: str | Path) -> list[Label]:
    """Labels from a JSONL file; a bad line is a one-line :class:`DataError` naming it."""
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Label.from_dict(json.loads(line)))
        except (json.JSONDecodeError, DataError, ConfigError) as exc:
            raise DataError(f"{path}:{number}: {exc}") from exc
    return out


@dataclass(frozen=True)
class Study:
    """An annotation study's settings, from ``annotation.yaml`` in the runs folder (all optional)."""

    rubric: str = "default"
    """A built-in human rubric name or a path (relative to the runs folder)."""
    assignment: AssignmentConfig = field(default_factory=AssignmentConfig)

    @classmethod
    def load(cls, root: Path) -> Study:
        """The study of the runs folder ``root`` (defaults when there is no ``annotation.yaml``)."""
        path = root / "annotation.yaml"
        if not path.is_file():
            return cls()
        import yaml

        from evalkit.core import yamlsafe

        try:
            data = yamlsafe.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:160]})") from exc
        known = {"rubric", "k", "seed", "annotators"}
        if not isinstance(data, dict) or set(data) - known:
            raise ConfigError(f"{path}: a mapping with keys {', '.join(sorted(known))}")
        rubric = str(data.get("rubric", "default"))
        if "/" in rubric or rubric.endswith((".yaml", ".yml")):
            rubric = str((root / rubric).resolve())
        names = data.get("annotators") or ()
        return cls(rubric, AssignmentConfig(data.get("k", 2), int(data.get("seed", 0)),
                                            tuple(str(n) for n in names)))


def judge_columns(run: Run, rubric: HumanRubric) -> dict[str, str]:
    """Rubric question -> the run's LLM-judge value that answers the same question (``judge_coherence`` for
    ``coherence``: a judge criterion of the same name), for placing the judge among the annotators."""
    out: dict[str, str] = {}
    for entry in run.manifest.metrics.values():
        if entry.kind != "llm-judge":
            continue
        for measure in entry.measures:
            for q in rubric.rated:
                if measure.name.endswith(f"_{q.name}") and q.name not in out:
                    out[q.name] = measure.name
    return out


def judge_ratings(run: Run, rubric: HumanRubric) -> dict[str, list[tuple]]:
    """Question -> ``[((document_id, system), judge value name, value)]`` for the questions a judge answered;
    a yes/no question takes the judge's value as yes when it is at least half its scale."""
    wide = run.wide()
    out: dict[str, list[tuple]] = {}
    for question, column in judge_columns(run, rubric).items():
        q = rubric.question(question)
        rows = []
        for document_id, system, value in zip(wide["document_id"], wide["system"], wide[column]):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            rows.append(((str(document_id), str(system)), column, 1.0 if q.kind == "yesno" and value >= 0.5
                         else 0.0 if q.kind == "yesno" else float(value)))
        out[question] = rows
    return out
