"""The prompt shared by API and local chat models, so that the two kinds compare fairly.

``{target}`` becomes :meth:`LengthTarget.describe` ("in about 60 words") and ``{article}``
the article; see ``docs/api-models.md``.
"""

from __future__ import annotations

import re

from evalkit.core.types import LengthTarget

DEFAULT_SYSTEM_PROMPT = ("You are a careful news editor. You write accurate, neutral summaries that state only "
                         "facts given in the article.")
DEFAULT_PROMPT = "Summarize the following news article {target}. Reply with the summary only.\n\n{article}"

ARTICLE_PLACEHOLDER = "\x00article\x00"
"""Stands for the article while a template is rendered, so the article's own text is never parsed."""


def check_prompt(prompt: str) -> None:
    """Refuse a prompt template that lacks ``{article}`` or ``{target}`` or uses other fields."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string template, got {type(prompt).__name__}")
    missing = [f"{{{field}}}" for field in ("article", "target") if f"{{{field}}}" not in prompt]
    if missing:
        raise ValueError(f"the prompt template must contain {' and '.join(missing)} (the length target is part "
                         f"of the task), e.g. {DEFAULT_PROMPT!r}")
    try:
        prompt.format(article="", target="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"the prompt template may use only {{article}} and {{target}} (write {{{{ and }}}} for "
                         f"literal braces): {exc!r}") from exc


def user_message(prompt: str, target: LengthTarget, article: str) -> str:
    """``prompt`` filled in; with no target, "the article ." loses its stray space."""
    phrase = target.describe()
    head = prompt.format(article=ARTICLE_PLACEHOLDER, target=phrase)
    if not phrase:
        head = re.sub(r"[ \t]+(?=[.,;:!?])", "", head)
        head = re.sub(r"[ \t]{2,}", " ", head)
    return head.replace(ARTICLE_PLACEHOLDER, article)
