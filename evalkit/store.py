"""A SQLite store of summaries and scores, keyed by content.

A summary's key covers the strategy's fingerprint, the document's text (and references, for
strategies that read them) and the length target; a score's key covers the metric's
signature, the document, the summary text and the target. So a re-run computes only what is
missing, a run killed halfway resumes where it stopped, and renaming a system or re-ordering
documents recomputes nothing.

Every write is committed at once (WAL journal), so a crash or SIGKILL loses at most the item
in flight. The store is safe to use from several threads of one process. Schema changes are
numbered migrations recorded in ``PRAGMA user_version`` (as in ``simonw/llm``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evalkit.fingerprint import canonical_json, digest
from evalkit.types import Candidate, MetricResult, Request, Summary

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE summaries (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        document_hash TEXT NOT NULL,
        target TEXT NOT NULL,
        text TEXT NOT NULL,
        error TEXT,
        seconds REAL NOT NULL,
        details TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE scores (
        key TEXT PRIMARY KEY,
        signature TEXT NOT NULL,
        vals TEXT NOT NULL,
        notes TEXT NOT NULL,
        info TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        manifest TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE artifacts (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    );
    """,
)


def document_hash(text: str, references: Sequence[str] = ()) -> str:
    return digest({"text": text, "references": list(references)}, 32)


def summary_key(fingerprint: str, request: Request, *, uses_references: bool = False) -> str:
    doc = request.document
    return digest({
        "fingerprint": fingerprint,
        "document": document_hash(doc.text, doc.references if uses_references else ()),
        "target": request.target.key(),
    }, 32)


def score_key(signature: str, candidate: Candidate) -> str:
    doc = candidate.document
    return digest({
        "signature": signature,
        "document": document_hash(doc.text, doc.references),
        "summary": candidate.text,
        "target": candidate.target.key(),
    }, 32)


class Store:
    """Content-keyed storage for summaries, scores and run manifests."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise RuntimeError(
                f"{self.path}: not a usable evalkit store ({exc}); move it aside or pass another --store path"
            ) from exc

    def _migrate(self) -> None:
        with self._lock:
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} was written by a newer evalkit (schema {version}); upgrade evalkit to read it"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(script)
                self._db.execute(f"PRAGMA user_version = {number}")
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- summaries ------------------------------------------------------------
    def put_summary(self, key: str, summary: Summary, request: Request) -> None:
        """Write one summary (replacing a failed one under the same key) and commit."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, summary.fingerprint, document_hash(request.document.text), request.target.key(),
                 summary.text, summary.error, summary.seconds, canonical_json(dict(summary.details)), time.time()),
            )
            self._db.commit()

    def get_summaries(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored summaries by key (failed ones included: callers decide whether to retry)."""
        keys = list(keys)
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for chunk in _chunks(keys, 500):
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT key, text, error, seconds, details FROM summaries WHERE key IN ({marks})", chunk
                ):
                    out[row[0]] = {"text": row[1], "error": row[2], "seconds": row[3], "details": json.loads(row[4])}
        return out

    # -- scores ---------------------------------------------------------------
    def put_scores(self, items: Sequence[tuple[str, str, MetricResult]]) -> None:
        """Write ``(key, signature, result)`` items in one transaction."""
        now = time.time()
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                [(key, sig, canonical_json(dict(r.values)), canonical_json(dict(r.notes)),
                  canonical_json(dict(r.info)), now) for key, sig, r in items],
            )
            self._db.commit()

    def get_scores(self, keys: Iterable[str]) -> dict[str, MetricResult]:
        keys = list(keys)
        out: dict[str, MetricResult] = {}
        with self._lock:
            for chunk in _chunks(keys, 500):
                marks = ",".join("?" * len(chunk))
                for key, vals, notes, info in self._db.execute(
                    f"SELECT key, vals, notes, info FROM scores WHERE key IN ({marks})", chunk
                ):
                    out[key] = MetricResult(json.loads(vals), json.loads(notes), json.loads(info))
        return out

    # -- artifacts: per-document work that metrics reuse across runs ------------
    def get_artifacts(self, namespace: str, keys: Iterable[str]) -> dict[str, bytes]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, bytes] = {}
        with self._lock:
            for chunk in _chunks(keys, 500):
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(
                    f"SELECT key, value FROM artifacts WHERE namespace = ? AND key IN ({marks})", [namespace, *chunk]
                ):
                    out[key] = value
        return out

    def put_artifacts(self, namespace: str, items: dict[str, bytes]) -> None:
        now = time.time()
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)",
                                 [(namespace, key, value, now) for key, value in items.items()])
            self._db.commit()

    def artifacts(self, namespace: str) -> ArtifactCache:
        """A view of the artifact table limited to one namespace (what a metric is given)."""
        return ArtifactCache(self, namespace)

    # -- runs -----------------------------------------------------------------
    def put_run(self, run_id: str, manifest: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)",
                             (run_id, time.time(), canonical_json(manifest)))
            self._db.commit()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    for table in ("summaries", "scores", "runs")}


class ArtifactCache:
    """Bytes by key in one namespace of a store: source entities, reference embeddings.

    A metric's namespace must include everything its artifacts depend on (model, version), so
    a changed setting never reads a stale artifact.
    """

    def __init__(self, store: Store, namespace: str) -> None:
        self.store, self.namespace = store, namespace

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        return self.store.get_artifacts(self.namespace, keys)

    def put_many(self, items: dict[str, bytes]) -> None:
        if items:
            self.store.put_artifacts(self.namespace, items)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
