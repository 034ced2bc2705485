"""The options of a hosted model's transport, declared once for the API summarizers and the LLM judge.

:class:`TransportOptions` holds the eleven options that say where and how requests go (see
:mod:`evalkit.hosted.client` for what each does); :meth:`TransportOptions.transport_options` hands
them to a :class:`~evalkit.hosted.client.Transport`. Strategies and metrics that call a hosted model
subclass it and add their own options.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, field_validator

from evalkit.core.options import Number, Options, Text, Whole
from evalkit.hosted.client import DEFAULT_BREAKER

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TRANSPORT_OPTIONS = ("model", "base_url", "api_key_env", "temperature", "concurrency", "max_retries", "timeout",
                     "backoff", "max_backoff", "prices", "breaker")
"""The options a :class:`~evalkit.hosted.client.Transport` takes, in the order of its signature."""


class TransportOptions(Options):
    """Where requests go and how they are retried, paced and priced."""

    model: Text
    """The model name the provider knows, e.g. model: gpt-4o-mini."""
    base_url: Text | None = None
    """The endpoint (default: the provider's, or its ``*_BASE_URL`` variable); a password in it is redacted."""
    api_key_env: Text | None = None
    """The NAME of the environment variable that holds the key (default: the provider's usual one)."""
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = 0.0
    """Sampling temperature from 0 to 2, or null to send none."""
    concurrency: Annotated[Whole, Field(ge=1)] = 4
    """Requests in flight at once."""
    max_retries: Annotated[Whole, Field(ge=0)] = 6
    """Retries of a request after a retryable failure."""
    timeout: Annotated[Number, Field(gt=0)] = 60.0
    """Seconds one attempt may take."""
    backoff: Annotated[Number, Field(ge=0)] = 1.0
    """Seconds before the first retry; doubled after each."""
    max_backoff: Annotated[Number, Field(ge=0)] = 60.0
    """Longest wait between retries, ``Retry-After`` included."""
    prices: Mapping[str, Any] | None = None
    """USD per million tokens, ``{input: ..., output: ...}``; default: the bundled price table."""
    breaker: Annotated[Whole, Field(ge=1)] = DEFAULT_BREAKER
    """Connection failures in a row after which every further request fails at once."""

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must be a model name such as 'gpt-4o-mini', got an empty string")
        return value

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _key_env(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not _ENV_NAME.match(value)):
            # never echo the value: it may be the key itself, pasted in the wrong place
            raise ValueError("api_key_env must be the NAME of an environment variable (like OPENAI_API_KEY), not a "
                             "key; put the key in that variable")
        return value

    def transport_options(self) -> dict[str, Any]:
        """The keyword arguments of a :class:`~evalkit.hosted.client.Transport`."""
        return {name: getattr(self, name) for name in TRANSPORT_OPTIONS}
