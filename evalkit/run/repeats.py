"""Repeated samples: ``samples: k`` asks a system for k independent replies per document.

Sample ``i`` of a document is its own request (:attr:`Request.sample`), with its own store key
(:func:`evalkit.run.store.summary_key` adds the index above 0, so sample 0 is the summary a run
without samples stores) and, where the engine takes one, its own seed
(:func:`evalkit.core.seeds.sample_seed`). So a re-run computes nothing, and raising k from 3 to 5
computes samples 3 and 4 only.

A system that cannot give two different replies (extractive, greedy decoding, temperature 0:
:meth:`Summarizer.draws_samples` is false) computes sample 0 alone; samples 1 to k-1 are recorded
as copies of it, marked ``details["copy_of_sample"] = 0``, and the run warns once per system.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from evalkit.core.errors import ConfigError
from evalkit.core.options import shown
from evalkit.core.types import Request, Summary

log = logging.getLogger(__name__)


def samples_of(spec: Mapping[str, Any], default: int = 1) -> int:
    """How many replies per document a system spec asks for (its own ``samples``, else the experiment's)."""
    value = spec.get("samples", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"samples must be a whole number >= 1, got {shown(value)} "
                          f"(in {spec.get('name') or spec.get('kind')!r})")
    return value


def computed_samples(summarizer: Any, samples: int) -> int:
    """How many of ``samples`` replies per document are computed: all, or 1 for a system that does not sample."""
    return samples if samples <= 1 or summarizer.draws_samples() else 1


def sample_requests(requests: Sequence[Request], count: int) -> list[Request]:
    """Each request for samples 0 to ``count - 1``, sample by sample (sample 0 first)."""
    return [replace(r, sample=i) if i else r for i in range(count) for r in requests]


def warn_identical(summarizer: Any, samples: int) -> None:
    """The one warning a ``samples: k`` system that does not sample gets."""
    log.warning("%s does not sample (extractive, greedy or temperature 0): its %d samples per document would be "
                "identical, so it computes one and records %d copies of it (give it a temperature above 0, or "
                "do_sample, to draw different replies)", summarizer.name, samples, samples - 1)


def with_copies(summaries: Sequence[Summary], samples: int) -> list[Summary]:
    """``summaries`` (sample 0 each) followed by samples 1 to ``samples - 1`` as marked copies of them."""
    out = list(summaries)
    for index in range(1, samples):
        out.extend(replace(s, sample=index, seconds=0.0, details={**s.details, "copy_of_sample": 0})
                   for s in summaries)
    return out


def manifest_entry(summarizer: Any, samples: int) -> dict[str, Any]:
    """What the manifest records of a system's samples: how many, how many computed, how they are seeded."""
    if samples <= 1:
        return {}
    return {"samples": samples, "samples_computed": computed_samples(summarizer, samples),
            "seeds": summarizer.seed_policy()}
