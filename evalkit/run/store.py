"""A SQLite store of summaries and scores, keyed by content.

A summary's key covers the strategy's fingerprint, the document's text (and references, for
strategies that read them), the length target and, for the second and later of a system's
``samples: k`` replies, the sample index; a score's key covers the metric's
signature, the document, the summary text and the target. So a re-run computes only what is
missing, a run killed halfway resumes where it stopped, and renaming a system or re-ordering
documents recomputes nothing.

Every write is committed at once (WAL journal), so a crash or SIGKILL loses at most the item
in flight. The store is safe to use from several threads of one process and from several
processes at once: a run *leases* each summary it is about to compute (table ``leases``: key,
pid, host, expiry, taken with ``BEGIN IMMEDIATE``), and another run waits for a leased key and
then reads the stored result instead of paying for it again; an LLM judge leases its requests
the same way (:meth:`ArtifactCache.claim`). A lease of a process that died is taken over at
once on the same host (the pid is gone, or is a zombie not yet reaped); a holder renews its
leases every :data:`RENEW_SECONDS`, so one on another host that stopped renewing is taken over
after :data:`LEASE_SECONDS`. A full disk raises :class:`StoreError` saying so: every row
already committed stays, and re-running the same command resumes. Schema changes are numbered migrations recorded in ``PRAGMA user_version`` (as
in ``simonw/llm``), applied inside one ``BEGIN IMMEDIATE`` transaction with ``CREATE TABLE IF
NOT EXISTS``, so two runs creating a new store at once cannot collide. Each open is recorded in
``sessions``; a session left by a process that is gone means an unclean shutdown, and the
store is checked (``PRAGMA quick_check``) before use, as is every store small enough to check
in well under a second. A SQLite file whose tables are not a store's (someone else's database
given as ``--store``) is refused before anything is written to it. Human labels given in ``evalkit view``
live in the same file (tables ``labels`` and ``rubrics``, migration 4; :mod:`evalkit.run.labels`), and
a merge copies them like the other content-keyed rows.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.core.errors import StoreError
from evalkit.core.fingerprint import canonical_json, digest, document_hash
from evalkit.core.redact import redact, remove_secrets
from evalkit.core.types import Candidate, MetricResult, Request, Summary

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS summaries (
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
    CREATE TABLE IF NOT EXISTS scores (
        key TEXT PRIMARY KEY,
        signature TEXT NOT NULL,
        vals TEXT NOT NULL,
        notes TEXT NOT NULL,
        info TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        manifest TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS artifacts (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS leases (
        key TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS sessions (
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        started REAL NOT NULL,
        PRIMARY KEY (pid, host)
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS labels (
        key TEXT PRIMARY KEY,
        document_hash TEXT NOT NULL,
        summary_hash TEXT NOT NULL,
        rubric_version TEXT NOT NULL,
        annotator TEXT NOT NULL,
        kind TEXT NOT NULL,
        run_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        systems TEXT NOT NULL,
        answers TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rubrics (
        version TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
)
TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", "".join(MIGRATIONS)))
"""The tables an evalkit store has; a file with any other table is someone else's database."""


def summary_key(fingerprint: str, request: Request, *, uses_references: bool = False) -> str:
    """The store key of a request's summary; ``"sample"`` joins it only above 0, so sample 0 (and every
    summary stored before ``samples: k`` existed) keeps the key it always had."""
    doc = request.document
    key: dict[str, object] = {
        "fingerprint": fingerprint,
        "document": document_hash(doc.text, doc.references if uses_references else ()),
        "target": request.target.key(),
    }
    if request.sample:
        key["sample"] = int(request.sample)
    return digest(key, 32)


def score_key(signature: str, candidate: Candidate) -> str:
    doc = candidate.document
    return digest({
        "signature": signature,
        "document": document_hash(doc.text, doc.references),
        "summary": candidate.text,
        "target": candidate.target.key(),
    }, 32)


LEASE_SECONDS = 60.0
"""A lease not renewed for this long is taken over even if its process still seems alive (another host, pid reuse)."""
RENEW_SECONDS = 15.0
"""How often a store that holds leases extends them."""
LEASE_POLL_SECONDS = 0.25
"""How often a run waiting for another run's leases looks again."""
CHECK_ALWAYS_BYTES = 64 * 2**20
"""Stores up to this size are integrity-checked on every open; larger ones after an unclean shutdown."""
HOST = socket.gethostname()


def _alive(pid: int, host: str) -> bool:
    """Whether a lease holder may still be working: False for a pid that is gone or a zombie on this host."""
    if host != HOST:
        return True  # cannot tell: trust the expiry, which the holder renews while it lives
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:  # killed but not yet reaped by its parent: it answers signal 0 but will never write again
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


class Store:
    """Content-keyed storage for summaries, scores and run manifests."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._closed = False
        self._renewing: threading.Thread | None = None
        self._stop_renewing = threading.Event()
        memory = str(path) == ":memory:"
        if not memory:
            self._check_path()
        existed = not memory and self.path.exists() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the store ({exc}); check the folder's permissions or "
                             "pass another --store path") from exc
        try:
            if existed:
                self._refuse_foreign()  # before the first write: a file that is not a store is left as it was
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._open_session(existed)
        except StoreError:
            self._db.close()
            raise
        except sqlite3.OperationalError as exc:
            self._db.close()
            raise StoreError(_operational_message(self.path, exc)) from exc
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"{self.path}: not a usable evalkit store ({exc}): the file is damaged or is not a store. Move it "
                "aside (the run folders next to it keep their results) or pass another --store path"
            ) from exc

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a store file; pass a file path such as "
                             f"{self.path / 'store.sqlite'} to --store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise StoreError(f"cannot create the store's folder {self.path.parent}: a file of that name is in the "
                             "way; pass another --output or --store") from exc
        except OSError as exc:
            raise StoreError(f"cannot create the store's folder {self.path.parent} ({exc.strerror}); pass a "
                             "writable --output or --store") from exc
        folder = self.path.parent
        if not os.access(folder, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise StoreError(f"{self.path}: no permission to write here (the store needs to write the file and "
                             f"its -wal/-shm files in {folder}); make it writable or pass another --output/--store")

    def _refuse_foreign(self) -> None:
        """Raise :class:`StoreError` when the file is a database whose tables are not an evalkit store's (reads only)."""
        tables = sorted(name for (name,) in self._db.execute(  # fails fast on a file that is no database at all
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"))
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            return  # a newer evalkit's store, maybe with new tables: _migrate says to upgrade
        if set(tables) - TABLES or (tables and version == 0):  # evalkit records its schema version with its tables
            listed = ", ".join(tables[:8]) + (f" and {len(tables) - 8} more" if len(tables) > 8 else "")
            raise StoreError(f"{self.path} is not an evalkit store (it has tables {listed}); pass another --store "
                             "path")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if _disk_full(exc):
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise StoreError(_disk_full_message(self.path)) from exc
                raise

    def _migrate(self) -> None:
        with self._write() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} was written by a newer evalkit (schema {version}); upgrade evalkit to read it"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def _open_session(self, existed: bool) -> None:
        with self._write() as db:
            stale = [(pid, host) for pid, host in db.execute("SELECT pid, host FROM sessions")
                     if not _alive(pid, host)]
        unclean = bool(stale)
        if existed and (unclean or self.path.stat().st_size <= CHECK_ALWAYS_BYTES):
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                why = " after an unclean shutdown" if unclean else ""
                raise StoreError(
                    f"{self.path}: the store is damaged{why} (quick_check: {'; '.join(problems)[:300]}). Move it "
                    "aside and re-run (the run folders keep their results), or recover rows with "
                    "'sqlite3 store.sqlite .recover'"
                )
        if unclean:
            log.warning("%s: a previous run ended without closing the store (pid %s); checked, it is intact",
                        self.path, ", ".join(str(p) for p, _ in stale))
        with self._write() as db:
            for pid, host in stale:
                db.execute("DELETE FROM sessions WHERE pid = ? AND host = ?", (pid, host))
                db.execute("DELETE FROM leases WHERE pid = ? AND host = ?", (pid, host))
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (os.getpid(), HOST, time.time()))

    def close(self) -> None:
        self._stop_renewing.set()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                with self._write() as db:
                    db.execute("DELETE FROM leases WHERE pid = ? AND host = ?", (os.getpid(), HOST))
                    db.execute("DELETE FROM sessions WHERE pid = ? AND host = ?", (os.getpid(), HOST))
            except sqlite3.Error as exc:
                log.warning("%s: could not record a clean close (%s)", self.path, exc)
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- leases: which run computes which summary ----------------------------------
    def claim(self, keys: Iterable[str]) -> tuple[list[str], dict[str, int]]:
        """Lease the ``keys`` no other live run holds: ``(mine, {key: pid of the run holding it})``."""
        keys = list(dict.fromkeys(keys))
        now, me = time.time(), os.getpid()
        mine: list[str] = []
        others: dict[str, int] = {}
        with self._write() as db:
            held: dict[str, tuple[int, str, float]] = {}
            for chunk in _chunks(keys, 500):
                marks = ",".join("?" * len(chunk))
                for key, pid, host, expires in db.execute(
                        f"SELECT key, pid, host, expires FROM leases WHERE key IN ({marks})", chunk):
                    held[key] = (pid, host, expires)
            for key in keys:
                if key in held:
                    pid, host, expires = held[key]
                    if (pid, host) != (me, HOST) and expires > now and _alive(pid, host):
                        others[key] = pid
                        continue
                mine.append(key)
            db.executemany("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)",
                           [(key, me, HOST, now + LEASE_SECONDS) for key in mine])
        if mine:
            self._renew_in_background()
        return mine, others

    def _renew_in_background(self) -> None:
        """Extend this process's leases every :data:`RENEW_SECONDS` until the store closes."""
        with self._lock:
            if self._renewing is not None or self._closed:
                return
            self._renewing = threading.Thread(target=self._renew, name="evalkit-store-leases", daemon=True)
        self._renewing.start()

    def _renew(self) -> None:
        while not self._stop_renewing.wait(RENEW_SECONDS):
            try:
                with self._lock:
                    if self._closed:
                        return
                    with self._write() as db:
                        db.execute("UPDATE leases SET expires = ? WHERE pid = ? AND host = ?",
                                   (time.time() + LEASE_SECONDS, os.getpid(), HOST))
            except (sqlite3.Error, StoreError) as exc:  # the next renewal tries again; expiry is the backstop
                log.debug("%s: could not renew leases (%s)", self.path, exc)

    def wait_released(self, keys: Iterable[str]) -> None:
        """Return once no other live run holds any of ``keys``."""
        keys = list(keys)
        while self.leased(keys):
            time.sleep(LEASE_POLL_SECONDS)

    def release(self, keys: Iterable[str]) -> None:
        """Give up this process's leases on ``keys`` (those it did not compute)."""
        keys = list(keys)
        if not keys or self._closed:
            return
        with self._write() as db:
            db.executemany("DELETE FROM leases WHERE key = ? AND pid = ? AND host = ?",
                           [(key, os.getpid(), HOST) for key in keys])

    def leased(self, keys: Iterable[str]) -> dict[str, int]:
        """The ``keys`` another live run still holds, with its pid."""
        keys = list(keys)
        out: dict[str, int] = {}
        now = time.time()
        with self._lock:
            for chunk in _chunks(keys, 500):
                marks = ",".join("?" * len(chunk))
                for key, pid, host, expires in self._db.execute(
                        f"SELECT key, pid, host, expires FROM leases WHERE key IN ({marks})", chunk):
                    if (pid, host) != (os.getpid(), HOST) and expires > now and _alive(pid, host):
                        out[key] = pid
        return out

    # -- summaries ------------------------------------------------------------
    def put_summary(self, key: str, summary: Summary, request: Request) -> None:
        """Write one summary (replacing a failed one under the same key) and commit."""
        error = None if summary.error is None else redact(summary.error)
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, summary.fingerprint, document_hash(request.document.text), request.target.key(),
                 remove_secrets(summary.text), error, summary.seconds, redact(canonical_json(dict(summary.details))), time.time()),
            )
            db.execute("DELETE FROM leases WHERE key = ? AND pid = ? AND host = ?", (key, os.getpid(), HOST))

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
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                [(key, sig, canonical_json(dict(r.values)), redact(canonical_json(dict(r.notes))),
                  redact(canonical_json(dict(r.info))), now) for key, sig, r in items],
            )

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
        """Write artifacts (redacted: a judge's reply is one) and give up this run's leases on them."""
        now = time.time()
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)",
                           [(namespace, key, _redacted_bytes(value), now) for key, value in items.items()])
            db.executemany("DELETE FROM leases WHERE key = ? AND pid = ? AND host = ?",
                           [(artifact_lease(namespace, key), os.getpid(), HOST) for key in items])

    def artifacts(self, namespace: str) -> ArtifactCache:
        """A view of the artifact table limited to one namespace (what a metric is given)."""
        return ArtifactCache(self, namespace)

    # -- runs -----------------------------------------------------------------
    def put_run(self, run_id: str, manifest: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)",
                       (run_id, time.time(), redact(canonical_json(manifest))))

    def transaction(self) -> Any:
        """One committed ``BEGIN IMMEDIATE`` write transaction (a context manager yielding the connection)."""
        return self._write()

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read-only statement, under the store's lock."""
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    for table in ("summaries", "scores", "runs")}


    # -- merging shards ---------------------------------------------------------
    def merge_from(self, source: Store) -> MergeResult:
        """Copy ``source``'s content-keyed rows that this store lacks; never overwrite one it has.

        A row whose key is here with another value (:data:`MERGED`) is a conflict: counted and
        left as it is. Leases, sessions and run records are not copied. Merging the same rows
        again changes nothing.
        """
        if str(source.path) == ":memory:" or str(self.path) == ":memory:":
            raise StoreError("merge needs stores on disk, not ':memory:'; give file paths")
        if self.path.resolve() == source.path.resolve():  # the same file: every row is already here
            with self._lock:
                present = {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in MERGED}
            nothing = dict.fromkeys(MERGED, 0)
            return MergeResult(str(source.path), nothing, present, nothing)
        copied: dict[str, int] = {}
        present: dict[str, int] = {}
        conflicts: dict[str, int] = {}
        examples: list[str] = []
        with self._lock:
            self._db.execute("ATTACH DATABASE ? AS source", (str(source.path),))
            try:
                with self._write() as db:
                    for table, (keys, values) in MERGED.items():
                        columns = [row[1] for row in db.execute(f"PRAGMA main.table_info({table})")]
                        same_key = " AND ".join(f"t.{k} = s.{k}" for k in keys)
                        differs = " OR ".join(f"t.{v} IS NOT s.{v}" for v in values)
                        rows = db.execute(f"SELECT {', '.join('s.' + k for k in keys)}, {differs} FROM source.{table} "
                                          f"AS s JOIN main.{table} AS t ON {same_key}").fetchall()
                        clashes = [row[:-1] for row in rows if row[-1]]
                        conflicts[table], present[table] = len(clashes), len(rows) - len(clashes)
                        examples += [f"{table} {'/'.join(map(str, key))}" for key in clashes[:5 - len(examples)]]
                        listed = ", ".join(columns)
                        copied[table] = db.execute(
                            f"INSERT INTO main.{table} ({listed}) SELECT {', '.join('s.' + c for c in columns)} FROM "
                            f"source.{table} AS s WHERE NOT EXISTS (SELECT 1 FROM main.{table} AS t WHERE {same_key})"
                        ).rowcount
            finally:
                self._db.execute("DETACH DATABASE source")
        return MergeResult(str(source.path), copied, present, conflicts, tuple(examples))


MERGED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "summaries": (("key",), ("text", "error")),
    "scores": (("key",), ("vals", "notes", "info")),
    "artifacts": (("namespace", "key"), ("value",)),
    "labels": (("key",), ("answers",)),
    "rubrics": (("version",), ("definition",)),
}
"""The tables a merge copies: their key columns, and the columns whose difference is a conflict (not the
time a row was made, nor how long it took)."""


@dataclass(frozen=True)
class MergeResult:
    """What merging one store into another did, per table of :data:`MERGED`."""

    source: str
    """The store merged from."""
    copied: dict[str, int] = field(default_factory=dict)
    """Rows the target lacked, now copied."""
    present: dict[str, int] = field(default_factory=dict)
    """Rows the target already had with the same value."""
    conflicts: dict[str, int] = field(default_factory=dict)
    """Rows the target has under the same key with another value: kept as they were, not overwritten."""
    examples: tuple[str, ...] = ()
    """Up to five conflicting rows, as ``table key``."""

    def describe(self) -> str:
        """One line: what was copied, what was already there, how many conflicts."""
        copied = ", ".join(f"{n} {t}" for t, n in self.copied.items()) or "nothing"
        line = f"{self.source}: copied {copied}; {sum(self.present.values())} already there"
        clashes = sum(self.conflicts.values())
        if clashes:
            line += f"; {clashes} conflicts kept as they were (e.g. {', '.join(self.examples)})"
        return line


def merge_stores(sources: Sequence[str | Path], into: str | Path) -> list[MergeResult]:
    """Merge each store of ``sources`` into the store ``into`` (created if missing), in order."""
    missing = [str(p) for p in sources if not Path(p).is_file()]
    if missing:
        raise StoreError(f"no such store: {', '.join(missing)}; check the paths (did that shard's run fail?)")
    with Store(into) as target:
        results = []
        for path in sources:
            with Store(path) as source:
                results.append(target.merge_from(source))
                log.info("%s", results[-1].describe())
    return results


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

    # leases: a paid artifact (a judge's reply) is requested by one run; the others wait and read it
    def claim(self, keys: Iterable[str]) -> tuple[list[str], dict[str, int]]:
        """Lease the ``keys`` no other live run holds: ``(mine, {key: pid of the run holding it})``."""
        lease = {artifact_lease(self.namespace, k): k for k in keys}
        mine, others = self.store.claim(lease)
        return [lease[k] for k in mine], {lease[k]: pid for k, pid in others.items()}

    def release(self, keys: Iterable[str]) -> None:
        """Give up this run's leases on ``keys`` (those it did not store)."""
        self.store.release(artifact_lease(self.namespace, k) for k in keys)

    def wait_released(self, keys: Iterable[str]) -> None:
        """Return once no other live run holds any of ``keys``."""
        self.store.wait_released(artifact_lease(self.namespace, k) for k in keys)


def artifact_lease(namespace: str, key: str) -> str:
    """The lease key of an artifact (summary keys are bare digests, so the two never meet)."""
    return f"artifact:{namespace}:{key}"


def _redacted_bytes(value: bytes) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        return value
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return value  # not text (an embedding): nothing a server echoed
    clean = redact(text)
    return value if clean == text else clean.encode("utf-8")


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def _disk_full_message(path: Path) -> str:
    return (f"{path}: disk full: the last write was not stored, but every row stored before it is kept (the "
            "store is intact; do not move it aside). Free space on that disk and re-run the same command: it "
            "resumes and pays only for what is missing")


def _operational_message(path: Path, exc: sqlite3.OperationalError) -> str:
    text = str(exc)
    if _disk_full(exc):
        return _disk_full_message(path)
    if "readonly" in text or "unable to open" in text or "disk I/O" in text:
        return (f"{path}: cannot write the store ({text}); the file or its folder is read-only or unreachable. "
                "Make it writable or pass another --output/--store")
    if "locked" in text or "busy" in text:
        return (f"{path}: store busy: another run has held its write lock for over a minute ({text}); wait for it "
                "to finish and re-run")
    return f"{path}: cannot use the store ({text}); pass another --store path"
