"""A watchdog for the local Ray cluster a run starts: when the driver dies, the cluster goes with it.

``ray.init()`` without an address starts a cluster whose gcs_server and raylet share the driver's
fate, but whose dashboard and runtime-env agents do not: after a ``SIGKILL`` of the driver they
were reparented to init and kept running (seen here with Ray 2.x: ``ray::DashboardAgent`` and
``ray::RuntimeEnvAgent``, two per killed run). :class:`~evalkit.run.executors.RayExecutor` starts
this module as a small process of its own session (so killing the driver's process group does not
take it along), after marking its own environment with :data:`MARK` (``<driver pid>:<start time>``),
which every process of the cluster inherits. Once the driver is gone the watchdog stops every
process that carries the mark, and every process it saw descended from the driver
(``SIGTERM``, then ``SIGKILL``): the mark covers what was started before the watchdog first
looked (a kill during ``ray.init``, a busy machine), the tree what does not inherit it. A normal
close stops the watchdog after ``ray.shutdown()``. Linux only (it reads ``/proc``); elsewhere it
is not started.

    python -m evalkit.run.raywatch DRIVER_PID
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

PROC = Path("/proc")
MARK = "EVALKIT_RAY_DRIVER"
"""The environment variable that marks the processes of a driver's local cluster."""
INTERVAL = 0.5
"""Seconds between two looks at the driver's process tree."""
GRACE = 3.0
"""Seconds the cluster's processes get to stop after SIGTERM before SIGKILL."""


def available() -> bool:
    """Whether process trees can be read here (Linux ``/proc``)."""
    return (PROC / "self" / "stat").exists()


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time in clock ticks)`` of ``pid``, or ``None`` when it is gone (or a zombie)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid ... starttime (field 22)
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every living process below ``root``: pid -> start time (so a reused pid is never mistaken for it)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), ()):
            if pid not in found:
                found[pid] = start
                todo.append(pid)
    return found


def mark(pid: int) -> str:
    """The value of :data:`MARK` for driver ``pid``: its pid and start time (a reused pid never matches)."""
    stat = _stat(pid)
    return f"{pid}:{stat[1] if stat else 0}"


def marked(value: str) -> dict[int, int]:
    """Every living process whose environment has ``MARK=value``: pid -> start time."""
    needle = f"{MARK}={value}".encode()
    found: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle in environ.split(b"\0") and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat[1]
    return found


def _alive(pid: int, start: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] == start


def watch(driver: int, *, interval: float = INTERVAL) -> list[int]:
    """Wait for ``driver`` to end, then stop what it left running; returns the pids it had to stop."""
    first = _stat(driver)
    if first is None:
        return []
    me = os.getpid()
    seen: dict[int, int] = {}
    while _alive(driver, first[1]):
        seen.update(descendants(driver))
        time.sleep(interval)
    seen.update(marked(f"{driver}:{first[1]}"))
    seen.pop(me, None)
    left = [pid for pid, start in seen.items() if _alive(pid, start)]
    for pid in left:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and any(_alive(pid, seen[pid]) for pid in left):
        time.sleep(0.1)
    for pid in left:
        if _alive(pid, seen[pid]):
            _signal(pid, signal.SIGKILL)
    return left


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass  # gone meanwhile, or not ours to stop


if __name__ == "__main__":
    watch(int(sys.argv[1]))
