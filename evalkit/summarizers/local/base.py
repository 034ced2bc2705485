"""What seq2seq and chat models share: options, identity, loading, budgets, context limits.

``kind: hf-seq2seq`` (:class:`~evalkit.summarizers.local.seq2seq.Seq2SeqSummarizer`) and
``kind: hf-chat`` (:class:`~evalkit.summarizers.local.chat.ChatSummarizer`) are built on
:class:`LocalSummarizer`. How they behave (see ``docs/local-models.md``):

- **Sources** (:mod:`.sources`): a hub id (pin it with ``revision``; ``HF_HUB_OFFLINE`` is
  left to the user), a local folder, a GGUF file (``model: x.gguf`` or ``gguf_file:``),
  or the alias ``smollm2-135m``.
- **Token budgets** (:mod:`.budgets`) come from the target; ``max_new_tokens`` and
  ``min_new_tokens`` options replace the derived values. A seq2seq budget is capped at the
  decoder's position limit; every cap is recorded on the summary.
- **Inputs longer than the context**: ``truncation="truncate"`` (default) keeps the head of the
  article and cuts the tail; the summary's details record ``input_tokens`` (before the cut)
  and ``truncated_tokens``. A chat model's context must hold the prompt *and*
  ``max_new_tokens``; only the article is cut, never the instruction. ``truncation="chunk"``
  summarizes consecutive pieces that fit, each with an equal share of the budget (and, for
  chat models, of the word target), and joins them in order; details add ``chunks``.
- **Speed** (:mod:`.engine`, :mod:`.loading`): the model loads once, on first use, shared by
  every system in the process that uses the same files, revision, device and dtype;
  :meth:`close` frees it. Batches are length-sorted, left-padded for causal models, and
  halved on out-of-memory.
- **Determinism**: greedy decoding (or beam search with ``num_beams``), never sampling unless
  ``generate_kwargs`` asks for it. Anything the options do not set comes from the model's
  ``generation_config.json``.
- **Fingerprint**: the model (hub id and revision; for a local folder a SHA-256 over its
  files; for a GGUF the file's SHA-256), every generation and prompt setting, the budget rule,
  the truncation policy and the transformers and torch versions (major.minor). The display
  name, ``device``, ``batch_size`` and the dtype that ``"auto"`` resolves to are not part of
  it (so a store filled on a GPU serves a CPU rerun); each summary's details say which were used.
- **Errors**: a model that cannot be loaded raises :class:`ModelNotFoundError` or
  :class:`ModelLoadError` from :meth:`load`; :meth:`summarize` turns that into a failed
  summary for every request (naming the model and how to make it available), so a run goes on
  with its other systems and a later run retries them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from evalkit.core.errors import ModelLoadError, ModelNotFoundError
from evalkit.core.fingerprint import canonical_json, digest
from evalkit.core.options import Flag, Number, Options, Text, Whole, shown
from evalkit.summarizers.base import Request, Summarizer
from evalkit.summarizers.local.budgets import BUDGET_RULE, Budget, measure_tokens_per_word, token_budget
from evalkit.summarizers.local.engine import BatchedGeneration, Part
from evalkit.summarizers.local.loading import (DTYPES, SHARED, SHARED_LOCK, Loaded, free_memory, hub_offline,
                                               is_out_of_memory, library_versions, local_model_hash, looks_like_path,
                                               resolve_dtype, select_device)
from evalkit.summarizers.local import ct2, smollm2
from evalkit.summarizers.local.ct2 import COMPUTE_TYPES, ENGINES
from evalkit.summarizers.local.sources import (Source, convert_gguf, fetch_gguf, gguf_identity, resolve_source)
from evalkit.core.types import LengthTarget

log = logging.getLogger(__name__)

TRUNCATION_POLICIES = ("truncate", "chunk")
T5_FAMILY = frozenset({"t5", "mt5", "umt5", "longt5"})
FALLBACK_CONTEXT = 1024
"""Input budget when neither the config nor the tokenizer states one."""


Positive = Annotated[Whole, Field(ge=1)]
_OWNED = frozenset({"max_new_tokens", "min_new_tokens", "num_beams", "max_length", "min_length", "input_ids",
                    "attention_mask", "generation_config"})
"""``generate`` arguments that options and the target set, not ``generate_kwargs``."""


class LocalOptions(Options):
    """Options of a local model, shared by ``hf-seq2seq`` and ``hf-chat`` (see the module docstring)."""

    model: Text
    """A hub id such as 'sshleifer/distilbart-cnn-12-6', a local directory, a .gguf file or smollm2-135m."""
    gguf_file: Text | None = None
    """The .gguf file inside a hub repository or folder (e.g. model.Q4_K_M.gguf)."""
    revision: Text | None = None
    """A branch, tag or commit hash of the hub repository (ignored for a local model)."""
    device: Text | None = None
    """``cpu``, ``cuda``, ``cuda:1`` or ``mps``; null picks the best available."""
    dtype: Literal[DTYPES] = "auto"
    """The weights' precision; ``auto`` takes bfloat16 or float16 on a GPU that has it, float32 else."""
    batch_size: Positive = 8
    """Requests per ``generate`` call (halved on out-of-memory)."""
    num_beams: Positive | None = None
    """Beam-search width; null for the model's default."""
    max_new_tokens: Positive | None = None
    """The completion budget; null derives it from the target."""
    min_new_tokens: Positive | None = None
    """The completion floor (seq2seq); null derives it from the target."""
    tokens_per_word: Literal["measure"] | Annotated[Number, Field(gt=0)] = "measure"
    """Tokens per word for derived budgets: ``measure`` reads it from the tokenizer."""
    max_input_tokens: Positive | None = None
    """The input budget; null takes the model's context."""
    truncation: Literal[TRUNCATION_POLICIES] = "truncate"
    """An article longer than the context: ``truncate`` keeps its head, ``chunk`` summarizes pieces."""
    seed: Annotated[Whole, Field(ge=0)] = 0
    """Seeds torch before generating (for sampling asked through ``generate_kwargs``)."""
    generate_kwargs: Mapping[str, Any] | None = None
    """More ``generate`` arguments (plain values), e.g. ``{repetition_penalty: 1.2}``."""
    trust_remote_code: Flag = False
    """Run the model repository's own Python code (only for repositories you trust)."""
    engine: Literal[ENGINES] = "transformers"
    """``transformers``, ``ctranslate2`` (converted once, faster on CPU) or ``auto`` (ctranslate2 when installed)."""
    compute_type: Literal[COMPUTE_TYPES] = "float32"
    """CTranslate2's precision: ``float32`` (transformers' greedy outputs), ``int8`` or ``int8_float32``."""

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must be a hub id such as 'sshleifer/distilbart-cnn-12-6', a local directory, "
                             "a .gguf file or smollm2-135m, got an empty string")
        return value

    @field_validator("gguf_file")
    @classmethod
    def _gguf_file(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(".gguf"):
            raise ValueError(f"gguf_file must name a .gguf file (e.g. model.Q4_K_M.gguf) or be null, got {shown(value)}")
        return value

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("revision must be a branch, tag or commit hash, got an empty string")
        return value

    @field_validator("generate_kwargs")
    @classmethod
    def _generate_kwargs(cls, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        owned = _OWNED & set(value or {})
        if owned:
            raise ValueError(f"generate_kwargs may not set {sorted(owned)}: use the options max_new_tokens, "
                             "min_new_tokens and num_beams (lengths come from the target)")
        plain_values("generate_kwargs", value)
        return value

    @model_validator(mode="after")
    def _budgets(self) -> LocalOptions:
        if self.max_new_tokens is not None and self.min_new_tokens is not None and \
                self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens ({self.min_new_tokens}) is larger than max_new_tokens "
                             f"({self.max_new_tokens})")
        return self


def plain_values(option: str, value: Mapping[str, Any] | None) -> None:
    """Refuse a mapping that JSON cannot hold (it goes into the fingerprint)."""
    try:
        canonical_json(dict(value or {}))
    except TypeError as exc:
        raise ValueError(f"{option} must hold plain values (numbers, strings, lists): {exc}") from exc


class LocalSummarizer(BatchedGeneration, Summarizer):
    """What seq2seq and chat models share: loading, budgets, batching, OOM retries, fingerprints."""

    auto_class: ClassVar[str]
    """The ``transformers`` auto class that loads the model."""
    uses_minimum: ClassVar[bool] = False
    """Whether derived budgets set ``min_new_tokens``."""
    version = "1"

    Options: ClassVar[type[LocalOptions]] = LocalOptions

    def __init__(self, name: str | None = None, **options: Any) -> None:
        """Options: see :class:`LocalOptions` and the subclass's."""
        super().__init__(name)
        missing = [package for package in ("torch", "transformers") if importlib.util.find_spec(package) is None]
        if missing:
            raise ValueError(f"{self.kind} needs {' and '.join(missing)}: pip install \"evalkit[local]\"")
        self.options = options = self.Options.parse(options, self.kind)
        gguf_file, revision, device = options.gguf_file, options.revision, options.device
        self.model = options.model.strip()
        self.gguf_file = gguf_file
        self._source: Source | None = None
        self._source_error: ModelNotFoundError | None = None
        try:
            self._source = (smollm2.source() if self.model.lower() == smollm2.ALIAS
                            else resolve_source(self.model, gguf_file))
        except ModelNotFoundError as exc:  # reported as failed rows by summarize, so the run goes on
            self._source_error = exc
        self.local_dir: Path | None = Path(self._source.location) if self._source and self._source.kind == "dir" \
            else None
        local = self.local_dir is not None or (self._source is not None and self._source.kind == "gguf"
                                               and self._source.gguf_file is None)
        if revision and local:
            log.warning("%s: revision %r is ignored for the local model %s", self.name, revision, self.model)
            revision = None
        self.revision = revision
        if device is not None:
            import torch

            try:
                torch.device(device)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(f"device must be e.g. 'cpu', 'cuda', 'cuda:1' or 'mps', got {device!r}") from exc
        self.device = device
        self.dtype = options.dtype
        self.batch_size, self.seed, self.num_beams = options.batch_size, options.seed, options.num_beams
        self.max_new_tokens, self.min_new_tokens = options.max_new_tokens, options.min_new_tokens
        self.max_input_tokens = options.max_input_tokens
        tokens_per_word = options.tokens_per_word
        self.tokens_per_word = tokens_per_word if tokens_per_word == "measure" else float(tokens_per_word)
        self.truncation = options.truncation
        self.generate_kwargs = dict(options.generate_kwargs or {})
        self.trust_remote_code = options.trust_remote_code
        self.engine, self.compute_type = ct2.resolve_engine(options.engine), options.compute_type
        if options.engine == "ctranslate2" and not ct2.available():
            raise ValueError(f"{self.kind} engine: ctranslate2 needs the ctranslate2 package: {ct2.INSTALL}")
        if self.engine == "transformers" and self.compute_type != "float32":
            log.warning("%s: compute_type %s applies to engine: ctranslate2 only; transformers uses dtype",
                        self.name, self.compute_type)
        self._settings: dict[str, Any] | None = None
        self._loaded: Loaded | None = None
        self._key: tuple | None = None
        self._load_error: ModelLoadError | None = None
        self._batch_now = self.batch_size

    # -- identity -------------------------------------------------------------------------
    def model_identity(self) -> dict[str, Any]:
        """The model part of the settings: hub id and revision, a local directory's or GGUF file's content hash."""
        if self._source is None:  # not installed / not found: the summaries are failures, keyed by the name
            return {"model": self.model, "gguf_file": self.gguf_file, "revision": self.revision or None}
        if self._source.kind == "gguf":
            return gguf_identity(self._source, self.revision)
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
                "budget": {"tokens_per_word": self.tokens_per_word, "rule": BUDGET_RULE,
                           "min_new_tokens": self.uses_minimum},
                "truncation": self.truncation,
                "max_input_tokens": self.max_input_tokens or "model",
                "dtype": self.dtype,
                "trust_remote_code": self.trust_remote_code,
                "libraries": library_versions(),
                **self.prompt_settings(),
            }
            if self.engine == "ctranslate2":  # absent for transformers: its fingerprints stay as they were
                self._settings["engine"] = {"name": "ctranslate2", "compute_type": self.compute_type,
                                            "version": ct2.version()}
        return self._settings

    def prompt_settings(self) -> dict[str, Any]:
        """Prompt text, prefix, template: whatever the subclass puts around the article."""
        return {}

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> Loaded:
        """The model and tokenizer, loaded on first use (and shared with other systems using the same model)."""
        if self._loaded is not None:
            return self._loaded
        if self._load_error is not None:
            raise self._load_error
        try:
            device = select_device(self.device)
            dtype = resolve_dtype(self.dtype, device)
            source, revision = self._files()
            key = (self.auto_class, source, revision, device, str(dtype), self.trust_remote_code)
            if self.engine == "ctranslate2":
                key += ("ctranslate2", self.compute_type)
            with SHARED_LOCK:
                loaded = SHARED.get(key)
                if loaded is None:
                    loaded = self._load_fresh(source, device, dtype, revision)
                    SHARED[key] = loaded
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

    def _files(self) -> tuple[str, str | None]:
        """``(folder or hub id, revision)`` to load from; a GGUF is converted to a cached folder first."""
        if self._source is None:
            raise self._source_error or ModelNotFoundError(f"{self.kind}: no model {self.model!r}")
        if self._source.kind != "gguf":
            return self._source.location, self.revision
        try:
            path = fetch_gguf(self._source, self.revision)
        except (OSError, ValueError) as exc:  # huggingface_hub's errors derive from these
            raise self._not_found(exc) from exc
        return str(convert_gguf(path, auto_class=self.auto_class)), None

    def _where(self) -> str:
        return f"{self.model!r}" + (f" (revision {self.revision!r})" if self.revision else "")

    def _not_found(self, exc: BaseException) -> ModelNotFoundError:
        """The error for a model whose config cannot be found, saying how to make it available."""
        if self.local_dir is not None:
            return ModelNotFoundError(f"{self.kind} model {self.model!r}: the directory cannot be loaded as a model "
                                      f"({type(exc).__name__}: {exc}). It needs config.json, tokenizer files and "
                                      f"weights (*.safetensors).")
        if looks_like_path(self.model):
            return ModelNotFoundError(
                f"{self.kind} model {self.model!r}: no such directory. Point 'model' at a folder that holds "
                f"config.json, the tokenizer files and the weights (e.g. one written by save_pretrained or "
                f"`huggingface-cli download <id> --local-dir <folder>`).")
        how = (f"make it available with network access (it is downloaded once into the Hugging Face cache), "
               f"or fetch it ahead with `huggingface-cli download {self.model}"
               + (f" --revision {self.revision}" if self.revision else "") +
               "` (`hf download` in newer huggingface_hub), or set 'model' to a local directory that holds it")
        if hub_offline():
            how += "; HF_HUB_OFFLINE=1 is set, so only the local cache was searched"
        else:
            how += "; with no network, set HF_HUB_OFFLINE=1 so that a cached copy is used without waiting on the hub"
        return ModelNotFoundError(f"{self.kind} cannot load the model {self._where()}: {type(exc).__name__}: "
                                  f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}. Check the id, "
                                  f"then {how}.")

    def _load_fresh(self, source: str, device: str, dtype: Any, revision: str | None) -> Loaded:
        import transformers

        common: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if revision:
            common["revision"] = revision
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
        if self.engine == "ctranslate2":
            model = ct2.load(source, key=digest(self.model_identity()), config=config, compute_type=self.compute_type,
                             device=device, revision=revision, trust_remote_code=self.trust_remote_code)
            log.info("%s: loaded %s with CTranslate2 (%s) on %s in %.1f s", self.name, self._where(),
                     self.compute_type, device, time.perf_counter() - started)
            return Loaded(model, tokenizer, config, device, self.compute_type, self._commit(source))
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
        return Loaded(model, tokenizer, config, device, str(dtype).replace("torch.", ""),
                       self._commit(source))

    def _commit(self, source: str) -> str | None:
        if self._source is None or self._source.kind != "hub":
            return None
        try:
            from transformers.utils import cached_file

            path = cached_file(source, "config.json", revision=self.revision, local_files_only=True)
        except Exception:  # provenance only: never fail a load over it
            return None
        match = re.search(r"snapshots[\\/]([0-9a-f]{40})[\\/]", str(path or ""))
        return match.group(1) if match else None

    def run_model(self, loaded: Loaded, batch: list, config: Any, stop: Any) -> list[list[int]]:
        if isinstance(loaded.model, ct2.Ct2Model):
            return ct2.run(loaded.model, loaded.tokenizer, batch, config, stop)
        return super().run_model(loaded, batch, config, stop)

    @contextlib.contextmanager
    def _threads(self, loaded: Loaded) -> Iterator[int | None]:
        if isinstance(loaded.model, ct2.Ct2Model):  # CTranslate2's threads were chosen when it loaded
            yield loaded.model.threads
            return
        with super()._threads(loaded) as threads:
            yield threads

    def check_config(self, config: Any) -> None:
        """Reject a model of the wrong shape for this kind, with a hint at the right kind."""

    def close(self) -> None:
        loaded, key = self._loaded, self._key
        self._loaded, self._key, self._load_error = None, None, None
        if loaded is None:
            return
        with SHARED_LOCK:
            loaded.users -= 1
            if loaded.users > 0:
                return
            SHARED.pop(key, None)
        device = loaded.device
        del loaded
        free_memory(device)

    # -- planning -----------------------------------------------------------------------------
    def budget_for(self, target: LengthTarget, source_tokens: int, source_words: int) -> Budget:
        """The budget for one request, measuring tokens per word on its source unless the option fixes it."""
        tpw = (measure_tokens_per_word(source_tokens, source_words) if self.tokens_per_word == "measure"
               else float(self.tokens_per_word))
        return token_budget(target, tpw, with_minimum=self.uses_minimum, max_new_tokens=self.max_new_tokens,
                            min_new_tokens=self.min_new_tokens)

    def plan(self, loaded: Loaded, request: Request) -> tuple[list[Part], dict[str, Any]]:
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

    # -- helpers for plan() -------------------------------------------------------------------------
    @staticmethod
    def encode(loaded: Loaded, text: str) -> list[int]:
        """Token ids of plain text: no special tokens added, none parsed from the text."""
        return list(loaded.tokenizer(text, add_special_tokens=False, split_special_tokens=True,
                                     verbose=False)["input_ids"])

    @staticmethod
    def pieces(loaded: Loaded, article_ids: list[int], size: int) -> list[str]:
        """The article cut into consecutive pieces of at most ``size`` tokens, as text."""
        size = max(size, 1)
        return [loaded.tokenizer.decode(article_ids[start:start + size], skip_special_tokens=True)
                for start in range(0, len(article_ids), size)]

