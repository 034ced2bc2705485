"""Batched generation: requests become units, units become length-sorted batches, OOM halves a batch.

Units (a request, or one chunk of it) are grouped by budget and sorted by input length,
longest first, into batches of ``batch_size``, so that a batch pads little. A causal model's
batch is padded on the LEFT (it continues from the last token); an encoder-decoder's on the
right. Chat models (no ``min_new_tokens``) share a batch across budgets: the batch runs to
the largest budget and each output is cut at its own, which gives what the smaller budget
would have (greedy decoding reads no later token). A batch that runs out of memory is
retried as two halves, down to single requests, and the smaller size is kept for the rest of
the run. ``torch.manual_seed(seed)`` runs before every ``generate``; a sampling model
(``do_sample``) generates one request per call instead, seeded with
:func:`~evalkit.core.seeds.sample_seed` of ``seed``, the document and the sample index.

**Ends of summaries.** Greedy and sampled generation (one beam) stops each row at the first
sentence end once its text has the budget's ``stop_after_words`` (:class:`SentenceStop`): the
row is stopped when the next sentence has begun, and that beginning is dropped. A row that
reaches ``max_new_tokens`` is trimmed back to its last complete sentence
(:func:`evalkit.core.text.trim_to_sentence`); one without any complete sentence is kept as it is
and flagged. Each summary's details record ``stop_reason`` (``stop``: the model's end token or a
sentence end; ``length``: the budget), ``stopped_by`` (``eos``, ``sentence`` or ``budget``),
``cut`` (the budget ended the text mid-sentence) and ``trimmed_words`` (words dropped by trimming).

**Threads.** On a CPU, :meth:`BatchedGeneration.summarize` measures how many cores other
processes keep busy (:func:`evalkit.core.cpus.free_threads`) and runs torch with one thread per
free physical core for the call (never more than torch had), logging a warning when the
machine is busy: torch's threads meet at every operator, so one of them on a taken core makes
the others spin (``benchmarks/local_generation.py --busy``). Details record ``threads``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.core.cpus import free_threads
from evalkit.core.errors import ModelLoadError
from evalkit.core.fingerprint import document_hash
from evalkit.core.seeds import sample_seed
from evalkit.core.text import count_words, ends_sentence, sentences, trim_to_sentence
from evalkit.summarizers.base import Request, Sink
from evalkit.summarizers.local.loading import Loaded, free_memory, is_out_of_memory
from evalkit.core.types import Summary

log = logging.getLogger(__name__)

Part = tuple[list[int], int, int | None, int | None]
"""``(input_ids, max_new_tokens, min_new_tokens, stop_after_words)``: one generation's input and budget
(``stop_after_words``: ``None`` never stops on a sentence end before the budget)."""

STOP_REASONS = {"eos": "stop", "sentence": "stop", "budget": "length"}
"""``stopped_by`` -> ``stop_reason``, in the words of OpenAI's ``finish_reason``."""


@dataclass
class Unit:
    """One call's worth of input: a request, or one chunk of it."""

    request: int
    part: int
    input_ids: list[int]
    max_new: int
    min_new: int | None
    stop_after: int | None = None
    """Words after which a sentence end stops the unit (see :class:`SentenceStop`)."""
    seed: int | None = None
    """When sampling: the seed torch gets before this unit's own ``generate`` call (see :meth:`BatchedGeneration.unit_seed`)."""


@dataclass(frozen=True)
class Generated:
    """What one unit's generation produced."""

    text: str
    tokens: int
    """Tokens generated (including any dropped by trimming)."""
    stopped_by: str
    """``eos`` (the model's end token), ``sentence`` (a sentence end after the target) or ``budget``."""
    cut: bool = False
    """The budget ended the text mid-sentence and there was no complete sentence to trim back to."""
    trimmed_words: int = 0
    """Words of an unfinished sentence dropped at the end."""

@dataclass
class Plan:
    """What a request turned into, and what its units produced."""

    request: Request
    parts: int
    details: dict[str, Any]
    texts: list[str | None] = field(default_factory=list)
    output_tokens: int = 0
    stopped_by: list[str] = field(default_factory=list)
    cut: bool = False
    trimmed_words: int = 0
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
            seed = self.unit_seed(request)
            if seed is not None:
                details = {**details, "seed": seed}
            plans[i] = Plan(request, len(parts), details, [None] * len(parts),
                            seconds=time.perf_counter() - plan_started)
            units.extend(Unit(i, p, ids, hi, lo, after, seed) for p, (ids, hi, lo, after) in enumerate(parts))
        if self.draws_samples():  # one reply per generate call: each is drawn from its own seed
            pending = [[unit] for unit in units]
        else:
            pending = batches(units, self._batch_now, share_budgets=self.shares_budgets(loaded))
        with self._threads(loaded) as threads:
            self._work(loaded, pending, plans, emit, threads)
        return [s for s in results if s is not None]

    @contextlib.contextmanager
    def _threads(self, loaded: Loaded) -> Iterator[int | None]:
        """On a CPU, torch's threads for this call: the free physical cores (see the module docstring)."""
        if loaded.device != "cpu":
            yield None
            return
        import torch

        before = torch.get_num_threads()
        share = free_threads()
        threads = min(share.threads, before)
        if share.crowded:
            log.warning("%s: %.1f of %d cores are busy with other processes; generating with %d torch thread(s) "
                        "instead of %d (stop the other work for full speed)", self.name, share.busy, share.cores,
                        threads, before)
        torch.set_num_threads(threads)
        try:
            yield threads
        finally:
            torch.set_num_threads(before)

    def _work(self, loaded: Loaded, pending: list[list[Unit]], plans: dict[int, Plan], emit: Any,
              threads: int | None) -> None:
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
                    generated, size, seconds = outcome
                    plan.texts[unit.part] = generated.text
                    plan.output_tokens += generated.tokens
                    plan.stopped_by.append(generated.stopped_by)
                    plan.cut |= generated.cut
                    plan.trimmed_words += generated.trimmed_words
                    plan.batch_sizes.append(size)
                    plan.seconds += seconds
                if all(t is not None for t in plan.texts):
                    emit(unit.request, self._finish(loaded, plan, threads))

    def draws_samples(self) -> bool:
        """Whether generation samples (``generate_kwargs: {do_sample: true}``)."""
        return bool(self.generate_kwargs.get("do_sample"))

    def seed_policy(self) -> str:
        if not self.draws_samples():
            return "none: greedy or beam decoding, every sample is the same reply"
        return ("torch.manual_seed(sample_seed(seed, document hash, sample)) before each reply, generated one "
                "request per call")

    def unit_seed(self, request: Request) -> int | None:
        """When sampling, the seed of one request's reply: :func:`~evalkit.core.seeds.sample_seed` of the
        system's ``seed``, the document's hash and the sample index, so a reply does not depend on which
        other requests shared its batch, and a re-run draws the same one."""
        if not self.draws_samples():
            return None
        return sample_seed(self.seed, document_hash(request.document.text), request.sample)

    def shares_budgets(self, loaded: Loaded) -> bool:
        """Whether units with different ``max_new`` may share a batch (greedy, no minimum, causal)."""
        beams = self.num_beams or getattr(loaded.model.generation_config, "num_beams", None) or 1
        greedy = not self.generate_kwargs.get("do_sample") and beams == 1
        return greedy and not self.uses_minimum and not loaded.config.is_encoder_decoder

    def _finish(self, loaded: Loaded, plan: Plan, threads: int | None = None) -> Summary:
        if plan.error is not None:
            return self.failure(plan.request, plan.error, plan.seconds, details=plan.details)
        texts = [t for t in plan.texts if t]
        text = " ".join(texts) if plan.parts > 1 else (texts[0] if texts else "")
        # a chunked request stopped at the budget if any of its parts did
        stopped_by = "budget" if "budget" in plan.stopped_by else (plan.stopped_by[-1] if plan.stopped_by else "eos")
        details = {**plan.details, "output_tokens": plan.output_tokens, "stop_reason": STOP_REASONS[stopped_by],
                   "stopped_by": stopped_by, "cut": plan.cut, "trimmed_words": plan.trimmed_words,
                   "stopped_at_budget": stopped_by == "budget",
                   "device": loaded.device, "dtype": loaded.dtype, "threads": threads,
                   "batch_size": min(plan.batch_sizes) if plan.batch_sizes else None}
        if loaded.commit:
            details["model_commit"] = loaded.commit
        if not text:
            return self.failure(plan.request, f"the model generated no text ({plan.output_tokens} tokens, all special "
                                f"or whitespace)", plan.seconds, details=details)
        return Summary(document_id=plan.request.document.id, system=self.name, text=text,
                       fingerprint=self.fingerprint, seconds=plan.seconds, details=details,
                       sample=plan.request.sample)

    def _run_batch(self, loaded: Loaded, batch: list[Unit]) -> list[Any]:
        """Generate for ``batch``; on out-of-memory, retry in halves down to one. One outcome per unit:
        ``(Generated, batch_size, seconds)`` or an error message."""
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
        return [(generated, len(batch), share) for generated in outputs]

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

    def generate(self, loaded: Loaded, batch: list[Unit]) -> list[Generated]:
        """One generation call for ``batch``: what each unit produced, ended as the module docstring says."""
        config = self.generation_config(loaded, max(u.max_new for u in batch), batch[0].min_new)
        eos = config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        stop = None
        if (config.num_beams or 1) == 1:  # beam search keeps rows apart from beams: it is only trimmed
            stop = SentenceStop(lambda row: self.decode(loaded, row), 0, [u.max_new for u in batch],
                                [u.stop_after for u in batch], eos_ids)
        rows = self.run_model(loaded, batch, config, stop)
        results = []
        for i, (unit, row) in enumerate(zip(batch, rows)):
            row = row[:unit.max_new]  # a shared batch ran to the largest budget
            end = next((k + 1 for k, token in enumerate(row) if token in eos_ids), None)
            at = stop.stopped.get(i) if stop is not None else None
            if at is not None and (end is None or end > at):  # a sentence ended after the target
                results.append(self._ended(loaded, row[:at], "sentence"))
            elif end is not None:
                results.append(self._ended(loaded, row[:end], "eos"))
            else:
                results.append(self._ended(loaded, row, "budget" if len(row) >= unit.max_new else "eos"))
        return results

    def run_model(self, loaded: Loaded, batch: list[Unit], config: Any, stop: SentenceStop | None) -> list[list[int]]:
        """One ``model.generate`` call (transformers): the token ids each unit generated, its prompt left out."""
        import torch

        left = not loaded.config.is_encoder_decoder  # a decoder-only model continues from the last token
        ids, mask = pad_batch([u.input_ids for u in batch], config.pad_token_id, left=left)
        width = len(ids[0])
        input_ids = torch.tensor(ids, dtype=torch.long, device=loaded.device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=loaded.device)
        offset = 1 if loaded.config.is_encoder_decoder else width  # the decoder start token / the prompt
        extra: dict[str, Any] = {}
        if stop is not None:
            from transformers import StoppingCriteriaList

            stop.offset = offset
            extra["stopping_criteria"] = StoppingCriteriaList([stop])
        torch.manual_seed(self.seed if batch[0].seed is None else batch[0].seed)  # sampling: one unit, its own seed
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                                        **extra)
        return out[:, offset:].tolist()

    def _ended(self, loaded: Loaded, kept: list[int], stopped_by: str) -> Generated:
        """A unit's text, trimmed to its last complete sentence unless the model ended it itself."""
        text = self.decode(loaded, kept)
        if stopped_by == "eos" or ends_sentence(text):
            return Generated(text, len(kept), stopped_by)
        trimmed = trim_to_sentence(text)
        if not trimmed:
            return Generated(text, len(kept), stopped_by, cut=stopped_by == "budget")
        return Generated(trimmed, len(kept), stopped_by, trimmed_words=count_words(text) - count_words(trimmed))

    def decode(self, loaded: Loaded, token_ids: list[int]) -> str:
        return loaded.tokenizer.decode(token_ids, skip_special_tokens=True).strip()


class SentenceStop:
    """A ``transformers`` stopping criterion that ends each row of a batch on its own terms.

    A row stops at its own ``max_new_tokens`` (a shared batch runs to the largest), or, once the
    sentences it has completed hold ``stop_after_words`` words, as soon as the next sentence
    begins (:func:`evalkit.core.text.sentences` then sees two pieces, which keeps "U.S." or
    "3.5" from reading as ends). :attr:`stopped` says, per row, how many tokens it had then.
    """

    def __init__(self, decode: Callable[[list[int]], str], offset: int, limits: Sequence[int],
                 stop_after: Sequence[int | None], eos_ids: set[int]) -> None:
        self.decode, self.offset, self.limits, self.stop_after, self.eos_ids = decode, offset, limits, stop_after, eos_ids
        self.stopped: dict[int, int] = {}
        """Row -> tokens generated when a sentence end stopped it."""

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = [self.row_done(i, row) for i, row in enumerate(input_ids[:, self.offset:].tolist())]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def row_done(self, i: int, row: list[int]) -> bool:
        """Whether row ``i``, having generated ``row``, is done: its budget is spent or a sentence ended after the
        target (a CTranslate2 step callback asks the same question)."""
        return i in self.stopped or len(row) >= self.limits[i] or self._sentence_ended(i, row)

    def _sentence_ended(self, i: int, row: list[int]) -> bool:
        after = self.stop_after[i]
        if after is None or len(row) < after or self.eos_ids.intersection(row):
            return False  # a word is at least a token; a row past its end token is the model's own stop
        text = self.decode(row)
        # a terminator at the very end may still go on ("3." -> "3.5"): wait for the next sentence to begin
        if ends_sentence(text) or len(sentences(text)) < 2 or count_words(trim_to_sentence(text)) < after:
            return False
        self.stopped[i] = len(row)
        return True


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
