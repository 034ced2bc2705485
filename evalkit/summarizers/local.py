"""Local Hugging Face models: encoder-decoder summarizers and chat-tuned causal models.

``kind: hf-seq2seq`` (:class:`Seq2SeqSummarizer`) runs any ``AutoModelForSeq2SeqLM`` (BART,
PEGASUS, T5, mT5...) with ``generate``; ``kind: hf-chat`` (:class:`ChatSummarizer`) runs an
instruct ``AutoModelForCausalLM`` (Qwen, Llama, Mistral, Phi...) through its tokenizer's chat
template, with a system prompt and an instruction that carries the length target
(:meth:`LengthTarget.describe`: "Summarize the following news article in about 60 words").
``model`` is a hub id (pin it with ``revision``) or a local directory. ``HF_HUB_OFFLINE`` is
left to the user: with it set only the local cache is searched. OpenAI-compatible servers on
this machine (Ollama, llama.cpp, vLLM) are reached with ``kind: openai`` and ``base_url``.

How it behaves (see ``docs/local-models.md``):

- **Token budgets** come from the target. The expected length is ``W`` words: the target's
  ``words``, else 25 per sentence, else 100 per paragraph, else 75 (three news sentences).
  ``tokens_per_word`` is measured on the source (its tokens / its words, rounded *up* to a
  multiple of 0.25, kept within 1..4; 1.4 when the source has no words), or fixed by the
  option. Then ``max_new_tokens = ceil(W * tokens_per_word * 1.5)`` (``* 2.0`` for an
  ``at_least`` word target) and, for seq2seq models only, ``min_new_tokens =
  floor(0.5 * max_new_tokens)`` when the target counts words with bound ``about``,
  ``at_least`` or ``exactly`` (none for ``at_most`` or a sentence/paragraph-only target; none
  for chat models, which would be forced past their end-of-turn). ``max_new_tokens`` and
  ``min_new_tokens`` options replace the derived values. A seq2seq budget is capped at the
  decoder's position limit; every cap is recorded on the summary.
- **Inputs longer than the context**: ``truncation="truncate"`` (default) keeps the head of the
  article and cuts the tail; the summary's details record ``input_tokens`` (before the cut)
  and ``truncated_tokens`` (how many were cut). A chat model's context must hold the prompt
  *and* ``max_new_tokens``, and only the article is cut, never the instruction.
  ``truncation="chunk"`` instead splits the article into consecutive pieces that fit,
  summarizes each with an equal share of the budget (and, for chat models, of the word
  target) and joins the pieces' summaries in order; details add ``chunks``.
- **Speed**: the model and tokenizer load once, on first use, and are shared by every system
  in the process that uses the same model, revision, device and dtype; :meth:`close` frees
  them. Requests are grouped by token budget and sorted by input length into batches of
  ``batch_size`` (outputs come back in request order). A batch that runs out of memory is
  retried as two halves, down to single requests, and the smaller size is kept for the rest
  of the run. ``device`` defaults to cuda, then mps, then cpu; ``dtype="auto"`` is float32 on
  cpu and mps and bfloat16 on a GPU that supports it (float32 otherwise).
- **Determinism**: greedy decoding (or beam search with ``num_beams``), never sampling unless
  ``generate_kwargs`` asks for it; ``torch.manual_seed(seed)`` before every ``generate``.
  Anything the options do not set comes from the model's ``generation_config.json``.
- **Fingerprint**: the model (hub id and revision, or for a local directory a SHA-256 over
  its files' names, sizes and contents), every generation and prompt setting, the budget rule,
  the truncation policy and the transformers and torch versions (major.minor). The display
  name, ``device``, ``batch_size`` and the dtype that ``"auto"`` resolves to are not part of
  it (so a store filled on a GPU serves a CPU rerun); each summary's details say which were used.
- **Errors**: a model that cannot be loaded raises :class:`ModelNotFoundError` or
  :class:`ModelLoadError` from :meth:`load`; :meth:`summarize` turns that into a failed
  summary for every request (naming the model and how to make it available), so a run goes on
  with its other systems and a later run retries them.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import importlib.util
import logging
import math
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from evalkit.fingerprint import canonical_json, digest
from evalkit.pricing import WORDS_PER_PARAGRAPH, WORDS_PER_SENTENCE, WORDS_UNCONSTRAINED, expected_words
from evalkit.summarizers.api import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT, check_prompt  # as API models
from evalkit.summarizers.base import Request, Sink, Summarizer
from evalkit.text import count_words
from evalkit.types import LengthTarget, Summary

log = logging.getLogger(__name__)

DEFAULT_TOKENS_PER_WORD = 1.4
"""Tokens per word when the source has no words to measure on."""
TOKENS_PER_WORD_STEP = 0.25
"""A measured ratio is rounded up to a multiple of this, so that requests share budgets (and batches)."""
TOKENS_PER_WORD_RANGE = (1.0, 4.0)
HEADROOM = 1.5
"""``max_new_tokens`` is this many times the expected token count."""
AT_LEAST_HEADROOM = 2.0
"""The same for an ``at_least`` word target, whose summaries may run long."""
MIN_FRACTION = 0.5
"""A seq2seq ``min_new_tokens`` is this fraction of ``max_new_tokens`` (about, at_least, exactly)."""
DTYPES = ("auto", "float32", "bfloat16", "float16")
TRUNCATION_POLICIES = ("truncate", "chunk")
T5_FAMILY = frozenset({"t5", "mt5", "umt5", "longt5"})
T5_PREFIX = "summarize: "
FALLBACK_CONTEXT = 1024
"""Input budget when neither the config nor the tokenizer states one."""


_ARTICLE = "\x00article\x00"
_THINKING = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)
_BUDGET_RULE = {"headroom": HEADROOM, "at_least_headroom": AT_LEAST_HEADROOM, "min_fraction": MIN_FRACTION,
                "tokens_per_word_default": DEFAULT_TOKENS_PER_WORD, "tokens_per_word_step": TOKENS_PER_WORD_STEP,
                "tokens_per_word_range": list(TOKENS_PER_WORD_RANGE), "words_per_sentence": WORDS_PER_SENTENCE,
                "words_per_paragraph": WORDS_PER_PARAGRAPH, "words_unconstrained": WORDS_UNCONSTRAINED}


from evalkit.errors import ModelLoadError, ModelNotFoundError  # noqa: E402  (re-exported)


# -- token budgets ------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """How many tokens one request may generate."""

    max_new_tokens: int
    min_new_tokens: int | None
    """``None``: the model may stop whenever it likes."""
    tokens_per_word: float
    words: int
    """The expected summary length in words the budget was derived from."""


def measure_tokens_per_word(n_tokens: int, n_words: int) -> float:
    """The source's tokens per word, rounded up to a multiple of 0.25 and kept within 1..4."""
    if n_words <= 0 or n_tokens <= 0:
        return DEFAULT_TOKENS_PER_WORD
    ratio = math.ceil(n_tokens / n_words / TOKENS_PER_WORD_STEP - 1e-9) * TOKENS_PER_WORD_STEP
    return min(max(ratio, TOKENS_PER_WORD_RANGE[0]), TOKENS_PER_WORD_RANGE[1])


def token_budget(target: LengthTarget, tokens_per_word: float, *, with_minimum: bool,
                 max_new_tokens: int | None = None, min_new_tokens: int | None = None) -> Budget:
    """The generation budget for ``target`` (the rule is in the module docstring).

    ``with_minimum`` is True for seq2seq models; explicit ``max_new_tokens`` /
    ``min_new_tokens`` replace the derived values.
    """
    words = expected_words(target)
    headroom = AT_LEAST_HEADROOM if target.words is not None and target.bound == "at_least" else HEADROOM
    maximum = max_new_tokens if max_new_tokens is not None else max(1, math.ceil(words * tokens_per_word * headroom))
    minimum = min_new_tokens
    if minimum is None and with_minimum and target.words is not None and target.bound in ("about", "at_least",
                                                                                          "exactly"):
        minimum = math.floor(MIN_FRACTION * maximum)
    if minimum is not None:
        minimum = min(minimum, maximum) or None
    return Budget(maximum, minimum, tokens_per_word, words)


# -- devices, dtypes, fingerprints of local directories ------------------------------------
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


_DIR_HASHES: dict[tuple, str] = {}
_DIR_HASH_LOCK = threading.Lock()


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
    key = (str(root), stats)
    with _DIR_HASH_LOCK:
        if key in _DIR_HASHES:
            return _DIR_HASHES[key]
    started = time.perf_counter()
    total = hashlib.sha256()
    for file, (name, size, _) in zip(files, stats):
        content = hashlib.sha256()
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content.update(block)
        total.update(f"{name}\0{size}\0{content.hexdigest()}\n".encode())
    result = total.hexdigest()
    log.info("hashed the model directory %s (%d files, %.2f GB) in %.1f s", root, len(files),
             sum(size for _, size, _ in stats) / 1e9, time.perf_counter() - started)
    with _DIR_HASH_LOCK:
        _DIR_HASHES[key] = result
    return result


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


def _hub_offline() -> bool:
    """Whether huggingface_hub is in offline mode (it reads ``HF_HUB_OFFLINE`` when first imported)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if hasattr(constants, "is_offline_mode"):
        return bool(constants.is_offline_mode())
    return bool(constants.HF_HUB_OFFLINE)


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~", "\\")) or (len(model) > 1 and model[1] == ":") \
        or model.count("/") > 1


# -- loaded models, shared across systems ---------------------------------------------------
@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    config: Any
    device: str
    dtype: str
    commit: str | None
    """The hub commit the files came from, when known."""
    users: int = 0


_SHARED: dict[tuple, _Loaded] = {}
_SHARED_LOCK = threading.Lock()


Part = tuple[list[int], int, int | None]
"""``(input_ids, max_new_tokens, min_new_tokens)``: one generation's input and budget."""


@dataclass
class _Unit:
    """One call's worth of input: a request, or one chunk of it."""

    request: int
    part: int
    input_ids: list[int]
    max_new: int
    min_new: int | None


@dataclass
class _Plan:
    """What a request turned into, and what its units produced."""

    request: Request
    parts: int
    details: dict[str, Any]
    texts: list[str | None] = field(default_factory=list)
    output_tokens: int = 0
    stopped_at_budget: bool = False
    seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)
    error: str | None = None


class LocalSummarizer(Summarizer):
    """What seq2seq and chat models share: loading, budgets, batching, OOM retries, fingerprints."""

    auto_class: ClassVar[str]
    """The ``transformers`` auto class that loads the model."""
    uses_minimum: ClassVar[bool] = False
    """Whether derived budgets set ``min_new_tokens``."""
    version = "1"

    def __init__(self, name: str | None = None, *, model: str, revision: str | None = None,
                 device: str | None = None, dtype: str = "auto", batch_size: int = 8, num_beams: int | None = None,
                 max_new_tokens: int | None = None, min_new_tokens: int | None = None,
                 tokens_per_word: float | str = "measure", max_input_tokens: int | None = None,
                 truncation: str = "truncate", seed: int = 0, generate_kwargs: Mapping[str, Any] | None = None,
                 trust_remote_code: bool = False) -> None:
        super().__init__(name)
        missing = [package for package in ("torch", "transformers") if importlib.util.find_spec(package) is None]
        if missing:
            raise ValueError(f"{self.kind} needs {' and '.join(missing)}: pip install \"evalkit[local]\"")
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"{self.kind}: model must be a hub id such as 'sshleifer/distilbart-cnn-12-6' or a local "
                             f"directory, got {model!r}")
        self.model = model.strip()
        self.local_dir: Path | None = None
        candidate = Path(self.model).expanduser()
        if candidate.is_dir():
            self.local_dir = candidate.resolve()
        if revision is not None and (not isinstance(revision, str) or not revision.strip()):
            raise ValueError(f"revision must be a branch, tag or commit hash, got {revision!r}")
        if revision and self.local_dir is not None:
            log.warning("%s: revision %r is ignored for the local directory %s", self.name, revision, self.local_dir)
            revision = None
        self.revision = revision
        if device is not None:
            import torch

            try:
                torch.device(device)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(f"device must be e.g. 'cpu', 'cuda', 'cuda:1' or 'mps', got {device!r}") from exc
        self.device = device
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
        self.dtype = dtype
        for option, value, low in (("batch_size", batch_size, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{option} must be a whole number >= {low}, got {value!r}")
        for option, value in (("num_beams", num_beams), ("max_new_tokens", max_new_tokens),
                              ("min_new_tokens", min_new_tokens), ("max_input_tokens", max_input_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{option} must be a positive whole number or null (automatic), got {value!r}")
        if max_new_tokens is not None and min_new_tokens is not None and min_new_tokens > max_new_tokens:
            raise ValueError(f"min_new_tokens ({min_new_tokens}) is larger than max_new_tokens ({max_new_tokens})")
        if tokens_per_word != "measure" and (isinstance(tokens_per_word, bool) or
                                             not isinstance(tokens_per_word, (int, float)) or tokens_per_word <= 0):
            raise ValueError(f"tokens_per_word must be 'measure' or a positive number, got {tokens_per_word!r}")
        if truncation not in TRUNCATION_POLICIES:
            raise ValueError(f"truncation must be one of {', '.join(TRUNCATION_POLICIES)}; got {truncation!r}")
        generate_kwargs = dict(generate_kwargs or {})
        owned = {"max_new_tokens", "min_new_tokens", "num_beams", "max_length", "min_length", "input_ids",
                 "attention_mask", "generation_config"} & set(generate_kwargs)
        if owned:
            raise ValueError(f"generate_kwargs may not set {sorted(owned)}: use the options max_new_tokens, "
                             "min_new_tokens and num_beams (lengths come from the target)")
        try:
            canonical_json(generate_kwargs)
        except TypeError as exc:
            raise ValueError(f"generate_kwargs must hold plain values (numbers, strings, lists): {exc}") from exc
        self.batch_size, self.seed, self.num_beams = batch_size, seed, num_beams
        self.max_new_tokens, self.min_new_tokens = max_new_tokens, min_new_tokens
        self.max_input_tokens = max_input_tokens
        self.tokens_per_word = tokens_per_word if tokens_per_word == "measure" else float(tokens_per_word)
        self.truncation = truncation
        self.generate_kwargs = generate_kwargs
        self.trust_remote_code = bool(trust_remote_code)
        self._settings: dict[str, Any] | None = None
        self._loaded: _Loaded | None = None
        self._key: tuple | None = None
        self._load_error: ModelLoadError | None = None
        self._batch_now = batch_size

    # -- identity -------------------------------------------------------------------------
    def model_identity(self) -> dict[str, Any]:
        """The model part of the settings: hub id and revision, or a local directory's content hash."""
        if self.local_dir is not None:
            return {"model": f"local:sha256:{local_model_hash(self.local_dir)}", "revision": None}
        return {"model": self.model, "revision": self.revision or "main"}

    def settings(self) -> dict[str, Any]:
        if self._settings is None:
            self._settings = {
                **self.model_identity(),
                "generation": {"num_beams": self.num_beams or "model default",
                               "max_new_tokens": self.max_new_tokens or "auto",
                               "min_new_tokens": self.min_new_tokens or "auto",
                               "generate_kwargs": self.generate_kwargs, "seed": self.seed},
                "budget": {"tokens_per_word": self.tokens_per_word, "rule": _BUDGET_RULE,
                           "min_new_tokens": self.uses_minimum},
                "truncation": self.truncation,
                "max_input_tokens": self.max_input_tokens or "model",
                "dtype": self.dtype,
                "trust_remote_code": self.trust_remote_code,
                "libraries": library_versions(),
                **self.prompt_settings(),
            }
        return self._settings

    def prompt_settings(self) -> dict[str, Any]:
        """Prompt text, prefix, template: whatever the subclass puts around the article."""
        return {}

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> _Loaded:
        """The model and tokenizer, loaded on first use (and shared with other systems using the same model)."""
        if self._loaded is not None:
            return self._loaded
        if self._load_error is not None:
            raise self._load_error
        try:
            device = select_device(self.device)
            dtype = resolve_dtype(self.dtype, device)
            source = str(self.local_dir) if self.local_dir is not None else self.model
            key = (self.auto_class, source, self.revision, device, str(dtype), self.trust_remote_code)
            with _SHARED_LOCK:
                loaded = _SHARED.get(key)
                if loaded is None:
                    loaded = self._load_fresh(source, device, dtype)
                    _SHARED[key] = loaded
                loaded.users += 1
        except ModelLoadError as exc:
            self._load_error = exc
            raise
        except Exception as exc:  # anything else that stops a load is reported the same way
            self._load_error = ModelLoadError(f"{self.kind}: loading {self._where()} failed: "
                                              f"{type(exc).__name__}: {exc}")
            raise self._load_error from exc
        self._loaded, self._key = loaded, key
        return loaded

    def _where(self) -> str:
        return f"{self.model!r}" + (f" (revision {self.revision!r})" if self.revision else "")

    def _not_found(self, exc: BaseException) -> ModelNotFoundError:
        """The error for a model whose config cannot be found, saying how to make it available."""
        if self.local_dir is not None:
            return ModelNotFoundError(f"{self.kind} model {self.model!r}: the directory cannot be loaded as a model "
                                      f"({type(exc).__name__}: {exc}). It needs config.json, tokenizer files and "
                                      f"weights (*.safetensors).")
        if _looks_like_path(self.model):
            return ModelNotFoundError(
                f"{self.kind} model {self.model!r}: no such directory. Point 'model' at a folder that holds "
                f"config.json, the tokenizer files and the weights (e.g. one written by save_pretrained or "
                f"`huggingface-cli download <id> --local-dir <folder>`).")
        how = (f"make it available with network access (it is downloaded once into the Hugging Face cache), "
               f"or fetch it ahead with `huggingface-cli download {self.model}"
               + (f" --revision {self.revision}" if self.revision else "") +
               "` (`hf download` in newer huggingface_hub), or set 'model' to a local directory that holds it")
        if _hub_offline():
            how += "; HF_HUB_OFFLINE=1 is set, so only the local cache was searched"
        else:
            how += "; with no network, set HF_HUB_OFFLINE=1 so that a cached copy is used without waiting on the hub"
        return ModelNotFoundError(f"{self.kind} cannot load the model {self._where()}: {type(exc).__name__}: "
                                  f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}. Check the id, "
                                  f"then {how}.")

    def _load_fresh(self, source: str, device: str, dtype: Any) -> _Loaded:
        import transformers

        common: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.revision:
            common["revision"] = self.revision
        started = time.perf_counter()
        try:
            config = transformers.AutoConfig.from_pretrained(source, **common)
        except (OSError, ValueError) as exc:
            raise self._not_found(exc) from exc
        self.check_config(config)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **common)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelLoadError(f"{self.kind}: the tokenizer of {self._where()} cannot be loaded: "
                                 f"{type(exc).__name__}: {exc}") from exc
        tokenizer.truncation_side = "right"  # the truncate policy keeps the head, whatever the checkpoint says
        auto = getattr(transformers, self.auto_class)
        try:
            model = auto.from_pretrained(source, config=config, dtype=dtype, **common)
            model.to(device)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{self.kind}: the weights of {self._where()} cannot be loaded: "
                                 f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            if is_out_of_memory(exc):
                raise ModelLoadError(f"{self.kind}: {self._where()} does not fit in memory on {device}: use a smaller "
                                     f"model, dtype: bfloat16 (or float16), or another device") from exc
            raise
        model.eval()
        # Lengths come from the target, never from the checkpoint's own max_length / min_length (distilbart-cnn
        # sets min_length=56, which would outlast a short budget). Unset, they fall back to generate's defaults.
        model.generation_config.max_length = None
        model.generation_config.min_length = None
        log.info("%s: loaded %s on %s (%s) in %.1f s", self.name, self._where(), device, dtype,
                 time.perf_counter() - started)
        return _Loaded(model, tokenizer, config, device, str(dtype).replace("torch.", ""),
                       self._commit(source))

    def _commit(self, source: str) -> str | None:
        if self.local_dir is not None:
            return None
        try:
            from transformers.utils import cached_file

            path = cached_file(source, "config.json", revision=self.revision, local_files_only=True)
        except Exception:  # provenance only: never fail a load over it
            return None
        match = re.search(r"snapshots[\\/]([0-9a-f]{40})[\\/]", str(path or ""))
        return match.group(1) if match else None

    def check_config(self, config: Any) -> None:
        """Reject a model of the wrong shape for this kind, with a hint at the right kind."""

    def close(self) -> None:
        loaded, key = self._loaded, self._key
        self._loaded, self._key, self._load_error = None, None, None
        if loaded is None:
            return
        with _SHARED_LOCK:
            loaded.users -= 1
            if loaded.users > 0:
                return
            _SHARED.pop(key, None)
        device = loaded.device
        del loaded
        gc.collect()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    # -- planning -----------------------------------------------------------------------------
    def budget_for(self, target: LengthTarget, source_tokens: int, source_words: int) -> Budget:
        """The budget for one request, measuring tokens per word on its source unless the option fixes it."""
        tpw = (measure_tokens_per_word(source_tokens, source_words) if self.tokens_per_word == "measure"
               else float(self.tokens_per_word))
        return token_budget(target, tpw, with_minimum=self.uses_minimum, max_new_tokens=self.max_new_tokens,
                            min_new_tokens=self.min_new_tokens)

    def plan(self, loaded: _Loaded, request: Request) -> tuple[list[Part], dict[str, Any]]:
        """``([(input_ids, max_new, min_new) per part], details)`` for one request."""
        raise NotImplementedError

    def context_limit(self, config: Any, tokenizer: Any) -> int:
        """The longest input the model takes: ``max_input_tokens``, capped by the config's position limit."""
        positional = None
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                positional = value
                break
        if getattr(config, "model_type", None) in T5_FAMILY:
            positional = None  # relative positions: no hard limit; the tokenizer says what it was trained on
        if self.max_input_tokens is not None:
            return min(self.max_input_tokens, positional) if positional else self.max_input_tokens
        stated = getattr(tokenizer, "model_max_length", None)
        stated = stated if isinstance(stated, int) and 0 < stated < 1_000_000 else None
        limits = [v for v in (positional, stated) if v]
        return min(limits) if limits else FALLBACK_CONTEXT

    # -- work ------------------------------------------------------------------------------------
    def summarize(self, requests: Sequence[Request], sink: Sink | None = None) -> list[Summary]:
        requests = list(requests)
        results: list[Summary | None] = [None] * len(requests)

        def emit(index: int, summary: Summary) -> None:
            results[index] = summary
            if sink is not None:
                sink(summary)

        if not requests:
            return []
        started = time.perf_counter()
        try:
            loaded = self.load()
        except ModelLoadError as exc:
            log.error("%s: %s", self.name, exc)
            for i, request in enumerate(requests):
                emit(i, self.failure(request, exc, time.perf_counter() - started))
            return [s for s in results if s is not None]
        plans: dict[int, _Plan] = {}
        units: list[_Unit] = []
        for i, request in enumerate(requests):
            plan_started = time.perf_counter()
            if not request.document.text.strip():
                emit(i, self.failure(request, "the document has no text to summarize"))
                continue
            try:
                parts, details = self.plan(loaded, request)
            except Exception as exc:  # one bad request (e.g. a template error) must not stop the others
                log.warning("%s failed on document %s: %s", self.name, request.document.id, exc)
                emit(i, self.failure(request, exc, time.perf_counter() - plan_started))
                continue
            plans[i] = _Plan(request, len(parts), details, [None] * len(parts),
                             seconds=time.perf_counter() - plan_started)
            units.extend(_Unit(i, p, ids, hi, lo) for p, (ids, hi, lo) in enumerate(parts))
        groups: dict[tuple[int, int], list[_Unit]] = defaultdict(list)
        for unit in units:
            groups[(unit.max_new, unit.min_new or 0)].append(unit)
        for key in sorted(groups):
            group = sorted(groups[key], key=lambda u: (-len(u.input_ids), u.request, u.part))
            position = 0
            while position < len(group):
                batch = group[position:position + self._batch_now]
                position += len(batch)
                for unit, outcome in zip(batch, self._run_batch(loaded, batch)):
                    plan = plans[unit.request]
                    if isinstance(outcome, str):
                        plan.error = plan.error or outcome
                        plan.texts[unit.part] = ""
                    else:
                        text, n_tokens, at_budget, size, seconds = outcome
                        plan.texts[unit.part] = text
                        plan.output_tokens += n_tokens
                        plan.stopped_at_budget |= at_budget
                        plan.batch_sizes.append(size)
                        plan.seconds += seconds
                    if all(t is not None for t in plan.texts):
                        emit(unit.request, self._finish(loaded, plan))
        return [s for s in results if s is not None]

    def _finish(self, loaded: _Loaded, plan: _Plan) -> Summary:
        if plan.error is not None:
            return self.failure(plan.request, plan.error, plan.seconds, details=plan.details)
        texts = [t for t in plan.texts if t]
        text = " ".join(texts) if plan.parts > 1 else (texts[0] if texts else "")
        details = {**plan.details, "output_tokens": plan.output_tokens, "stopped_at_budget": plan.stopped_at_budget,
                   "device": loaded.device, "dtype": loaded.dtype,
                   "batch_size": min(plan.batch_sizes) if plan.batch_sizes else None}
        if loaded.commit:
            details["model_commit"] = loaded.commit
        if not text:
            return self.failure(plan.request, f"the model generated no text ({plan.output_tokens} tokens, all special "
                                f"or whitespace)", plan.seconds, details=details)
        return Summary(document_id=plan.request.document.id, system=self.name, text=text,
                       fingerprint=self.fingerprint, seconds=plan.seconds, details=details)

    def _run_batch(self, loaded: _Loaded, batch: list[_Unit]) -> list[Any]:
        """Generate for ``batch``; on out-of-memory, retry in halves down to one. One outcome per unit:
        ``(text, output_tokens, stopped_at_budget, batch_size, seconds)`` or an error message."""
        started = time.perf_counter()
        try:
            outputs = self.generate(loaded, batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                log.warning("%s: generation failed for a batch of %d: %s", self.name, len(batch), exc)
                return [f"{type(exc).__name__}: {exc}"] * len(batch)
            _free_memory(loaded.device)
            longest = max(len(u.input_ids) for u in batch)
            if len(batch) == 1:
                message = (f"out of memory on {loaded.device} even with batch size 1 ({longest} input tokens, "
                           f"{batch[0].max_new} new): lower max_input_tokens, use dtype: bfloat16, or a smaller model")
                log.warning("%s: %s", self.name, message)
                return [message]
            half = (len(batch) + 1) // 2
            self._batch_now = min(self._batch_now, half)
            log.warning("%s: out of memory with a batch of %d (longest input %d tokens); retrying with batch size %d",
                        self.name, len(batch), longest, half)
            return self._run_batch(loaded, batch[:half]) + self._run_batch(loaded, batch[half:])
        share = (time.perf_counter() - started) / len(batch)
        return [(text, n, at_budget, len(batch), share) for text, n, at_budget in outputs]

    def generation_config(self, loaded: _Loaded, max_new: int, min_new: int | None) -> Any:
        """The model's own generation config with ours laid over it: deterministic unless asked otherwise."""
        config = copy.deepcopy(loaded.model.generation_config)
        if not self.generate_kwargs.get("do_sample"):
            # neutral values, not None: generate would fill None from the checkpoint (e.g. temperature 0.7)
            config.do_sample = False
            config.temperature, config.top_p, config.top_k, config.typical_p = 1.0, 1.0, 50, 1.0
        if self.num_beams is not None:
            config.num_beams = self.num_beams
        for option, value in self.generate_kwargs.items():
            setattr(config, option, value)
        config.max_new_tokens = max_new
        config.min_new_tokens = min_new
        if config.pad_token_id is None:
            config.pad_token_id = self.pad_id(loaded)
        return config

    @staticmethod
    def pad_id(loaded: _Loaded) -> int:
        tokenizer = loaded.tokenizer
        if tokenizer.pad_token_id is not None:
            return tokenizer.pad_token_id
        eos = loaded.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        if isinstance(eos, (list, tuple)):
            eos = eos[0] if eos else None
        if eos is None:
            raise ModelLoadError(f"{loaded.model.name_or_path}: the tokenizer has neither a pad nor an end token")
        return eos

    def generate(self, loaded: _Loaded, batch: list[_Unit]) -> list[tuple[str, int, bool]]:
        """One ``model.generate`` call: ``(text, output_tokens, stopped_at_budget)`` per unit."""
        import torch

        max_new, min_new = batch[0].max_new, batch[0].min_new
        config = self.generation_config(loaded, max_new, min_new)
        pad = config.pad_token_id
        width = max(len(u.input_ids) for u in batch)
        left = not loaded.config.is_encoder_decoder  # a decoder-only model continues from the last token
        ids, mask = [], []
        for unit in batch:
            filler = [pad] * (width - len(unit.input_ids))
            ones, zeros = [1] * len(unit.input_ids), [0] * len(filler)
            ids.append(filler + unit.input_ids if left else unit.input_ids + filler)
            mask.append(zeros + ones if left else ones + zeros)
        input_ids = torch.tensor(ids, dtype=torch.long, device=loaded.device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=loaded.device)
        torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
        generated = out[:, 1:] if loaded.config.is_encoder_decoder else out[:, width:]  # drop decoder start / prompt
        eos = config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        results = []
        for row in generated.tolist():
            end = next((k + 1 for k, token in enumerate(row) if token in eos_ids), None)
            kept = row[:end] if end is not None else row
            results.append((self.decode(loaded, kept), len(kept), len(kept) >= max_new))  # budget used up
        return results

    def decode(self, loaded: _Loaded, token_ids: list[int]) -> str:
        return loaded.tokenizer.decode(token_ids, skip_special_tokens=True).strip()

    # -- helpers for plan() -------------------------------------------------------------------------
    @staticmethod
    def encode(loaded: _Loaded, text: str) -> list[int]:
        """Token ids of plain text: no special tokens added, none parsed from the text."""
        return list(loaded.tokenizer(text, add_special_tokens=False, split_special_tokens=True,
                                     verbose=False)["input_ids"])

    @staticmethod
    def pieces(loaded: _Loaded, article_ids: list[int], size: int) -> list[str]:
        """The article cut into consecutive pieces of at most ``size`` tokens, as text."""
        size = max(size, 1)
        return [loaded.tokenizer.decode(article_ids[start:start + size], skip_special_tokens=True)
                for start in range(0, len(article_ids), size)]


def _with_specials(tokenizer: Any, text: str, limit: int | None = None) -> list[int]:
    """A seq2seq input: the model's special tokens around ``text`` (whose own ``</s>`` is just text),
    cut to ``limit`` tokens keeping the head."""
    options: dict[str, Any] = {"split_special_tokens": True, "verbose": False}
    if limit is not None:
        options.update(truncation=True, max_length=limit)
    return list(tokenizer(text, **options)["input_ids"])


def _free_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    elif device.startswith("mps"):
        import torch

        if hasattr(torch, "mps") and hasattr(torch.mps, "empty_cache"):
            torch.mps.empty_cache()


class Seq2SeqSummarizer(LocalSummarizer):
    """An encoder-decoder model (BART, PEGASUS, T5...) fine-tuned to summarize: article in, summary out.

    ``prefix`` is put before the article; by default ("auto") it is the model config's
    ``task_specific_params.summarization.prefix`` if there is one, else ``"summarize: "`` for
    T5-family models (t5, mt5, umt5, longt5), else nothing.
    """

    kind = "hf-seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"
    uses_minimum = True

    def __init__(self, name: str | None = None, *, model: str, prefix: str | None = None,
                 revision: str | None = None, device: str | None = None, dtype: str = "auto", batch_size: int = 8,
                 num_beams: int | None = None, max_new_tokens: int | None = None, min_new_tokens: int | None = None,
                 tokens_per_word: float | str = "measure", max_input_tokens: int | None = None,
                 truncation: str = "truncate", seed: int = 0, generate_kwargs: Mapping[str, Any] | None = None,
                 trust_remote_code: bool = False) -> None:
        if prefix is not None and not isinstance(prefix, str):
            raise ValueError(f"prefix must be a string (e.g. 'summarize: ') or null for automatic, got {prefix!r}")
        self.prefix = prefix
        super().__init__(name, model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size,
                         num_beams=num_beams, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                         tokens_per_word=tokens_per_word, max_input_tokens=max_input_tokens, truncation=truncation,
                         seed=seed, generate_kwargs=generate_kwargs, trust_remote_code=trust_remote_code)

    def prompt_settings(self) -> dict[str, Any]:
        return {"prefix": self.prefix if self.prefix is not None else "auto"}

    def check_config(self, config: Any) -> None:
        if not getattr(config, "is_encoder_decoder", False):
            raise ModelLoadError(f"{self.kind}: {self._where()} is a decoder-only model ({config.model_type}); "
                                 "use kind: hf-chat for instruct models")

    def prefix_for(self, config: Any) -> str:
        if self.prefix is not None:
            return self.prefix
        task = (getattr(config, "task_specific_params", None) or {}).get("summarization") or {}
        if task.get("prefix"):
            return task["prefix"]
        return T5_PREFIX if getattr(config, "model_type", None) in T5_FAMILY else ""

    def plan(self, loaded: _Loaded, request: Request) -> tuple[list[Part], dict[str, Any]]:
        tokenizer, config = loaded.tokenizer, loaded.config
        article = request.document.text
        prefix = self.prefix_for(config)
        article_ids = self.encode(loaded, article)
        budget = self.budget_for(request.target, len(article_ids), count_words(article))
        limit = self.context_limit(config, tokenizer)
        full = _with_specials(tokenizer, prefix + article)
        details: dict[str, Any] = {"input_tokens": len(full), "truncated_tokens": 0, "max_input_tokens": limit,
                                   "max_new_tokens": budget.max_new_tokens, "min_new_tokens": budget.min_new_tokens,
                                   "tokens_per_word": budget.tokens_per_word, "truncation": self.truncation}
        if prefix:
            details["prefix"] = prefix
        max_new, min_new = budget.max_new_tokens, budget.min_new_tokens
        decoder_limit = self._decoder_limit(config)
        if decoder_limit is not None and max_new > decoder_limit:
            details["max_new_tokens_capped"] = decoder_limit
            max_new = decoder_limit
            min_new = min(min_new, max_new) if min_new is not None else None
        if len(full) <= limit:
            return [(list(full), max_new, min_new)], details
        if self.truncation == "truncate":
            kept = _with_specials(tokenizer, prefix + article, limit)
            details["truncated_tokens"] = len(full) - len(kept)
            return [(list(kept), max_new, min_new)], details
        overhead = len(full) - len(article_ids)  # special tokens and the prefix
        texts = self.pieces(loaded, article_ids, limit - overhead - 2)
        n = len(texts)
        parts, cut = [], 0
        for text in texts:
            ids = _with_specials(tokenizer, prefix + text)
            if len(ids) > limit:  # decoding and re-encoding a piece can grow it by a token or two
                cut += len(ids) - limit
                ids = _with_specials(tokenizer, prefix + text, limit)
            share_min = math.floor(min_new / n) if min_new else 0
            parts.append((list(ids), max(1, max_new // n), share_min or None))
        details.update(chunks=n, truncated_tokens=cut)
        return parts, details

    @staticmethod
    def _decoder_limit(config: Any) -> int | None:
        """How many tokens the decoder can write (None: no absolute positions, as in T5)."""
        if getattr(config, "model_type", None) in T5_FAMILY:
            return None
        positions = getattr(config, "max_position_embeddings", None)
        return positions - 1 if isinstance(positions, int) and positions > 1 else None  # one for the start token


class ChatSummarizer(LocalSummarizer):
    """A chat-tuned causal model, prompted through its tokenizer's chat template.

    The user message is ``prompt`` with ``{target}`` replaced by the target's description
    ("in about 60 words, in 2 paragraphs") and ``{article}`` by the article; ``system_prompt``
    (``null`` for none) goes first. A template that rejects a system role gets the system
    prompt at the top of the user message instead. ``chat_template`` replaces the tokenizer's
    template; ``chat_template_kwargs`` are passed to it (e.g. ``{enable_thinking: false}``). A
    leading ``<think>...</think>`` block is removed from the reply.
    """

    kind = "hf-chat"
    auto_class = "AutoModelForCausalLM"
    uses_minimum = False

    def __init__(self, name: str | None = None, *, model: str, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                 prompt: str = DEFAULT_PROMPT, chat_template: str | None = None,
                 chat_template_kwargs: Mapping[str, Any] | None = None, revision: str | None = None,
                 device: str | None = None, dtype: str = "auto", batch_size: int = 8, num_beams: int | None = None,
                 max_new_tokens: int | None = None, min_new_tokens: int | None = None,
                 tokens_per_word: float | str = "measure", max_input_tokens: int | None = None,
                 truncation: str = "truncate", seed: int = 0, generate_kwargs: Mapping[str, Any] | None = None,
                 trust_remote_code: bool = False) -> None:
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise ValueError(f"system_prompt must be a string or null, got {system_prompt!r}")
        check_prompt(prompt)
        if chat_template is not None and (not isinstance(chat_template, str) or not chat_template.strip()):
            raise ValueError("chat_template must be a Jinja template string or null (the tokenizer's own)")
        self.system_prompt = system_prompt or None
        self.prompt = prompt
        self.chat_template = chat_template
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        try:
            canonical_json(self.chat_template_kwargs)
        except TypeError as exc:
            raise ValueError(f"chat_template_kwargs must hold plain values: {exc}") from exc
        super().__init__(name, model=model, revision=revision, device=device, dtype=dtype, batch_size=batch_size,
                         num_beams=num_beams, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                         tokens_per_word=tokens_per_word, max_input_tokens=max_input_tokens, truncation=truncation,
                         seed=seed, generate_kwargs=generate_kwargs, trust_remote_code=trust_remote_code)

    def prompt_settings(self) -> dict[str, Any]:
        return {"system_prompt": self.system_prompt, "prompt": self.prompt,
                "chat_template": digest(self.chat_template) if self.chat_template else "tokenizer",
                "chat_template_kwargs": self.chat_template_kwargs}

    def check_config(self, config: Any) -> None:
        if getattr(config, "is_encoder_decoder", False):
            raise ModelLoadError(f"{self.kind}: {self._where()} is an encoder-decoder model ({config.model_type}); "
                                 "use kind: hf-seq2seq")

    def user_message(self, target: LengthTarget, article: str) -> str:
        phrase = target.describe()
        head = self.prompt.format(article=_ARTICLE, target=phrase)
        if not phrase:  # "the article ." -> "the article."
            head = re.sub(r"[ \t]+(?=[.,;:!?])", "", head)
            head = re.sub(r"[ \t]{2,}", " ", head)
        return head.replace(_ARTICLE, article)

    def render(self, loaded: _Loaded, target: LengthTarget) -> tuple[str, str, bool]:
        """The chat-templated prompt around the article: ``(text before, text after, system folded in)``."""
        tokenizer = loaded.tokenizer
        template = self.chat_template or getattr(tokenizer, "chat_template", None)
        if not template:
            raise ModelLoadError(f"{self.kind}: {self._where()} has no chat template (not an instruct model?); give "
                                 "one with the chat_template option, or use hf-seq2seq for a summarization model")
        user = self.user_message(target, _ARTICLE)
        conversations = []
        if self.system_prompt:
            conversations.append(([{"role": "system", "content": self.system_prompt},
                                   {"role": "user", "content": user}], False))
            conversations.append(([{"role": "user", "content": f"{self.system_prompt}\n\n{user}"}], True))
        else:
            conversations.append(([{"role": "user", "content": user}], False))
        error: Exception | None = None
        for messages, folded in conversations:
            try:
                text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                     add_generation_prompt=True, **self.chat_template_kwargs)
            except Exception as exc:  # jinja raises its own errors, e.g. "System role not supported"
                error = exc
                continue
            if text.count(_ARTICLE) != 1:
                raise ValueError(f"{self.kind}: the chat template of {self._where()} does not place the user message "
                                 "verbatim; give a chat_template that does")
            before, after = text.split(_ARTICLE)
            return before, after, folded
        raise ValueError(f"{self.kind}: the chat template of {self._where()} failed: {error}")

    def plan(self, loaded: _Loaded, request: Request) -> tuple[list[Part], dict[str, Any]]:
        article = request.document.text
        article_ids = self.encode(loaded, article)
        budget = self.budget_for(request.target, len(article_ids), count_words(article))
        context = self.context_limit(loaded.config, loaded.tokenizer)
        positional = getattr(loaded.config, "max_position_embeddings", None) or context
        max_new = budget.max_new_tokens
        details: dict[str, Any] = {"max_new_tokens": max_new, "min_new_tokens": None,
                                   "tokens_per_word": budget.tokens_per_word, "truncation": self.truncation}
        before, after, folded = self.render(loaded, request.target)
        head, tail = self.encode_template(loaded, before), self.encode_template(loaded, after)
        room = min(context, positional - max_new)  # the prompt and the reply share the positions
        details.update(input_tokens=len(head) + len(article_ids) + len(tail), truncated_tokens=0,
                       max_input_tokens=room)
        if folded:
            details["system_prompt_in_user_message"] = True
        space = room - len(head) - len(tail)
        if space < 1:
            raise ValueError(f"the prompt ({len(head) + len(tail)} tokens without the article) and max_new_tokens "
                             f"({max_new}) do not fit the model's {positional}-token context; shorten the prompt "
                             f"or lower max_new_tokens")
        if len(article_ids) <= space:
            return [(head + article_ids + tail, max_new, None)], details
        if self.truncation == "truncate":
            details["truncated_tokens"] = len(article_ids) - space
            return [(head + article_ids[:space] + tail, max_new, None)], details
        texts = self.pieces(loaded, article_ids, space - 8)  # room for a longer "{target}" phrase per piece
        n = len(texts)
        piece_target = _share(request.target, n)
        before, after, _ = self.render(loaded, piece_target)
        head, tail = self.encode_template(loaded, before), self.encode_template(loaded, after)
        space = room - len(head) - len(tail)
        parts, cut = [], 0
        for text in texts:
            ids = self.encode(loaded, text)
            cut += max(0, len(ids) - space)
            parts.append((head + ids[:max(space, 1)] + tail, max(1, max_new // n), None))
        details.update(chunks=n, truncated_tokens=cut, chunk_target=piece_target.describe())
        return parts, details

    @staticmethod
    def encode_template(loaded: _Loaded, text: str) -> list[int]:
        """Template text, whose control tokens (``<|im_start|>``) are meant as tokens."""
        return list(loaded.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def decode(self, loaded: _Loaded, token_ids: list[int]) -> str:
        return _THINKING.sub("", super().decode(loaded, token_ids)).strip()


def _share(target: LengthTarget, parts: int) -> LengthTarget:
    """The part of ``target`` that one of ``parts`` chunks should produce."""
    words = math.ceil(expected_words(target) / parts)
    bound = target.bound if target.words is not None else "about"
    return LengthTarget(words=max(words, 1), bound=bound)
