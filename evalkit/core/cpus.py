"""How many threads a CPU-bound engine should run: the physical cores that other processes leave free.

Shared by the BERTScore ONNX engine (:mod:`evalkit.metrics.bertscore_onnx`) and local torch
generation (:mod:`evalkit.summarizers.local.engine`). Engines whose threads meet at every
operator (ONNX Runtime, torch's intra-op pool) run at the pace of their slowest thread, so a
thread placed on a core that another process holds makes all the others wait: measure what
is busy and leave those cores out (:func:`threads_for`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share a core's arithmetic units)."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or logical
    except ImportError:
        physical = logical
    return max(1, min(logical, physical))


def busy_elsewhere(interval: float = 0.3) -> float:
    """How many of this process's CPUs other processes kept busy over ``interval`` seconds.

    Read from the per-CPU lines of Linux's ``/proc/stat`` for the CPUs this process may run on,
    minus this process's own CPU time; 0.0 where that cannot be read.
    """
    cpus = {f"cpu{n}" for n in os.sched_getaffinity(0)} if hasattr(os, "sched_getaffinity") else set()

    def sample() -> tuple[int, int, float]:
        total = idle = 0
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name in cpus:
                values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(values)
                idle += values[3] + values[4]
        own = os.times()
        return total, idle, own.user + own.system

    try:
        total0, idle0, own0 = sample()
        time.sleep(interval)
        total1, idle1, own1 = sample()
    except (OSError, ValueError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    busy = ((total1 - total0) - (idle1 - idle0)) / ticks / interval
    return max(0.0, busy - (own1 - own0) / interval)


def threads_for(cores: int, busy: float) -> int:
    """Intra-op threads for ``cores`` physical cores of which ``busy`` are taken by other processes.

    ONNX Runtime's threads meet at every operator, so one thread on a core another process
    holds makes the others wait: on 2 cores beside one busy process, 2 threads embed 29 texts/s
    and 1 thread 36 (quiet: 70 and 35). So a core counts as taken once it is half busy.
    """
    return max(1, cores - int(busy + 0.5))


@dataclass(frozen=True)
class CpuShare:
    """What :func:`free_threads` measured and chose."""

    threads: int
    """Threads to run: ``threads_for(cores, busy)``."""
    cores: int
    """Physical cores this process may use."""
    busy: float
    """How many of them other processes kept busy (0.0 when there is only one core, or on non-Linux)."""

    @property
    def crowded(self) -> bool:
        """True when other processes took at least one core away."""
        return self.threads < self.cores


def free_threads(interval: float = 0.3) -> CpuShare:
    """Measure the other processes' load (``interval`` seconds) and choose the thread count."""
    cores = physical_cores()
    busy = busy_elsewhere(interval) if cores > 1 else 0.0
    return CpuShare(threads_for(cores, busy), cores, busy)
