"""Every error evalkit raises on purpose, in one place.

Each carries a message that says what is wrong and how to fix it; the command line prints it
as one line and exits 2 (3 for a gate that cannot compare). Nothing here imports the rest of
evalkit, so any layer can raise them.
"""

from __future__ import annotations


class EvalkitError(Exception):
    """Base of the errors below: a problem the user can fix; the message says how."""


class ConfigError(EvalkitError, ValueError):
    """A configuration cannot be used; the message says what to change."""


class DataError(EvalkitError, ValueError):
    """The data cannot be used as it is; the message says where and how to fix it."""


class ReplayMissError(ConfigError):
    """A replay-only run needs a summary from an API model that the store does not have."""


class MissingKeyError(ConfigError):
    """An API model's key is not in the environment."""


class ModelLoadError(EvalkitError, RuntimeError):
    """A local model (or its tokenizer) could not be loaded; the message says what to do."""


class ModelNotFoundError(ModelLoadError):
    """The model is neither a local directory nor available from the hub (or its cache)."""


class SignatureMismatch(EvalkitError, ValueError):
    """Two runs were scored differently (or on different documents) and cannot be compared or merged."""


class GateError(EvalkitError):
    """The run cannot be compared with the baseline (exit code 3); the message says why."""


class PolicyError(EvalkitError, ValueError):
    """The gate policy is not valid (exit code 2); the message says what to fix."""


class TargetParseError(EvalkitError, ValueError):
    """An instruction from which no length target can be read; the message says why and what works."""

    def __init__(self, text: str, reason: str, hint: str | None = None, examples: tuple[str, ...] = ()) -> None:
        self.text = text
        self.reason = reason
        self.hint = hint
        self.examples = tuple(examples)
        shown = text if len(text) <= 200 else text[:200] + "…"
        message = f"cannot read a length target from {shown!r}: {reason}."
        if hint:
            message += f" {hint}"
        if self.examples:
            message += " Understood forms include " + ", ".join(repr(e) for e in self.examples) + "."
        super().__init__(message)

    def __reduce__(self):  # keep the fields when pickled (e.g. across worker processes)
        return (type(self), (self.text, self.reason, self.hint, self.examples))


class StoreError(EvalkitError, RuntimeError):
    """The results store cannot be opened, read or written; the message says what to do with it."""
