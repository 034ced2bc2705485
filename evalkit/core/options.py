"""Options as pydantic models, and the one renderer that turns their errors into one-line messages.

Every strategy and metric declares its options once, as a subclass of :class:`Options` (pydantic v2,
``extra="forbid"``, frozen, a docstring under each field), as simonw/llm does. The registry, the
constructors and the experiment config all validate through :meth:`Options.parse`, which raises a
:class:`~evalkit.core.errors.ConfigError` whose message is one line: what is wrong and how to fix
it, with a "did you mean" hint for a mistyped key and the list of accepted keys. A value a user
wrote is echoed cut to :data:`SHOWN` characters.

Types that keep a value as the user wrote it (fingerprints hash the settings as given: ``1`` and
``1.0`` hash differently, so an int is never turned into a float):

- :data:`Whole`: an int (not a bool, not ``2.0``);
- :data:`Number`: an int or a float, kept as given (not a bool);
- :data:`Flag`: ``true`` or ``false`` only (not ``"no"``);
- :data:`Text`: a string.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic.types import AllowInfNan

from evalkit.core.errors import ConfigError

__all__ = ["SHOWN", "Flag", "Number", "Options", "Text", "Whole", "explain", "options_model", "shown"]

Whole = StrictInt
Number = StrictInt | StrictFloat
Flag = StrictBool
Text = StrictStr

SHOWN = 80
"""Longest echo of a user's value in a message (a pasted article would otherwise fill the screen)."""


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 3] + "..."


class Options(BaseModel):
    """Base of every options model: unknown keys refused, values frozen, one-line errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @classmethod
    def parse(cls, values: Mapping[str, Any] | Options | None, what: str, *, also: Sequence[str] = (),
              error: type[Exception] = ConfigError) -> Any:
        """``values`` validated, or a :class:`ConfigError` whose message starts with ``what`` (``"strategy 'lead'"``).

        ``also``: keys the caller takes itself (a strategy's ``name``), listed among the accepted ones.
        ``error``: the class raised instead (``DataError`` for the data spec, ``PolicyError`` for the gate's policy).
        A validator may parse a nested section with its own ``parse``: the one line it raises is
        kept, after ``what`` (``"experiment: data: limit must be ..."``).
        """
        if isinstance(values, cls):
            return values
        if values is not None and not isinstance(values, Mapping):
            raise error(f"{what} must be a mapping of settings (key: value), got {shown(values)}")
        data = dict(values or {})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise error(explain(exc, cls, what, data, also=also)) from None

    def values(self) -> dict[str, Any]:
        """Each option's value, as validated (not converted to JSON types)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def explain(error: ValidationError, model: type[BaseModel], what: str, data: Mapping[str, Any],
            *, also: Sequence[str] = ()) -> str:
    """One line for every problem in ``error``: unknown keys first (with hints), then each bad option."""
    accepted = [*also, *model.model_fields]
    unknown = [str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden"]
    parts: list[str] = []
    seen: set[str] = set()
    for item in error.errors():
        if item["type"] == "extra_forbidden":
            continue
        field = str(item["loc"][0]) if item["loc"] else ""
        if field in seen:
            continue
        seen.add(field)
        parts.append(_problem(item, model, field, data))
    message = ""
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, accepted, n=1)
            hints.append(repr(key) + (f" (did you mean {close[0]!r}?)" if close else ""))
        message = f"{what} does not take {', '.join(hints)}; it takes: {', '.join(accepted) or 'nothing'}"
    if parts:
        message += ("; and " if message else f"{what}: ") + "; ".join(parts)
    return " ".join(message.split())  # one line, whatever a validator wrote


def _problem(item: Mapping[str, Any], model: type[BaseModel], field: str, data: Mapping[str, Any]) -> str:
    if item["type"] in ("value_error", "assertion_error"):
        return str(item["ctx"]["error"])  # a validator's own sentence names the option and the fix
    info = model.model_fields.get(field)
    if info is None:
        return f"{field or 'options'}: {item['msg']}"
    if item["type"] == "missing":
        return f"{field} is required" + (f" ({info.description.rstrip('.')})" if info.description else "")
    expected = describe(info.annotation, info.metadata)
    return f"{field} must be {expected}, got {shown(data.get(field, item.get('input')))}"


def describe(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """What a value of ``annotation`` looks like, in words: ``a whole number >= 1 or null``."""
    bounds = " and ".join(_bound(m) for m in metadata if _bound(m))
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extra = typing.get_args(annotation)
        return describe(inner, [*extra, *metadata])
    if origin in (Union, types.UnionType):
        members = typing.get_args(annotation)
        if float in map(_bare, members):  # int | float reads "a number"
            members = tuple(m for m in members if _bare(m) is not int)
        words = list(dict.fromkeys(describe(m, metadata) for m in members if m is not type(None)))
        words += ["null"] if type(None) in members else []
        return " or ".join(words)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        word = "a whole number" if annotation is int else "a finite number" if _finite(metadata) else "a number"
        return f"{word} {bounds}".strip()
    if annotation is str:
        return "a string"
    if annotation is PurePath or (isinstance(annotation, type) and issubclass(annotation, PurePath)):
        return "a path"
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return "a list" + (f" of {describe(args[0]).removeprefix('a ')}s" if args and describe(args[0]) in
                           ("a string", "a number", "a whole number") else "")
    if origin in (dict, Mapping) or annotation is dict:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def _bare(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation


def _finite(metadata: Sequence[Any]) -> bool:
    """Whether ``metadata`` refuses ``nan`` and ``inf`` (``Field(allow_inf_nan=False)``)."""
    for item in metadata:
        if isinstance(item, FieldInfo) and _finite(item.metadata):
            return True
        if isinstance(item, AllowInfNan) and not item.allow_inf_nan:
            return True
    return False


def _bound(constraint: Any) -> str:
    if isinstance(constraint, FieldInfo):  # Annotated[int, Field(ge=1)] inside a union
        return " and ".join(filter(None, map(_bound, constraint.metadata)))
    for kind, symbol, attribute in ((annotated_types.Ge, ">=", "ge"), (annotated_types.Gt, ">", "gt"),
                                    (annotated_types.Le, "<=", "le"), (annotated_types.Lt, "<", "lt")):
        if isinstance(constraint, kind):
            value = getattr(constraint, attribute)
            return f"{symbol} {value:,}" if isinstance(value, int) else f"{symbol} {value:g}"  # 1,000,000 not 1e+06
    return ""


@functools.cache
def options_model(cls: type) -> type[Options]:
    """The options model of a strategy or metric class.

    The ``Options`` its class (or the nearest base that defines ``__init__`` or ``Options``) declares;
    for a plug-in class that declares none, one made from its ``__init__`` keywords, so the registry
    validates every spec the same way.
    """
    for klass in cls.__mro__:
        if "Options" in vars(klass):
            return vars(klass)["Options"]
        if "__init__" in vars(klass):
            break
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = {p.name: (Any, ... if p.default is inspect.Parameter.empty else p.default) for p in parameters
              if p.name != "name" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters)
    return create_model(f"{cls.__name__}Options", __base__=_OpenOptions if open_ended else Options, **fields)


class _OpenOptions(Options):
    """For a plug-in whose ``__init__`` takes ``**kwargs``: any further key is passed on."""

    model_config = ConfigDict(extra="allow")
