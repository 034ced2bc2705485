"""Extending evalkit takes one module and one list line, and nothing is forgotten on the way.

- Whatever a strategy or metric uses from :mod:`evalkit.core.text` enters its fingerprint or
  signature: the base classes add the text version for every class whose modules import it
  (read here with ``ast``, independently of the library's own reading).
- The strategies and metrics that named the text version by hand keep the fingerprints the
  CI baseline stored (their results in every store stay valid).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evalkit.core.text
from evalkit.run import registry
from test_architecture import MODULES, imports

REPO = Path(__file__).resolve().parents[1]

SPECS = {"hf-seq2seq": {"model": "sshleifer/distilbart-cnn-12-6"},
         "hf-chat": {"model": "HuggingFaceTB/SmolLM2-135M-Instruct"},
         "openai": {"model": "gpt-4o-mini"}, "anthropic": {"model": "claude-3-5-haiku-latest"},
         "llm-judge": {"model": "gpt-4o-mini"}}
"""The options a kind cannot be built without (none of them loads a model or sends a request)."""


def _instances(tmp_path: Path) -> dict[str, object]:
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text('{"document_id": "a", "summary": "A summary."}\n', encoding="utf-8")
    specs = {**SPECS, "precomputed": {"path": str(outputs)}}
    out: dict[str, object] = {}
    for kind in registry.SUMMARIZERS:
        out[kind] = registry.build_summarizer({"kind": kind, **specs.get(kind, {})})
    for kind in registry.METRICS:
        out[kind] = registry.build_metric({"kind": kind, **specs.get(kind, {})})
    return out


def _identity(instance: object) -> str:
    return getattr(instance, "fingerprint", None) or instance.signature


def _text_users() -> set[str]:
    """The strategy and metric modules that import evalkit.core.text, read with ast."""
    return {name for name in MODULES if name.startswith(("evalkit.summarizers", "evalkit.metrics"))
            and "evalkit.core.text" in imports(name)}


def test_every_strategy_and_metric_that_uses_the_text_rules_has_them_in_its_identity(tmp_path, monkeypatch):
    users = _text_users()
    # what the ast reading finds, checked against the modules as read by hand
    assert {"evalkit.metrics.nli", "evalkit.metrics.judge", "evalkit.summarizers.local.chat",
            "evalkit.summarizers.local.seq2seq", "evalkit.summarizers.extractive", "evalkit.metrics.rouge",
            "evalkit.metrics.length", "evalkit.metrics.extractiveness"} <= users
    instances = _instances(tmp_path)
    before = {kind: _identity(i) for kind, i in instances.items()}
    monkeypatch.setattr(evalkit.core.text, "TEXT_VERSION", "999")  # as if the sentence splitter had changed
    after = {kind: _identity(i) for kind, i in instances.items()}
    uses = {kind for kind, i in instances.items() if {c.__module__ for c in type(i).__mro__} & users}
    assert uses == {"lead", "textrank", "lexrank", "random", "oracle", "hf-seq2seq", "hf-chat", "rouge", "length",
                    "extractiveness", "llm-judge", "nli"}
    assert sorted(k for k in instances if before[k] != after[k]) == sorted(uses)


def test_the_fingerprints_named_by_hand_stay_as_the_baseline_stored_them():
    baseline = json.loads((REPO / ".ci" / "baseline.json").read_text(encoding="utf-8"))
    for name, entry in baseline["systems"].items():
        spec = {"kind": entry["kind"], "name": name, **({"cut": "word"} if name == "lead-words" else {}),
                **({"seed": 0} if name == "random" else {})}
        assert registry.build_summarizer(spec).fingerprint == entry["fingerprint"]
    for kind, signature in baseline["metric_signatures"].items():
        assert registry.build_metric(kind).signature == signature
