"""Where a run's per-chunk work happens: in this process, or on a Ray cluster.

The runner (:mod:`evalkit.run.experiment`) decides what is missing from the store, cuts it into
chunks and hands the chunks to an executor; the executor runs the two pure batch functions,
:func:`summarize_batch` and :func:`score_batch`, and gives each chunk's results back as soon as
they exist. The runner alone reads and writes the store, so caching, resume after a kill and
the manifest are the same whichever executor ran the work.

- :class:`LocalExecutor` runs the chunks one after another in this process (the default).
- :class:`RayExecutor` (``executor: ray``, ``pip install "evalkit[ray]"``) runs them on Ray
  actors: each actor builds its strategy or metric once from its spec (a heavy model is loaded
  once per actor, not per chunk) and then serves chunks. Systems and metrics may ask for
  resources (``resources: {num_gpus: 1, num_cpus: 2}``) and for several actors
  (``actors: 4``), so a GPU model lands on GPU workers and a big split is scored in parallel.
  Workers read API keys from their own environment; no key travels in a task's arguments.

**Paid requests never leave the driver.** A strategy or metric that calls a paid API
(``makes_requests``: the API summarizers, an LLM judge) runs in the driver whichever executor
is chosen: its requests are I/O in threads, so actors would add nothing but a second path, and
the driver is where the run's one path for paid work lives: replay/offline refusal, leases
across concurrent runs, and each reply kept in the store the moment it arrives. So ``--replay``
holds on Ray as locally, a killed driver loses no reply that arrived, and no orphaned worker
keeps paying after it.
"""

from __future__ import annotations

import os

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from evalkit.core.errors import ConfigError
from evalkit.core.types import Candidate, Document, MetricResult, Request, Summary

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
PLACEMENT_KEYS = ("resources", "actors")
"""Spec keys that say where a system or metric runs, not how it computes: never part of a fingerprint."""
REPEAT_KEYS = ("samples",)
"""Spec keys that say how many replies a system gives per document (``samples: k``): not part of a fingerprint."""
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources")


def summarize_batch(summarizer, requests: Sequence[Request], sink=None) -> list[Summary]:
    """Run one strategy over a batch of requests (pure apart from ``sink``).

    Each summary carries its request's ``sample`` whether or not the strategy copied it: the runner
    never puts two samples of one document in a batch, so the document id says which request it was.
    """
    requests = list(requests)
    sample_of = {r.document.id: r.sample for r in requests}

    def numbered(summary: Summary) -> Summary:
        sample = sample_of.get(summary.document_id, summary.sample)
        return summary if summary.sample == sample else replace(summary, sample=sample)

    results = summarizer.summarize(requests, sink=None if sink is None else lambda s: sink(numbered(s)))
    return [numbered(s) for s in results]


def score_batch(metric, candidates: Sequence[Candidate]) -> list[MetricResult]:
    """Score a batch of candidates with one metric (pure)."""
    results = metric.score(list(candidates))
    if len(results) != len(candidates):
        raise RuntimeError(f"metric {metric.kind} returned {len(results)} results for {len(candidates)} candidates")
    return results


def split_spec(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A system or metric spec as ``(what builds it, where it runs)``.

    ``resources`` and ``actors`` say where the work runs, ``samples`` how often; they are removed before
    the strategy or metric is built, so they never change a fingerprint or a signature.
    """
    spec = dict(spec)
    placement = {k: spec.pop(k) for k in PLACEMENT_KEYS if k in spec}
    for key in REPEAT_KEYS:  # read by the runner (evalkit.run.sampling), never by the strategy
        spec.pop(key, None)
    resources = placement.get("resources") or {}
    if not isinstance(resources, Mapping) or set(resources) - set(RESOURCE_KEYS):
        raise ConfigError(f"resources must be a mapping of {', '.join(RESOURCE_KEYS)}, got {resources!r} "
                          f"(in {spec.get('name') or spec.get('kind')!r})")
    actors = placement.get("actors", 1)
    if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
        raise ConfigError(f"actors must be a whole number >= 1, got {actors!r} (in {spec.get('name') or spec.get('kind')!r})")
    return spec, {"resources": dict(resources), "actors": actors}


class LocalExecutor:
    """Runs every chunk in this process, in order."""

    name = "local"

    def summarize(self, summarizer, spec: Mapping[str, Any], chunks: Sequence[Sequence[Request]],
                  sink=None) -> Iterator[list[Summary]]:
        for chunk in chunks:
            yield summarize_batch(summarizer, chunk, sink)

    def score(self, metric, spec: Mapping[str, Any], documents: Sequence[Document],
              chunks: Sequence[Sequence[Candidate]]) -> Iterator[tuple[int, list[MetricResult]]]:
        for index, chunk in enumerate(chunks):
            yield index, score_batch(metric, chunk)

    def close(self) -> None:
        pass


class _Worker:
    """A Ray actor holding one strategy or metric, built once from its spec."""

    def __init__(self, what: str, spec: Mapping[str, Any], documents: Sequence[Document] | None = None) -> None:
        from evalkit.run.registry import build_metric, build_summarizer

        self.item = build_summarizer(spec) if what == "summarizer" else build_metric(spec)
        if what == "metric" and documents is not None:
            self.item.prepare(documents)  # corpus-level state (IDF) from the whole run, as locally

    def summarize(self, requests: list[Request]) -> list[Summary]:
        return summarize_batch(self.item, requests)

    def score(self, candidates: list[Candidate]) -> list[MetricResult]:
        return score_batch(self.item, candidates)

    def close(self) -> None:
        self.item.close()


class RayExecutor:
    """Runs chunks on Ray actors; the driver (this process) gathers results as they finish.

    ``address``: an existing cluster (``"auto"``, ``"ray://head:10001"``) or ``None`` to start a
    local one. ``runtime_env``: passed to ``ray.init`` (e.g. ``{"py_modules": [...]}``) when the
    workers do not have evalkit installed.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 runtime_env: Mapping[str, Any] | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError('executor: ray needs Ray: pip install "evalkit[ray]"') from exc
        self._ray = ray
        self._started = False
        self._watchdog = None
        if not ray.is_initialized():
            if not address:  # a local cluster of our own: started before it, so a kill during ray.init is covered
                self._watchdog = _start_watchdog()
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address:
                kwargs["address"] = address
            elif num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            if runtime_env:
                kwargs["runtime_env"] = dict(runtime_env)
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                self.close()
                raise ConfigError(f"cannot reach the Ray cluster at {address!r} ({exc}); start it with "
                                  "`ray start --head` or leave ray_address unset for a local cluster") from exc
            self._started = True
        self._actor_class = ray.remote(_Worker)

    def _actors(self, what: str, spec: Mapping[str, Any], documents=None) -> list[Any]:
        build, placement = split_spec(spec)
        resources = dict(placement["resources"])
        options: dict[str, Any] = {"num_cpus": resources.pop("num_cpus", 1)}
        for key in ("num_gpus", "memory", "resources"):
            if key in resources:
                options[key] = resources[key]
        return [self._actor_class.options(**options).remote(what, build, documents)
                for _ in range(placement["actors"])]

    def _gather(self, actors: list[Any], method: str, chunks: Sequence[Sequence[Any]]) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        pending = {getattr(actors[i % len(actors)], method).remote(list(chunk)): i for i, chunk in enumerate(chunks)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            for actor in actors:
                ray.kill(actor)

    def summarize(self, summarizer, spec: Mapping[str, Any], chunks: Sequence[Sequence[Request]],
                  sink=None) -> Iterator[list[Summary]]:
        if _paid(summarizer, spec):
            yield from LocalExecutor().summarize(summarizer, spec, chunks, sink)
            return
        actors = self._actors("summarizer", spec)
        for _, summaries in self._gather(actors, "summarize", chunks):
            if sink is not None:
                for summary in summaries:
                    sink(summary)  # the driver alone writes the store, as each chunk comes back
            yield summaries

    def score(self, metric, spec: Mapping[str, Any], documents: Sequence[Document],
              chunks: Sequence[Sequence[Candidate]]) -> Iterator[tuple[int, list[MetricResult]]]:
        if _paid(metric, spec):
            yield from LocalExecutor().score(metric, spec, documents, chunks)
            return
        actors = self._actors("metric", spec, list(documents))
        yield from self._gather(actors, "score", chunks)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait()
            self._watchdog = None


def _start_watchdog():
    """The process that stops this driver's local Ray cluster if the driver dies (:mod:`evalkit.run.raywatch`)."""
    import subprocess
    import sys

    from evalkit.run import raywatch

    if not raywatch.available():
        return None
    os.environ[raywatch.MARK] = raywatch.mark(os.getpid())  # inherited by every process of the cluster
    return subprocess.Popen([sys.executable, "-m", "evalkit.run.raywatch", str(os.getpid())], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _paid(item, spec: Mapping[str, Any]) -> bool:
    """Whether ``item`` calls a paid API, so its work stays in the driver (see the module docstring)."""
    if not getattr(item, "makes_requests", False):
        return False
    placement = split_spec(spec)[1]
    if placement["resources"] or placement["actors"] != 1:
        log.info("%s calls a paid API: it runs in the driver (its requests are threads there); resources and "
                 "actors are not used for it", spec.get("name") or spec.get("kind"))
    return True


def make_executor(name: str = "local", *, address: str | None = None, num_cpus: int | None = None,
                  runtime_env: Mapping[str, Any] | None = None) -> LocalExecutor | RayExecutor:
    """The executor a run asked for (``executor:`` and ``ray_address:`` in its config)."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, num_cpus=num_cpus, runtime_env=runtime_env)
    raise ConfigError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
