"""Where a local model's files come from: a hub id, a folder, or a GGUF file (converted once, cached).

``model`` is a hub id (pinned with ``revision``), a local folder, a ``.gguf`` file, a folder
or hub id together with ``gguf_file: name.gguf``, or the alias ``smollm2-135m``
(:mod:`evalkit.summarizers.local.smollm2`). transformers reads a GGUF by dequantizing it
(``from_pretrained(dir, gguf_file=...)``, which needs the ``gguf`` and ``accelerate``
packages) and that takes seconds to minutes, so the first load saves the result as an
ordinary model folder under :func:`cache_dir` keyed by the file's SHA-256; later loads read
that folder. The fingerprint names the GGUF by its hash, so the alias and a path to the same
file share stored summaries.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.core.errors import ModelLoadError, ModelNotFoundError
from evalkit.summarizers.local.loading import file_hash, library_versions

log = logging.getLogger(__name__)

MARKER = "evalkit-gguf.json"
"""Written last into a converted folder: a folder without it is an interrupted conversion."""
GGUF_PACKAGES = ("gguf", "accelerate")


@dataclass(frozen=True)
class Source:
    """Where one configured model's files are."""

    kind: str
    """``hub`` (an id), ``dir`` (a local folder) or ``gguf`` (a GGUF file, local or on the hub)."""
    location: str
    """The hub id, the folder, or for a local GGUF the file's path."""
    gguf_file: str | None = None
    """For a GGUF on the hub: the file name inside the repository."""


def cache_dir() -> Path:
    """``$EVALKIT_CACHE/models``, else ``$XDG_CACHE_HOME/evalkit/models``, else ``~/.cache/evalkit/models``."""
    if os.environ.get("EVALKIT_CACHE"):
        return Path(os.environ["EVALKIT_CACHE"]).expanduser() / "models"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "evalkit" / "models"


def resolve_source(model: str, gguf_file: str | None = None) -> Source:
    """What ``model`` (and ``gguf_file``) name; raises :class:`ModelNotFoundError` for a missing
    GGUF file. The ``smollm2-135m`` alias is :func:`evalkit.summarizers.local.smollm2.source`."""
    if gguf_file is not None and (not isinstance(gguf_file, str) or not gguf_file.lower().endswith(".gguf")):
        raise ValueError(f"gguf_file must name a .gguf file (e.g. model.Q4_K_M.gguf), got {gguf_file!r}")
    path = Path(model).expanduser()
    if gguf_file is not None:
        if path.is_dir():
            file = path / gguf_file
            if not file.is_file():
                raise ModelNotFoundError(f"no GGUF file {gguf_file!r} in {path}; list it with `ls {path}` and fix "
                                         "gguf_file")
            return Source("gguf", str(file.resolve()))
        return Source("gguf", model, gguf_file=gguf_file)  # on the hub
    if model.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelNotFoundError(f"no such GGUF file: {model!r}; point 'model' at a .gguf file or download one "
                                     "(e.g. `huggingface-cli download <repo> <file>.gguf --local-dir .`)")
        return Source("gguf", str(path.resolve()))
    if path.is_dir():
        return Source("dir", str(path.resolve()))
    return Source("hub", model)


def gguf_identity(source: Source, revision: str | None) -> dict[str, str | None]:
    """The fingerprint's model part for a GGUF: the local file's hash, or the hub id, revision and file."""
    if source.gguf_file is None:
        return {"model": f"gguf:sha256:{file_hash(source.location)}", "revision": None}
    return {"model": source.location, "gguf_file": source.gguf_file, "revision": revision or "main"}


def missing_gguf_packages() -> list[str]:
    return [package for package in GGUF_PACKAGES if importlib.util.find_spec(package) is None]


def fetch_gguf(source: Source, revision: str | None) -> Path:
    """The local path of a GGUF source (a hub file is downloaded into the Hugging Face cache)."""
    if source.gguf_file is None:
        return Path(source.location)
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=source.location, filename=source.gguf_file, revision=revision))


def write_folder(target: Path, marker: str, write: Callable[[Path], None], facts: dict) -> None:
    """Make the folder ``target`` atomically: ``write`` fills a temporary folder beside it, ``marker`` (``facts`` as
    JSON) is written last, then the folder is renamed into place. A ``target`` without its marker (an interrupted
    conversion) is replaced; one that another process finished first is kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(scratch)
        (scratch / marker).write_text(json.dumps(facts, indent=1) + "\n")
        if target.exists() and not (target / marker).is_file():
            shutil.rmtree(target, ignore_errors=True)  # left by an interrupted conversion
        try:
            os.replace(scratch, target)
        except OSError:  # another process finished first (the target exists and is not empty)
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def read_gguf_once() -> Iterator[None]:
    """While converting, the ``gguf`` package parses a file once and maps tensor names once.

    transformers reads a GGUF file's header three times (the tokenizer, the config, the
    weights), each a ``gguf.GGUFReader`` walking every metadata field in Python, and rebuilds
    ``gguf.get_tensor_name_map`` for every submodule (397 times for SmolLM2): 18 s of the
    first run's conversion. Both are pure for a given file and architecture, so within this
    block a reader is made once per (path, mode) and the name map once per argument; the
    weights come out byte-identical (tests/test_local.py compares them).
    """
    import gguf

    names, reader = gguf.get_tensor_name_map, gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def read(path: str | os.PathLike, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = reader(path, mode)
        return readers[key]

    gguf.get_tensor_name_map, gguf.GGUFReader = functools.lru_cache(maxsize=None)(names), read
    try:
        yield
    finally:
        gguf.get_tensor_name_map, gguf.GGUFReader = names, reader


def convert_gguf(gguf: str | Path, *, auto_class: str, cache: str | Path | None = None) -> Path:
    """A saved model folder for ``gguf``: converted on first use, then read from the cache.

    Raises :class:`ModelLoadError` when ``gguf``/``accelerate`` are missing or transformers
    cannot read the file (e.g. an architecture it does not support in GGUF form).
    """
    gguf = Path(gguf).resolve()
    sha = file_hash(gguf)
    root = Path(cache) if cache is not None else cache_dir()
    target = root / f"{gguf.stem}-{sha[:16]}-{auto_class}"
    if (target / MARKER).is_file():
        return target
    missing = missing_gguf_packages()
    if missing:
        raise ModelLoadError(f"reading the GGUF file {gguf.name} needs {' and '.join(missing)}: "
                             f"pip install {' '.join(missing)} (or pip install \"evalkit[local]\")")
    import transformers

    started = time.perf_counter()
    log.info("converting %s to a transformers folder under %s (once; later loads use it)", gguf, root)
    try:
        with read_gguf_once():
            tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = getattr(transformers, auto_class).from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"transformers cannot read the GGUF file {gguf}: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    # A model dequantized from GGUF refuses save_pretrained ("quantized with gguf") until these are cleared.
    model.hf_quantizer = None
    model.config.quantization_config = None

    def write(scratch: Path) -> None:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)

    write_folder(target, MARKER, write, {"gguf_file": gguf.name, "sha256": sha, "auto_class": auto_class,
                                         **library_versions()})
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)
    return target
