"""Name -> class registries for strategies and metrics, with "did you mean" errors.

Entries are import paths, so a config that uses only extractive strategies never imports
torch or an API SDK.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from evalkit.core.errors import ConfigError
from evalkit.core.options import options_model

if TYPE_CHECKING:  # for annotations only: the registry imports no strategy or metric until asked
    from evalkit.metrics.base import Metric
    from evalkit.summarizers.base import Summarizer


SUMMARIZERS: dict[str, str] = {
    "lead": "evalkit.summarizers.extractive:Lead",
    "textrank": "evalkit.summarizers.extractive:TextRank",
    "lexrank": "evalkit.summarizers.extractive:LexRank",
    "random": "evalkit.summarizers.extractive:RandomSentences",
    "oracle": "evalkit.summarizers.extractive:Oracle",
    "precomputed": "evalkit.summarizers.precomputed:Precomputed",
    "hf-seq2seq": "evalkit.summarizers.local:Seq2SeqSummarizer",
    "hf-chat": "evalkit.summarizers.local:ChatSummarizer",
    "openai": "evalkit.summarizers.api:OpenAISummarizer",
    "anthropic": "evalkit.summarizers.api:AnthropicSummarizer",
}

METRICS: dict[str, str] = {
    "rouge": "evalkit.metrics.rouge:Rouge",
    "length": "evalkit.metrics.length:LengthCompliance",
    "extractiveness": "evalkit.metrics.extractiveness:Extractiveness",
    "bertscore": "evalkit.metrics.bertscore:BertScore",
    "entities": "evalkit.metrics.entities:EntityOverlap",
    "llm-judge": "evalkit.metrics.judge:LLMJudge",
    "nli": "evalkit.metrics.nli:NLIConsistency",
    "consistency": "evalkit.metrics.consistency:ChunkedConsistency",
    "redundancy": "evalkit.metrics.redundancy:Redundancy",
    "length-fair": "evalkit.metrics.lengthfair:LengthFair",
}


def _resolve(table: Mapping[str, str], kind: str, what: str) -> type:
    if kind not in table:
        close = difflib.get_close_matches(kind, table, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown {what} {kind!r}.{hint} Known: {', '.join(sorted(table))}")
    module_name, class_name = table[kind].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"the {what} {kind!r} needs a package that is not installed ({exc.name or exc}); "
            'install the extras: pip install "evalkit[all]"'
        ) from exc
    return getattr(module, class_name)


def _build(cls: type, kind: str, options: dict[str, Any], what: str) -> Any:
    """``cls`` built from ``options``, validated first against its options model (unknown key: "did you mean")."""
    own = ("name",) if what == "strategy" else ()  # a strategy's display name is not one of its options
    options_model(cls).parse({k: v for k, v in options.items() if k not in own}, f"{what} {kind!r}", also=own)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} {kind!r}: {exc}") from exc


def _from_spec(table: Mapping[str, str], spec: Mapping[str, Any] | str, what: str) -> Any:
    spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = spec.pop("kind", None)
    if not kind:
        raise ConfigError(f"each {what} needs a 'kind' (one of {', '.join(sorted(table))}); got {spec}")
    return _build(_resolve(table, kind, what), kind, spec, what)


def build_summarizer(spec: Mapping[str, Any] | str) -> Summarizer:
    """A summarizer from ``{"kind": "lead", "name": "lead-3", ...options}`` or a bare kind."""
    return _from_spec(SUMMARIZERS, spec, "strategy")


def build_metric(spec: Mapping[str, Any] | str) -> Metric:
    """A metric from ``{"kind": "rouge", ...options}`` or a bare kind."""
    return _from_spec(METRICS, spec, "metric")
