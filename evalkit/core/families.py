"""Model families, for the warning that a judge rates summaries written by its own family.

A judge prefers text from its own model family (self-preference bias: Panickssery et al. 2024,
"LLM Evaluators Recognize and Favor Their Own Generations"; Zheng et al. 2023, MT-Bench, found GPT-4
favouring its own answers). The family is read from the model id's normalized prefix (lower case,
without an organisation or path: ``HuggingFaceTB/SmolLM2-135M-Instruct`` -> ``smollm2-135m-instruct``),
by the first matching pattern of :data:`FAMILIES`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt", r"gpt-?[345]|chatgpt|o[134](?:-|$)"),
    ("claude", r"claude"),
    ("llama", r"(?:meta-)?llama|codellama"),
    ("smollm", r"smollm"),
    ("qwen", r"qwen|qwq"),
    ("mistral", r"mistral|mixtral|ministral"),
    ("gemma", r"gemma"),
)
"""(family, pattern at the start of the normalized model id). OpenAI's GPT-3.5/4/5 and o-series are one family."""


def normalize_model(model: str) -> str:
    """``model`` in lower case, its last path part only, without a ``provider:`` prefix."""
    name = str(model).strip().lower().rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"^[a-z]+:", "", name)


def model_family(model: str | None) -> str | None:
    """The family of a model id (``gpt``, ``claude``, ``llama``, ``smollm``, ``qwen``, ``mistral``, ``gemma``),
    or ``None`` when it is not one of :data:`FAMILIES`."""
    if not model:
        return None
    name = normalize_model(model)
    for family, pattern in FAMILIES:
        if re.match(pattern, name):
            return family
    return None


def model_ids(settings: Any) -> list[str]:
    """Every model id in a system's or metric's settings (values under ``model``, ``model_id``, ``name_or_path``)."""
    found: list[str] = []
    if isinstance(settings, Mapping):
        for key, value in settings.items():
            if key in ("model", "model_id", "name_or_path", "checkpoint") and isinstance(value, str) and value:
                found.append(value)
            else:
                found.extend(model_ids(value))
    elif isinstance(settings, (list, tuple)):
        for value in settings:
            found.extend(model_ids(value))
    return list(dict.fromkeys(found))
