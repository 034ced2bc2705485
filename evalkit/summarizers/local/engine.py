"""Batched generation: requests become units, units become length-sorted batches, OOM halves a batch.

Units (a request, or one chunk of it) are grouped by budget and sorted by input length,
longest first, into batches of ``batch_size``, so that a batch pads little. A causal model's
batch is padded on the LEFT (it continues from the last token); an encoder-decoder's on the
right. Chat models (no ``min_new_tokens``) share a batch across budgets: the batch runs to
the largest budget and each output is cut at its own, which gives what the smaller budget
would have (greedy decoding reads no later token). A batch that runs out of memory is
retried as two halves, down to single requests, and the smaller size is kept for the rest of
the run. ``torch.manual_seed(seed)`` runs before every ``generate``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.core.errors import ModelLoadError
from evalkit.summarizers.base import Request, Sink
from evalkit.summarizers.local.loading import Loaded, free_memory, is_out_of_memory
from evalkit.core.types import Summary

log = logging.getLogger(__name__)

Part = tuple[list[int], int, int | None]
"""``(input_ids, max_new_tokens, min_new_tokens)``: one generation's input and budget."""


@dataclass
class Unit:
    """One call's worth of input: a request, or one chunk of it."""

    request: int
    part: int
    input_ids: list[int]
    max_new: int
    min_new: int | None


@dataclass
class Plan:
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


def batches(units: Sequence[Unit], size: int, *, share_budgets: bool) -> list[list[Unit]]:
    """``units`` in batches of at most ``size``: grouped by budget (only by ``min_new`` when
    ``share_budgets``), each group sorted longest input first."""
    groups: dict[tuple[int, int], list[Unit]] = defaultdict(list)
    for unit in units:
        groups[(0 if share_budgets else unit.max_new, unit.min_new or 0)].append(unit)
    out = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda u: (-len(u.input_ids), u.request, u.part))
        out.extend(group[start:start + size] for start in range(0, len(group), size))
    return out


def pad_batch(rows: Sequence[list[int]], pad: int, *, left: bool) -> tuple[list[list[int]], list[list[int]]]:
    """``(input_ids, attention_mask)`` padded to the longest row, on the left or the right."""
    width = max(len(row) for row in rows)
    ids, mask = [], []
    for row in rows:
        filler = [pad] * (width - len(row))
        ones, zeros = [1] * len(row), [0] * len(filler)
        ids.append(filler + list(row) if left else list(row) + filler)
        mask.append(zeros + ones if left else ones + zeros)
    return ids, mask


class BatchedGeneration:
    """The work loop of a local summarizer (mixed into :class:`LocalSummarizer`)."""

    name: str
    seed: int
    num_beams: int | None
    generate_kwargs: dict[str, Any]
    uses_minimum: bool
    _batch_now: int

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
        plans: dict[int, Plan] = {}
        units: list[Unit] = []
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
            plans[i] = Plan(request, len(parts), details, [None] * len(parts),
                            seconds=time.perf_counter() - plan_started)
            units.extend(Unit(i, p, ids, hi, lo) for p, (ids, hi, lo) in enumerate(parts))
        pending = batches(units, self._batch_now, share_budgets=self.shares_budgets(loaded))
        while pending:
            batch = pending.pop(0)
            if len(batch) > self._batch_now:  # an out-of-memory retry lowered the size: re-cut what is left
                pending.insert(0, batch[self._batch_now:])
                batch = batch[:self._batch_now]
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

    def shares_budgets(self, loaded: Loaded) -> bool:
        """Whether units with different ``max_new`` may share a batch (greedy, no minimum, causal)."""
        beams = self.num_beams or getattr(loaded.model.generation_config, "num_beams", None) or 1
        greedy = not self.generate_kwargs.get("do_sample") and beams == 1
        return greedy and not self.uses_minimum and not loaded.config.is_encoder_decoder

    def _finish(self, loaded: Loaded, plan: Plan) -> Summary:
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

    def _run_batch(self, loaded: Loaded, batch: list[Unit]) -> list[Any]:
        """Generate for ``batch``; on out-of-memory, retry in halves down to one. One outcome per unit:
        ``(text, output_tokens, stopped_at_budget, batch_size, seconds)`` or an error message."""
        started = time.perf_counter()
        try:
            outputs = self.generate(loaded, batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                log.warning("%s: generation failed for a batch of %d: %s", self.name, len(batch), exc)
                return [f"{type(exc).__name__}: {exc}"] * len(batch)
            free_memory(loaded.device)
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

    def generation_config(self, loaded: Loaded, max_new: int, min_new: int | None) -> Any:
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
            config.pad_token_id = pad_id(loaded)
        return config

    def generate(self, loaded: Loaded, batch: list[Unit]) -> list[tuple[str, int, bool]]:
        """One ``model.generate`` call: ``(text, output_tokens, stopped_at_budget)`` per unit."""
        import torch

        config = self.generation_config(loaded, max(u.max_new for u in batch), batch[0].min_new)
        left = not loaded.config.is_encoder_decoder  # a decoder-only model continues from the last token
        ids, mask = pad_batch([u.input_ids for u in batch], config.pad_token_id, left=left)
        width = len(ids[0])
        input_ids = torch.tensor(ids, dtype=torch.long, device=loaded.device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=loaded.device)
        torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
        generated = out[:, 1:] if loaded.config.is_encoder_decoder else out[:, width:]  # drop decoder start / prompt
        eos = config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        results = []
        for unit, row in zip(batch, generated.tolist()):
            row = row[:unit.max_new]  # a shared batch ran to the largest budget
            end = next((k + 1 for k, token in enumerate(row) if token in eos_ids), None)
            kept = row[:end] if end is not None else row
            results.append((self.decode(loaded, kept), len(kept), end is None and len(kept) >= unit.max_new))
        return results

    def decode(self, loaded: Loaded, token_ids: list[int]) -> str:
        return loaded.tokenizer.decode(token_ids, skip_special_tokens=True).strip()


def pad_id(loaded: Loaded) -> int:
    """The tokenizer's pad token, else the end token (what a model without padding pads with)."""
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
