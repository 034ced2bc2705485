"""The metric interface: batch in, list out, and a signature that says how scores were made.

A metric scores :class:`Candidate` items (a document, one system's summary text and the
length target it was asked for) and returns one :class:`MetricResult` per item, in order.
A result holds one or more named values (``rouge1_f``, ``rouge1_p``...) and may hold
``info`` (JSON-serializable facts such as unsupported entities).

Work that depends only on the document (source entities, reference embeddings) must be done
once per distinct document in a batch, not once per candidate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from evalkit.core.fingerprint import identity
from evalkit.core.types import Candidate, Document, Measure, MetricResult

__all__ = ["Candidate", "Metric", "MetricResult", "Measure"]


class Metric(ABC):
    """Base class for every metric."""

    kind: ClassVar[str]
    """Registry name used in config files."""
    version: ClassVar[str] = "1"
    """Bump when the computation changes in a way that changes values."""
    needs_references: ClassVar[bool] = False
    """True when the metric is undefined for documents without reference summaries."""
    text_version_key: ClassVar[str | None] = None
    """The settings key that already names :data:`evalkit.core.text.TEXT_VERSION` in a form of its own
    (kept so that fingerprints stored before the base class added it stay valid). Leave it ``None``:
    whatever uses :mod:`evalkit.core.text` gets the version in its signature without being told
    (:func:`evalkit.core.fingerprint.identity`)."""
    makes_requests: ClassVar[bool] = False
    """True for metrics that call a paid or remote API (an LLM judge)."""
    replay_only: bool = False
    """Set by the runner (``--replay``, ``EVALKIT_OFFLINE=1``) on metrics that make requests: serve
    stored replies only and raise :class:`~evalkit.core.errors.ReplayMissError` for a missing one."""

    def settings(self) -> dict[str, Any]:
        """Every setting that can change a value, library versions included."""
        return {}

    @property
    def signature(self) -> str:
        """Readable-and-exact identity of how this metric scores (``kind@digest``)."""
        return identity(type(self), self.kind, {"version": self.version, **self.settings()})

    @property
    def key(self) -> str:
        """This instance's key in a run's manifest: the kind, unless two instances of a kind differ.

        Metrics whose value names depend on a setting (BERTScore ``against: source`` gives
        ``bertscore_src_*``) override it, so two instances of one kind coexist in a manifest.
        """
        return self.kind

    @abstractmethod
    def measures(self) -> tuple[Measure, ...]:
        """What each value this metric produces is (name, label, scale, direction), in display order."""

    @property
    def names(self) -> tuple[str, ...]:
        """The value names this metric produces, in display order."""
        return tuple(m.name for m in self.measures())

    def describe(self, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This instance as a run manifest records it: kind, config, signature and its measures."""
        return {"kind": self.kind, "config": dict(spec or {"kind": self.kind}), "signature": self.signature,
                "measures": [m.to_dict() for m in self.measures()]}

    cache = None
    """An :class:`evalkit.run.store.ArtifactCache` the run attaches (``attach_cache``), or ``None``."""

    def artifact_namespace(self) -> str | None:
        """The namespace for reusable per-document artifacts, or ``None`` if the metric keeps none."""
        return None

    def attach_cache(self, store) -> None:
        """Give the metric a place to keep per-document work across runs."""
        namespace = self.artifact_namespace()
        self.cache = store.artifacts(namespace) if namespace else None

    def prepare(self, documents: Sequence[Document]) -> None:
        """See the whole run's documents once before scoring (e.g. corpus IDF). Default: nothing."""

    def prepare_summaries(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        """See every system's summary per document (document id -> system -> text) before scoring. Default:
        nothing; a metric that compares systems (a pairwise judge) keeps them and names them in its settings."""

    @abstractmethod
    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        """One result per candidate, in the same order."""

    def close(self) -> None:
        """Release heavy resources. Called once at the end of a run."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(signature={self.signature!r})"
