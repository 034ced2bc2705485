"""What every page of one viewer shares: the runs folder, the store, and a cache of what was read from runs.

Runs are found as ``evalkit history`` finds them (:func:`evalkit.report.history.find_runs`: a run
folder, or a folder of run folders) and are addressed by their folder name, never by a path taken
from a URL. What a page computes from a run (the loaded :class:`~evalkit.run.record.Run`, its
rankings and charts, two runs' paired tests) is kept per run and recomputed only when one of the
run's files changes (:func:`run_stamp`), so a 1,000-document run is not re-bootstrapped on every request.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from evalkit.report.history import find_runs
from evalkit.run.record import FACTS_FILE, SOURCES_FILE, Run

T = TypeVar("T")

_RUN_FILES = ("manifest.json", "scores.csv", "summaries.jsonl", FACTS_FILE, SOURCES_FILE)
CACHE_SIZE = 64
"""Most large cached items (loaded runs, rendered sections, diffs) held at once; the least recently used goes first."""
SMALL_CACHE_SIZE = 4096
"""Most small cached items (a run's line on the runs page) held at once."""


class RunNotFound(KeyError):
    """A run id (folder name) that is not under the viewer's folder; the message names the ones that are."""

    def __str__(self) -> str:
        return str(self.args[0])


def run_stamp(folder: Path) -> tuple[int, ...]:
    """When a run folder and its files last changed (nanoseconds); a missing file counts as 0."""
    stamps = [folder.stat().st_mtime_ns]
    for name in _RUN_FILES:
        try:
            stamps.append((folder / name).stat().st_mtime_ns)
        except FileNotFoundError:
            stamps.append(0)
    return tuple(stamps)


class RunIndex:
    """The runs under one folder, by id, and a small cache of what pages computed from them (thread-safe)."""

    def __init__(self, root: Path, size: int = CACHE_SIZE, small_size: int = SMALL_CACHE_SIZE) -> None:
        self.root = root
        self.size = size
        self.small_size = small_size
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._small: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._working: dict[tuple[Any, ...], threading.Thread] = {}
        self._failed: dict[tuple[Any, ...], BaseException] = {}

    def folders(self) -> dict[str, Path]:
        """Run id -> run folder, for every run under the root (read anew: a run written meanwhile appears)."""
        return {path.name: path for path in find_runs([self.root])}

    def folder(self, run_id: str) -> Path:
        """The folder of run ``run_id``; :class:`RunNotFound` with a did-you-mean when there is none."""
        folders = self.folders()
        if run_id not in folders:
            close = difflib.get_close_matches(run_id, list(folders), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RunNotFound(f"no run {run_id!r} under {self.root}{hint}; the runs page lists the {len(folders)} there")
        return folders[run_id]

    def run(self, run_id: str) -> Run:
        """Run ``run_id``, loaded once per change of its files."""
        folder = self.folder(run_id)
        return self.memo("run", (run_id,), lambda: Run.load(folder))

    def loaded(self, run_id: str) -> Run:
        """Run ``run_id``: the one kept if it is, else read anew without keeping it (for one-off reads)."""
        _, hit = self._lookup("run", (run_id,))
        return hit[0] if hit is not None else Run.load(self.folder(run_id))

    def memo(self, name: str, run_ids: tuple[str, ...], make: Callable[[], T], *, small: bool = False) -> T:
        """``make()``, kept under ``(name, run_ids)`` until a file of one of those runs changes; ``small``: a small
        value, kept apart from the large ones so that listing many runs does not push loaded runs out."""
        stamp, hit = self._lookup(name, run_ids, small)
        if hit is not None:
            return hit[0]
        value = make()  # outside the lock: a slow page does not hold up the others
        self._keep((name, run_ids), stamp, value, small)
        return value

    def soon(self, name: str, run_ids: tuple[str, ...], make: Callable[[], T]) -> T | None:
        """Like :meth:`memo`, but a value not kept yet is made in a background thread (one per key) and ``None``
        is returned meanwhile; an exception ``make`` raised is raised on the next call (which then retries)."""
        key = (name, run_ids)
        stamp, hit = self._lookup(name, run_ids)
        if hit is not None:
            return hit[0]
        with self._lock:
            error = self._failed.pop(key, None)
            if error is not None:
                raise error
            if key in self._working:
                return None

            def work() -> None:
                try:
                    self._keep(key, stamp, make())
                except Exception as exc:  # noqa: BLE001 (shown to the next request)
                    with self._lock:
                        self._failed[key] = exc
                finally:
                    with self._lock:
                        self._working.pop(key, None)

            thread = threading.Thread(target=work, name=f"evalkit-view-{name}", daemon=True)
            self._working[key] = thread
        thread.start()
        return None

    def busy(self) -> bool:
        """Whether a value is still being made in the background."""
        with self._lock:
            return any(thread.is_alive() for thread in self._working.values())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no value is being made in the background (at most ``timeout`` seconds); ``True`` when none is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._working.values())
            if not threads:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return not self.busy()
            threads[0].join(left)

    def _lookup(self, name: str, run_ids: tuple[str, ...],
                small: bool = False) -> tuple[tuple[Any, ...], tuple[Any] | None]:
        folders = self.folders()
        for run_id in run_ids:
            if run_id not in folders:
                self.folder(run_id)  # raises RunNotFound with its did-you-mean
        stamp = tuple(run_stamp(folders[r]) for r in run_ids)
        cache = self._small if small else self._cache
        with self._lock:
            hit = cache.get((name, run_ids))
            if hit is not None and hit[0] == stamp:
                cache.move_to_end((name, run_ids))
                return stamp, (hit[1],)
        return stamp, None

    def _keep(self, key: tuple[Any, ...], stamp: tuple[Any, ...], value: Any, small: bool = False) -> None:
        cache, size = (self._small, self.small_size) if small else (self._cache, self.size)
        with self._lock:
            cache[key] = (stamp, value)
            cache.move_to_end(key)
            while len(cache) > size:
                cache.popitem(last=False)


@dataclass(frozen=True)
class ViewContext:
    """What every page of one viewer needs."""

    root: Path
    """The folder of runs (``runs/``): each run is a sub-folder with a manifest."""
    store: Path
    """The SQLite store the runs were computed with; human labels are kept there too."""
    runs: RunIndex = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    """The runs under ``root`` by id, with the pages' cache (made from ``root`` when not given)."""

    def __post_init__(self) -> None:
        if self.runs is None:
            object.__setattr__(self, "runs", RunIndex(self.root))
