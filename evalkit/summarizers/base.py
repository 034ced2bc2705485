"""The summarizer interface: batch in, list out, one fingerprint per configuration.

A strategy is a class with a registry ``kind`` (``"lead"``, ``"textrank"``, ``"hf-seq2seq"``)
and keyword options. Its :attr:`Summarizer.fingerprint` covers every option that can change
its output, so the store never serves a summary made with other settings. The display
``name`` is not part of the fingerprint: renaming a system recomputes nothing.
"""

from __future__ import annotations

import logging
import time
from abc import ABC
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from evalkit.core.fingerprint import identity
from evalkit.core.types import Request, Summary

__all__ = ["Request", "Sink", "Summarizer"]

log = logging.getLogger(__name__)

Sink = Callable[[Summary], None]
"""Called with each summary as soon as it exists (the run uses it to write to the store)."""


class Summarizer(ABC):
    """Base class for every summarization strategy."""

    kind: ClassVar[str]
    """Registry name used in config files."""
    version: ClassVar[str] = "1"
    """Bump when the algorithm changes in a way that changes outputs."""
    uses_references: ClassVar[bool] = False
    """True when outputs depend on the references (the oracle): they then key the store too."""
    text_version_key: ClassVar[str | None] = None
    """The settings key that already names :data:`evalkit.core.text.TEXT_VERSION` in a form of its own
    (kept so that fingerprints stored before the base class added it stay valid). Leave it ``None``:
    whatever uses :mod:`evalkit.core.text` gets the version in its fingerprint without being told
    (:func:`evalkit.core.fingerprint.identity`)."""
    makes_requests: ClassVar[bool] = False
    """True for strategies that call a paid or remote API: the runner replays them from the store
    when ``replay_only`` (or ``EVALKIT_OFFLINE=1``) is set, and prices them in a dry run."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.kind

    # -- identity -----------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every option that can change the output (override and extend in subclasses)."""
        return {}

    @property
    def fingerprint(self) -> str:
        return identity(type(self), self.kind, {"version": self.version, **self.settings()})

    # -- repeated samples (``samples: k``) -----------------------------------
    def draws_samples(self) -> bool:
        """Whether two requests for one document can give different summaries (the strategy samples).

        ``False`` (the default: extractive strategies, greedy decoding) makes the runner compute a
        ``samples: k`` system's first reply only and record the others as copies of it.
        """
        return False

    def seed_policy(self) -> str:
        """How sample ``i`` of a document is seeded, in words, for the run manifest."""
        return "none: deterministic, every sample is the same reply"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, fingerprint={self.fingerprint!r})"

    # -- work ---------------------------------------------------------------
    def summarize(self, requests: Sequence[Request], sink: Sink | None = None) -> list[Summary]:
        """Summarize every request; the result has one :class:`Summary` per request, in order.

        A request that fails becomes a summary with ``error`` set; it never stops the batch.
        Subclasses that batch (local models) or run concurrently (API models) override this;
        simple ones implement :meth:`summarize_one`.
        """
        results = []
        for request in requests:
            summary = self._safely(request)
            if sink is not None:
                sink(summary)
            results.append(summary)
        return results

    def summarize_one(self, request: Request) -> tuple[str, dict[str, Any]]:
        """Return ``(text, details)`` for one request. Raise to report a failure."""
        raise NotImplementedError(f"{type(self).__name__} must implement summarize or summarize_one")

    def _safely(self, request: Request) -> Summary:
        start = time.perf_counter()
        try:
            text, details = self.summarize_one(request)
        except Exception as exc:  # a failure is data, not a crash of the run
            log.warning("%s failed on document %s: %s", self.name, request.document.id, exc)
            return self.failure(request, exc, time.perf_counter() - start)
        return Summary(
            document_id=request.document.id, system=self.name, text=text, fingerprint=self.fingerprint,
            seconds=time.perf_counter() - start, details=details, sample=request.sample,
        )

    def failure(self, request: Request, exc: BaseException | str, seconds: float = 0.0,
                details: dict[str, Any] | None = None) -> Summary:
        message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return Summary(
            document_id=request.document.id, system=self.name, text="", fingerprint=self.fingerprint,
            error=message, seconds=seconds, details=details or {}, sample=request.sample,
        )

    def close(self) -> None:
        """Release heavy resources (models, connections). Called once at the end of a run."""
