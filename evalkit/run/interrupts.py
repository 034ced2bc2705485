"""Stopping a run cleanly: SIGINT and SIGTERM wait until the reply being written is stored.

:meth:`evalkit.run.experiment.Experiment.run` works inside :func:`interrupts`; its store writes run
inside ``GUARD.writing()``, so a signal that arrives mid-write is raised once the row is committed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a run; ``signum`` says which (the CLI exits 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _InterruptGuard:
    """Defers a signal that arrives while the main thread writes a reply, so the reply is stored first."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None
        self.interrupted = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        main = threading.current_thread() is threading.main_thread()
        self.depth += main
        try:
            yield
        finally:
            self.depth -= main
            if main and not self.depth and self.pending is not None:
                signum, self.pending = self.pending, None
                self.interrupted = True
                raise Interrupted(signum)

    def handler(self, signum: int, frame: Any) -> None:
        if self.depth:
            self.pending = signum
            return
        self.interrupted = True
        raise Interrupted(signum)


GUARD = _InterruptGuard()


@contextmanager
def interrupts() -> Iterator[None]:
    """While a run works: SIGINT and SIGTERM stop it once the reply being written is stored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    GUARD.interrupted, GUARD.pending = False, None
    previous = {sig: signal.signal(sig, GUARD.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
