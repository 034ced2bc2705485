"""Devices, dtypes, content hashes of local model files, and the process-wide table of loaded models.

``device`` defaults to cuda, then mps, then cpu; ``dtype="auto"`` is float32 on cpu and mps
and bfloat16 on a GPU that supports it (float32 otherwise). A model and its tokenizer are
loaded once and shared by every system in the process that uses the same files, revision,
device and dtype (:data:`SHARED`, counted by ``users``).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.core.errors import ModelLoadError

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")


def select_device(requested: str | None = None) -> str:
    """``requested`` if given, else ``cuda`` when available, then ``mps``, then ``cpu``."""
    import torch

    if requested:
        kind = torch.device(requested).type
        if kind == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(f"device {requested!r} was asked for, but torch sees no CUDA GPU "
                                 f"(torch {torch.__version__}); use device: cpu or leave device unset")
        if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ModelLoadError(f"device {requested!r} was asked for, but MPS is not available; "
                                 "use device: cpu or leave device unset")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str, device: str) -> Any:
    """The torch dtype for a ``dtype`` option on ``device`` ("auto": see the module docstring)."""
    import torch

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for ``torch.OutOfMemoryError`` or a RuntimeError that says "out of memory" (MPS, older CUDA)."""
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_memory(device: str) -> None:
    """Return cached accelerator memory after a failure or an unload."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    elif device.startswith("mps"):
        import torch

        if hasattr(torch, "mps") and hasattr(torch.mps, "empty_cache"):
            torch.mps.empty_cache()


_HASHES: dict[tuple, str] = {}
_HASH_LOCK = threading.Lock()


def _sha256_file(path: Path) -> str:
    content = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            content.update(block)
    return content.hexdigest()


def _cached_hash(key: tuple, compute: Any) -> str:
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    result = compute()
    with _HASH_LOCK:
        _HASHES[key] = result
    return result


def file_hash(path: str | Path) -> str:
    """SHA-256 of one file's content (a GGUF), cached per process while its size and mtime hold."""
    file = Path(path).expanduser().resolve()
    stat = file.stat()
    return _cached_hash(("file", str(file), stat.st_size, stat.st_mtime_ns), lambda: _sha256_file(file))


def local_model_hash(path: str | Path) -> str:
    """SHA-256 over a model directory: each file's relative name, size and content.

    Hidden files and ``*.md`` are skipped (they cannot change outputs). Every weight shard is
    read in full, so a multi-gigabyte model takes seconds; the result is cached per process
    for unchanged files (same names, sizes and modification times).
    """
    root = Path(path).expanduser().resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)
                   and p.suffix.lower() != ".md")
    stats = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)

    def compute() -> str:
        started = time.perf_counter()
        total = hashlib.sha256()
        for file, (name, size, _) in zip(files, stats):
            total.update(f"{name}\0{size}\0{_sha256_file(file)}\n".encode())
        log.info("hashed the model directory %s (%d files, %.2f GB) in %.1f s", root, len(files),
                 sum(size for _, size, _ in stats) / 1e9, time.perf_counter() - started)
        return total.hexdigest()

    return _cached_hash(("dir", str(root), stats), compute)


def library_versions() -> dict[str, str]:
    """transformers and torch versions, major.minor (a patch release should not change outputs)."""
    from importlib import metadata

    out = {}
    for package in ("transformers", "torch"):
        try:
            out[package] = ".".join(metadata.version(package).split(".")[:2])
        except metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def hub_offline() -> bool:
    """Whether huggingface_hub is in offline mode (it reads ``HF_HUB_OFFLINE`` when first imported)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if hasattr(constants, "is_offline_mode"):
        return bool(constants.is_offline_mode())
    return bool(constants.HF_HUB_OFFLINE)


def looks_like_path(model: str) -> bool:
    """A ``model`` value meant as a file or folder rather than a hub id ``owner/name``."""
    return model.startswith(("/", "./", "../", "~", "\\")) or (len(model) > 1 and model[1] == ":") \
        or model.count("/") > 1 or model.lower().endswith(".gguf")


@dataclass
class Loaded:
    """A model with its tokenizer and config, on one device."""

    model: Any
    tokenizer: Any
    config: Any
    device: str
    dtype: str
    commit: str | None
    """The hub commit the files came from, when known."""
    users: int = 0


SHARED: dict[tuple, Loaded] = {}
"""Loaded models by ``(auto class, folder or hub id, revision, device, dtype, trust_remote_code)``."""
SHARED_LOCK = threading.Lock()
