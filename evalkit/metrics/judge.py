"""LLM-as-judge: a hosted or local chat model rates each summary against its article.

``kind: llm-judge`` sends rubric prompts through :mod:`evalkit.hosted.client` (the transport of
the API summarizers: any OpenAI-compatible endpoint or Anthropic, retries, ``Retry-After``,
circuit breaker, cost). Two built-in rubrics (``evalkit/configs/rubrics/``), or your own YAML:

- ``geval`` (default): G-Eval (Liu et al. 2023, "G-Eval: NLG Evaluation using GPT-4 with
  Better Human Alignment", EMNLP) form-filling prompts for coherence, consistency, relevance
  (1-5) and fluency (1-3, as in the paper). The reply must start with the score, optionally
  after the aspect's name (``"4"``, ``"Coherence: 4"``, ``"- Fluency (1-3): 2"``). Where the
  endpoint returns log-probabilities (OpenAI format, ``logprobs: 5``), the value is the paper's
  probability-weighted score ``sum_s p(s) * s / sum_s p(s)`` over the score tokens among the top
  alternatives at the position of the score; otherwise the stated integer.
- ``claims``: each sentence of the summary (:func:`evalkit.core.text.sentences`) is a claim; the
  judge answers whether the article supports it. Values: the supported share, the number of
  unsupported claims and of claims; ``info["unsupported_claims"]`` lists them per row, as the
  entity metric lists entities.

A reply that cannot be parsed is ``None`` with a note quoting it, never a guess: a claims row
with any unparseable answer has no share. Every reply is kept in the store as it arrives
(artifact namespace ``llm-judge``, keyed by the endpoint's settings, the exact prompt and
``max_tokens``), so a re-run, or a run interrupted and resumed, pays only for what it lacks;
with ``EVALKIT_OFFLINE=1`` nothing is sent and a missing reply raises
:class:`~evalkit.core.errors.ReplayMissError` naming the documents. ``info`` records the judge's
model, requests, tokens and cost of the row.

A custom rubric file has the shape of the built-in ones: ``name``, ``mode`` (``score`` or
``claims``), ``max_tokens``, optional ``system``, and ``criteria``, each with ``name``,
``label``, ``prompt`` (``{article}`` and ``{summary}``, or ``{claim}`` in claims mode) and, in
score mode, ``scale: [low, high]`` and optionally ``higher_is_better``.

**Long articles** (:mod:`evalkit.metrics.judge_budget`): every request must fit the judge's context
(``context_tokens``, else a table of known models, else 8192). An article that does not fit is split
on sentence boundaries into chunks that do, each chunk is judged, and the verdicts combine: a claim
is supported when **any** chunk supports it, and a score of a ``factuality`` criterion (G-Eval's
consistency) is the **maximum** over chunks (the MiniCheck / SummaC rule: support may sit anywhere
in the article); other criteria take the **mean** over chunks. With ``long_articles: refuse`` such a
row has no values and a one-line note instead. Nothing is cut silently: ``info`` records
``chunks``, ``truncated: false``, the article's tokens, the context and how tokens were counted.

**Pairwise** (``mode: pairwise``, :mod:`evalkit.metrics.judge_pairwise`): each summary is compared with
every other system's summary of the document (or those of ``systems: [a, b]``), in both orders; it
wins a pair only if it wins in both. Values: the win share (ties count half) and the share of its
pairs whose verdict flipped with the order; ``info["pairs"]`` lists every pair.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from evalkit.hosted.client import Outcome, Reply, make_transport
from evalkit.core.redact import redact_spec
from evalkit.core.errors import ConfigError, ReplayMissError
from evalkit.core.fingerprint import digest
from evalkit.core.options import Text, Whole, shown
from evalkit.hosted.options import TransportOptions
from evalkit.metrics import judge_pairwise as pairwise
from evalkit.metrics.base import Candidate, Metric, MetricResult
from evalkit.metrics.judge_budget import Context, article_budget, chunk_text, context_for, token_counter
from evalkit.core.text import sentences
from evalkit.core.types import GROUPS, Measure

log = logging.getLogger(__name__)

RUBRICS = Path(__file__).resolve().parents[1] / "configs" / "rubrics"
PARSER = "2026-12-1"
"""Changes when the reply parsing changes (it is part of the signature)."""
_NUMBER = r"(\d+(?:\.\d+)?)"
_VERDICT = re.compile(r"^\W*(yes|no|supported|unsupported|not supported)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Criterion:
    """One question a rubric asks: a score on a scale, or (claims mode) a yes/no per claim."""

    name: str
    """The value's name after the prefix: ``judge_coherence``."""
    label: str
    prompt: str
    low: int = 1
    high: int = 5
    higher_is_better: bool = True
    description: str = ""
    headline: bool = False
    """Shown in the run's default table."""
    group: str = "quality"
    """What the score is about (:data:`evalkit.core.types.GROUPS`): ``factuality`` for faithfulness to the
    article; not part of the judge's signature (it changes no score)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "prompt": self.prompt, "scale": [self.low, self.high],
                "higher_is_better": self.higher_is_better}


@dataclass(frozen=True)
class Rubric:
    """What the judge is asked, read from YAML."""

    name: str
    mode: str
    """``score`` or ``claims``."""
    criteria: tuple[Criterion, ...]
    max_tokens: int = 5
    system: str | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "max_tokens": self.max_tokens, "system": self.system,
                "criteria": [c.to_dict() for c in self.criteria]}


def load_rubric(value: str | Mapping[str, Any]) -> Rubric:
    """A built-in rubric by name (``geval``, ``claims``), a YAML file, or an inline mapping."""
    from evalkit.core import yamlsafe

    where = "the inline rubric"
    if isinstance(value, str):
        where, value = yamlsafe.read_named(value, RUBRICS, what="rubric", docs="docs/factuality.md")
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: a rubric is a mapping with name, mode and criteria")
    mode = value.get("mode", "score")
    if mode not in ("score", "claims"):
        raise ConfigError(f"{where}: mode must be 'score' or 'claims', got {mode!r}")
    fields = ("article", "summary") if mode == "score" else ("article", "claim")
    criteria = []
    for number, item in enumerate(value.get("criteria") or [], start=1):
        if not isinstance(item, Mapping) or not item.get("name") or not isinstance(item.get("prompt"), str):
            raise ConfigError(f"{where}: criterion {number} needs a name and a prompt")
        prompt = item["prompt"]
        try:
            prompt.format(**{f: "" for f in ("article", "summary", "claim")})
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{where}: criterion {item['name']!r}: the prompt may use only {{article}}, "
                              f"{{summary}} and {{claim}} (write {{{{ }}}} for literal braces): {exc!r}") from exc
        if f"{{{fields[1]}}}" not in prompt:
            raise ConfigError(f"{where}: criterion {item['name']!r}: a {mode} prompt must contain {{{fields[1]}}}")
        low, high = item.get("scale", [1, 5]) if mode == "score" else (0, 1)
        if item.get("group", "quality") not in GROUPS:
            raise ConfigError(f"{where}: criterion {item['name']!r}: group must be one of {', '.join(GROUPS)}, "
                              f"got {item.get('group')!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low >= high:
            raise ConfigError(f"{where}: criterion {item['name']!r}: scale must be [low, high] whole numbers")
        criteria.append(Criterion(str(item["name"]), str(item.get("label") or item["name"]), prompt, low, high,
                                  bool(item.get("higher_is_better", True)), str(item.get("description", "")),
                                  bool(item.get("headline", mode == "claims")),
                                  str(item.get("group", "factuality" if mode == "claims" else "quality"))))
    if not criteria or (mode == "claims" and len(criteria) != 1):
        raise ConfigError(f"{where}: give {'one criterion' if mode == 'claims' else 'at least one criterion'}")
    max_tokens = value.get("max_tokens", 5)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ConfigError(f"{where}: max_tokens must be a positive whole number, got {max_tokens!r}")
    return Rubric(str(value.get("name") or "custom"), mode, tuple(criteria), max_tokens, value.get("system"),
                  str(value.get("source", "")))


def parse_score(text: str, criterion: Criterion) -> tuple[float | None, str | None]:
    """The score a reply starts with, or ``(None, why)``. See the module docstring for the forms read."""
    label = re.escape(criterion.label)
    pattern = (rf"^\s*(?:[-*]\s*)?(?:(?:{label}|score|rating)\s*(?:\(\s*\d+\s*-\s*\d+\s*\))?\s*[:=-]?\s*)?"
               rf"{_NUMBER}\s*(?:(?:/|out of)\s*\d+)?\s*(?:[.,;)]\s*)?(?P<rest>.*)$")
    match = re.match(pattern, text, re.IGNORECASE | re.DOTALL)
    shown = text if len(text) <= 80 else text[:77] + "..."
    if not match:
        return None, f"no score at the start of the judge's reply {shown!r}"
    if match.group(1).isdigit() and re.match(r"\d*\.\s+\w", text[match.start(1):]) and match.group("rest"):
        return None, f"the judge's reply {shown!r} reads as a numbered list, not a score"
    value = float(match.group(1))
    if not criterion.low <= value <= criterion.high:
        return None, f"score {value:g} is outside {criterion.low}-{criterion.high} in the judge's reply {shown!r}"
    return value, None


def weighted_score(reply: Reply, stated: float, criterion: Criterion) -> float | None:
    """``sum p(s) s / sum p(s)`` over score tokens at the first position whose token is the stated score."""
    for position in reply.top_logprobs:
        (chosen, _), alternatives = position[0], dict(position[1:] or position[:1])
        if chosen.strip() != f"{stated:g}":
            continue
        weights: dict[int, float] = {}
        for token, logprob in alternatives.items():  # " 4" and "4" are two tokens that both say 4
            token = token.strip()
            if token.isdigit() and criterion.low <= int(token) <= criterion.high:
                weights[int(token)] = weights.get(int(token), 0.0) + math.exp(logprob)
        total = sum(weights.values())
        return sum(s * p for s, p in weights.items()) / total if total > 0 else None
    return None


def parse_verdict(text: str) -> bool | None:
    """True for a reply starting with yes/supported, False for no/unsupported/not supported, else None."""
    match = _VERDICT.match(text)
    if not match:
        return None
    return match.group(1).lower() in ("yes", "supported")


class JudgeOptions(TransportOptions):
    """Options of :class:`LLMJudge`: the transport's, and what the judge is asked."""

    provider: Literal["openai", "anthropic"] = "openai"
    """``openai`` covers every OpenAI-compatible server through ``base_url``."""
    rubric: Text | Mapping[str, Any] = "geval"
    """A built-in rubric (``geval``, ``claims``), a rubric YAML file, or an inline rubric."""
    criteria: list[Text] | None = None
    """A subset of the rubric's criteria, e.g. ``[consistency]``; null for all."""
    prefix: Text = "judge"
    """Names the values (``judge_coherence``), so two judges can sit in one run."""
    logprobs: Annotated[Whole, Field(ge=0, le=20)] | None = None
    """Top alternatives to ask for per token (default 5 for openai score rubrics, 0 = none)."""
    max_tokens_field: Text | None = None
    """``max_completion_tokens`` for OpenAI reasoning models (o-series, gpt-5)."""
    context_tokens: Annotated[Whole, Field(ge=256)] | None = None
    """The judge model's context window in tokens; null: from a table of known models, else 8192."""
    long_articles: Literal["chunk", "refuse"] = "chunk"
    """An article over the budget: judged in chunks whose verdicts combine, or refused with a note."""
    tokenizer: Text | None = None
    """A local folder or hub id whose tokenizer counts the judge's tokens; null: tiktoken or characters / 4."""
    mode: Literal["single", "pairwise"] = "single"
    """``single``: the rubric rates each summary; ``pairwise``: summaries of a document are compared in pairs."""
    systems: list[Text] | None = None
    """Pairwise: the systems compared (all pairs among them); null for every system of the run."""

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError(f"prefix must be lowercase letters, digits and _, got {shown(value)}")
        return value

    @model_validator(mode="after")
    def _logprobs(self) -> JudgeOptions:
        if self.logprobs and self.provider != "openai":
            raise ValueError("only OpenAI-format endpoints return log-probabilities; set logprobs: 0")
        return self


class LLMJudge(Metric):
    """A chat model scores summaries with a rubric (see the module docstring)."""

    kind = "llm-judge"
    version = "1"
    makes_requests = True

    Options = JudgeOptions

    def __init__(self, **options: Any) -> None:
        """Options: see :class:`JudgeOptions` and :class:`~evalkit.hosted.options.TransportOptions`."""
        options = self.Options.parse(options, self.kind)
        self.prefix = options.prefix
        self.rubric = load_rubric(options.rubric)
        criteria = options.criteria
        if criteria is not None:
            known = {c.name: c for c in self.rubric.criteria}
            unknown = [c for c in criteria if c not in known]
            if unknown or not criteria:
                raise ConfigError(f"llm-judge: criteria {unknown or criteria!r} not in rubric {self.rubric.name!r} "
                                  f"(it has {', '.join(known)})")
            self.rubric = Rubric(self.rubric.name, self.rubric.mode, tuple(known[c] for c in criteria),
                                 self.rubric.max_tokens, self.rubric.system, self.rubric.source)
        extra = {} if options.max_tokens_field is None else {"max_tokens_field": options.max_tokens_field}
        self.transport = make_transport(options.provider, **options.transport_options(), label=f"judge {self.prefix}",
                                        **extra)
        logprobs = options.logprobs
        if logprobs is None:
            score_mode = self.rubric.mode == "score" and options.mode == "single"
            logprobs = 5 if options.provider == "openai" and score_mode else 0
        self.logprobs = logprobs
        self.model = options.model
        self.context: Context = context_for(options.model, options.context_tokens)
        self.long_articles = options.long_articles
        self.tokenizer = options.tokenizer
        self._budget_set = options.model_fields_set & {"context_tokens", "long_articles", "tokenizer"}
        self.mode = options.mode
        self.systems = options.systems
        if self.systems is not None and (self.mode != "pairwise" or len(set(self.systems)) < 2):
            raise ConfigError("llm-judge: systems: names two or more systems to compare with mode: pairwise")
        self._counter = None
        self._texts: dict[str, dict[str, str]] | None = None
        self._chunks: dict[tuple[str, int], list[str] | None] = {}
        self._system = self.rubric.system if self.mode == "single" else None
        self._max_tokens = self.rubric.max_tokens if self.mode == "single" else pairwise.MAX_TOKENS

    # -- identity -------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        out = {"transport": {"provider": self.transport.provider, **self.transport.settings()},
               "rubric": self.rubric.to_dict(), "logprobs": self.logprobs, "parser": PARSER, "prefix": self.prefix}
        if self._budget_set or self.mode == "pairwise":  # only then: the signature of a plain judge stays as it was
            out["budget"] = {"context_tokens": self.context.tokens, "long_articles": self.long_articles,
                             "tokenizer": self.tokenizer}
        if self.mode == "pairwise":  # its values depend on the other systems' summaries, so they are its identity
            out["pairwise"] = {"prompt": pairwise.PROMPT, "systems": self.systems,
                               "summaries": digest(self._texts) if self._texts is not None else None}
        return out

    def prepare_summaries(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        """Pairwise mode compares each summary with the other systems' summaries of its document."""
        if self.mode == "pairwise":
            self._texts = {d: dict(by_system) for d, by_system in texts.items()}

    @property
    def key(self) -> str:
        return self.prefix

    def describe(self, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return super().describe(redact_spec(spec or {"kind": self.kind}))

    def measures(self) -> tuple[Measure, ...]:
        who = f"{self.model} as judge, rubric {self.rubric.name}"
        if self.mode == "pairwise":
            return (
                Measure(f"{self.prefix}_pairwise_win", "Pairwise wins (judge)", "fraction", True,
                        description=f"share of pairs won in both orders, ties counting half ({self.model} as judge)",
                        headline=True, tolerance=0.05, group="quality"),
                Measure(f"{self.prefix}_pairwise_flip", "Pairwise order flips (judge)", "fraction", None,
                        description="share of this summary's pairs whose verdict changed when the order was "
                                    "swapped (a property of the judge)", group="other"),
            )
        if self.rubric.mode == "claims":
            return (
                Measure(f"{self.prefix}_supported", "Claims supported (judge)", "fraction", True,
                        description=f"share of summary sentences the judge finds supported by the article ({who})",
                        headline=self.rubric.criteria[0].headline, tolerance=0.05, group="factuality"),
                Measure(f"{self.prefix}_unsupported_count", "Unsupported claims (judge)", "count", False,
                        unit="sentences", description=f"summary sentences the judge finds unsupported ({who})",
                        group="factuality"),
                Measure(f"{self.prefix}_claims", "Claims judged", "count", None, unit="sentences",
                        description="sentences of the summary sent to the judge", group="length"),
            )
        weighted = "probability-weighted" if self.logprobs else "stated"
        return tuple(
            Measure(f"{self.prefix}_{c.name}", f"Judge {c.label.lower()} ({c.low}-{c.high})", "score",
                    c.higher_is_better, description=f"{c.description or c.label}; {weighted} score, {who}",
                    headline=c.headline, tolerance=0.1 * (c.high - c.low), group=c.group)
            for c in self.rubric.criteria)

    def artifact_namespace(self) -> str | None:
        return "llm-judge"

    # -- requests ---------------------------------------------------------------------
    @property
    def counter(self):
        """How this judge counts tokens (:func:`evalkit.metrics.judge_budget.token_counter`), built on first use."""
        if self._counter is None:
            self._counter = token_counter(self.model, self.tokenizer)
        return self._counter

    def _plan(self, candidate: Candidate) -> _Plan:
        """The requests for one candidate: per item (criterion, claim, pair order), one user message per chunk."""
        text, skip = candidate.text, None
        if self.mode == "pairwise":
            texts = (self._texts or {}).get(candidate.document.id)
            mine, others = pairwise.opponents_of(texts or {}, text, self.systems)
            if texts is None:
                skip = ("pairwise judging compares the summaries of a run's systems; this summary came without "
                        "them (score it in an experiment run)")
            elif self.systems is not None and not mine:
                skip = f"not written by one of the compared systems {self.systems}"
            elif not others:
                skip = "no other system wrote a different summary of this document: nothing to compare"
            if skip:
                return _Plan([], {"self_systems": mine}, skip)
            prompt, orders = pairwise.PROMPT, [(o, systems) for o, systems in others.items()]
            frames = [prompt.format(article="", first=text, second=o) for o, _ in orders]
            make = [(f"{side}{i}", lambda a, o=o, side=side: prompt.format(
                article=a, first=text if side == "A" else o, second=o if side == "A" else text))
                for i, (o, _) in enumerate(orders) for side in "AB"]
            extra: dict[str, Any] = {"self_systems": mine, "opponents": [s for _, s in orders]}
        elif self.rubric.mode == "claims":
            prompt = self.rubric.criteria[0].prompt
            claims = sentences(text)
            frames = [prompt.format(article="", claim=c, summary=text) for c in claims]
            make = [(c, lambda a, c=c: prompt.format(article=a, claim=c, summary=text)) for c in claims]
            extra = {}
        else:
            frames = [c.prompt.format(article="", summary=text, claim="") for c in self.rubric.criteria]
            make = [(c.name, lambda a, c=c: c.prompt.format(article=a, summary=text, claim=""))
                    for c in self.rubric.criteria]
            extra = {}
        budget = article_budget(self.context, self._max_tokens, [f"{self._system or ''}\n\n{f}" for f in frames],
                                self.counter.count, f"judge {self.prefix}")
        article = candidate.document.text
        if (article, budget) not in self._chunks:
            fits = self.counter.count(article) <= budget
            self._chunks[(article, budget)] = ([article] if fits else None if self.long_articles == "refuse"
                                               else chunk_text(article, budget, self.counter.count))
        chunks = self._chunks[(article, budget)]
        info = {"chunks": 0 if chunks is None else len(chunks), "truncated": False,
                "article_tokens": self.counter.count(article), "article_budget": budget,
                "context_tokens": self.context.tokens, "context_source": self.context.source,
                "token_count": self.counter.method, **extra}
        if chunks is None:
            info["refused"] = True
            return _Plan([], info, (f"article of {info['article_tokens']} tokens ({self.counter.method}) is over the "
                                    f"{budget} the judge has for it (context_tokens {self.context.tokens}); set "
                                    "long_articles: chunk to judge it in chunks, or a larger context_tokens"))
        return _Plan([(item, [build(chunk) for chunk in chunks]) for item, build in make], info, None)

    def _request_key(self, user: str) -> str:
        return digest({"transport": {"provider": self.transport.provider, **self.transport.settings()},
                       "system": self._system, "user": user, "max_tokens": self._max_tokens,
                       "logprobs": self.logprobs})

    def _replies(self, users: list[str], where: dict[str, str]) -> dict[str, tuple[Reply | None, dict[str, Any]]]:
        """Reply (or None) and cost/failure facts per request key: from the store, else sent now.

        The store's one path for paid work: replay refuses before anything is sent; each request
        is leased, so a concurrent run on the same store waits for it and reads the stored reply
        instead of paying again; each reply is stored the moment it arrives.
        """
        keys = {self._request_key(u): u for u in users}
        out: dict[str, tuple[Reply | None, dict[str, Any]]] = {}
        self._read_stored(list(keys), out)
        missing = [k for k in keys if k not in out]
        if missing and self.replay_only:
            docs = sorted({where[keys[k]] for k in missing})
            shown = ", ".join(docs[:10]) + (f" and {len(docs) - 10} more" if len(docs) > 10 else "")
            raise ReplayMissError(
                f"this run replays stored replies only (--replay or EVALKIT_OFFLINE=1), so judge {self.prefix!r} "
                f"({self.model}, rubric {self.rubric.name}) may not call its API, but the store has no reply for "
                f"{len(missing)} judge request(s) on document(s) {shown}. Run without it to request them, or use "
                "the store that has them.")

        def work(key: str, stop: threading.Event) -> Outcome | None:
            return self.transport.request(self._system, keys[key], self._max_tokens, stop=stop,
                                          what=f"judging document {where[keys[key]]}", logprobs=self.logprobs or None)

        pending = missing
        while pending:
            mine, others = self.cache.claim(pending) if self.cache is not None else (pending, {})
            self._read_stored(mine, out)  # another run may have stored some since we looked
            todo = [k for k in mine if k not in out]

            def deliver(index: int, outcome: Outcome, todo: list[str] = todo) -> None:
                key = todo[index]  # kept the moment it arrives: a kill loses nothing paid
                if outcome.reply is not None:
                    usage = self.transport.usage_details(outcome.reply)
                    if self.cache is not None:
                        self.cache.put_many({key: json.dumps({"reply": _reply_to(outcome.reply), "usage": usage},
                                                             sort_keys=True).encode("utf-8")})
                    out[key] = (outcome.reply, usage)
                else:
                    out[key] = (None, {"error": self.transport.failure_message(outcome.failure, outcome.attempts),
                                       **self.transport.failure_details(outcome.failure, outcome.attempts)})

            try:
                self.transport.map(todo, work, deliver)
            finally:
                if self.cache is not None:
                    self.cache.release([k for k in mine if k not in out or "error" in out[k][1]])
            if not others:
                break
            log.warning("another run (pid %s) is sending %d of judge %s's requests on this store; waiting for its "
                        "replies instead of paying twice", ", ".join(map(str, sorted(set(others.values())))),
                        len(others), self.prefix)
            self.cache.wait_released(others)
            self._read_stored(list(others), out)
            pending = [k for k in others if k not in out]  # that run stopped without them: ours to send
        return {keys[k]: v for k, v in out.items()}

    def _read_stored(self, keys: list[str], out: dict[str, tuple[Reply | None, dict[str, Any]]]) -> None:
        """Add the stored replies among ``keys`` to ``out``."""
        if self.cache is None or not keys:
            return
        for key, value in self.cache.get_many(keys).items():
            data = json.loads(value)
            out[key] = (_reply_from(data), {"cached": True, **data["usage"]})

    def score(self, candidates: Sequence[Candidate]) -> list[MetricResult]:
        plans = [self._plan(c) for c in candidates]
        where = {user: c.document.id for c, plan in zip(candidates, plans) for _, users in plan.items for user in users}
        replies = self._replies(list(dict.fromkeys(where)), where) if where else {}
        refused = sum(bool(p.info.get("refused")) for p in plans)
        if refused:
            log.warning("judge %s refused %d of %d summaries: their articles are over its context (%d tokens) and "
                        "long_articles is refuse", self.prefix, refused, len(plans), self.context.tokens)
        return [self._result(plan, replies) for plan in plans]

    # -- results ------------------------------------------------------------------------------
    def _result(self, plan: _Plan, replies: Mapping[str, tuple[Reply | None, dict]]) -> MetricResult:
        values: dict[str, float | None] = {}
        notes: dict[str, str] = {}
        users = [user for _, chunk_users in plan.items for user in chunk_users]
        info: dict[str, Any] = {"judge_model": self.model, "rubric": self.rubric.name if self.mode == "single"
                                else "pairwise", "requests": len(users), **plan.info}
        facts = [replies[user][1] for user in users]
        info["tokens_prompt"] = sum(f.get("tokens_prompt") or 0 for f in facts)
        info["tokens_completion"] = sum(f.get("tokens_completion") or 0 for f in facts)
        costs = [f.get("cost_usd") for f in facts]
        info["cost_usd"] = sum(costs) if costs and all(c is not None for c in costs) else None
        failed = [f["error"] for f in facts if "error" in f]
        if failed:
            info["incomplete"] = True  # a transient failure: worth asking again on a later run
            info["errors"] = sorted(set(failed))
        if plan.skip is not None:
            return MetricResult({n: None for n in self.names}, {n: plan.skip for n in self.names}, info)
        if self.mode == "pairwise":
            return self._pairwise_result(plan, replies, info)
        if self.rubric.mode == "claims":
            return self._claims_result(plan.items, replies, values, notes, info)
        for criterion, (_, chunk_users) in zip(self.rubric.criteria, plan.items):
            name = f"{self.prefix}_{criterion.name}"
            scores, why = [], None
            for number, user in enumerate(chunk_users, start=1):
                value, reason = self._chunk_score(replies[user], criterion)
                scores.append(value)
                if reason and (why is None or value is None):
                    why = reason if len(chunk_users) == 1 else f"chunk {number} of {len(chunk_users)}: {reason}"
                if number == 1 and replies[user][0] is not None:
                    info[f"{criterion.name}_reply"] = replies[user][0].text[:200]
            if len(chunk_users) > 1:
                info[f"{criterion.name}_chunk_scores"] = scores
            if any(v is None for v in scores):
                values[name], notes[name] = None, why or "no score"
                continue
            values[name] = max(scores) if criterion.group == "factuality" else sum(scores) / len(scores)
            if why:
                notes[name] = why
        return MetricResult(values, notes, info)

    def _chunk_score(self, answer: tuple[Reply | None, dict], criterion: Criterion) -> tuple[float | None, str | None]:
        """One chunk's score of one criterion, and why it is missing or what to know about it."""
        reply, fact = answer
        if reply is None:
            return None, f"judge request failed: {fact['error']}"
        stated, why = parse_score(reply.text, criterion)
        if stated is None:
            return None, why
        weighted = weighted_score(reply, stated, criterion) if self.logprobs else None
        if self.logprobs and weighted is None:
            return stated, "the endpoint returned no log-probabilities for the score: stated score used"
        return (stated if weighted is None else weighted), None

    def _claims_result(self, items, replies, values, notes, info) -> MetricResult:
        names = [m.name for m in self.measures()]
        verdicts, unsupported, unparsed = [], [], []
        for claim, chunk_users in items:
            per_chunk = [None if replies[u][0] is None else parse_verdict(replies[u][0].text) for u in chunk_users]
            verdict = True if True in per_chunk else None if None in per_chunk else False  # supported by any chunk
            verdicts.append(verdict)
            if verdict is False:
                unsupported.append(claim)
            elif verdict is None:
                reply, fact = replies[chunk_users[per_chunk.index(None)]]
                unparsed.append({"claim": claim, "reply": fact.get("error") if reply is None else reply.text[:200]})
        info["unsupported_claims"] = unsupported
        values[names[2]] = float(len(items))
        if not items:
            values[names[0]] = values[names[1]] = None
            notes[names[0]] = notes[names[1]] = "the summary has no sentences to judge"
        elif unparsed:
            info["unparsed"] = unparsed
            values[names[0]] = values[names[1]] = None
            notes[names[0]] = notes[names[1]] = (f"{len(unparsed)} of {len(items)} claims got no yes/no answer "
                                                 f"(first: {unparsed[0]['reply']!r}); see info.unparsed")
        else:
            values[names[0]] = verdicts.count(True) / len(items)
            values[names[1]] = float(len(unsupported))
        return MetricResult(values, notes, info)

    def _pairwise_result(self, plan: _Plan, replies, info: dict[str, Any]) -> MetricResult:
        names = self.names
        outcomes = {}
        for item, chunk_users in plan.items:
            side = item[0]
            positions = [None if replies[u][0] is None else pairwise.parse_position(replies[u][0].text)
                         for u in chunk_users]
            outcomes[item] = pairwise.majority([pairwise.as_outcome(p, side) for p in positions])
        verdicts = [pairwise.PairVerdict(tuple(systems), outcomes[f"A{i}"], outcomes[f"B{i}"])
                    for i, systems in enumerate(info["opponents"])]
        info["pairs"] = [v.to_dict() for v in verdicts]
        win, flip, read = pairwise.summarize_pairs(verdicts)
        info["pairs_read"] = read
        notes = {} if read == len(verdicts) else {
            n: f"{len(verdicts) - read} of {len(verdicts)} pairs got no A/B/tie verdict in one order" for n in names}
        return MetricResult({names[0]: win, names[1]: flip}, notes, info)

    def estimate(self, candidates: Sequence[Candidate]):
        """A :class:`evalkit.hosted.pricing.CostEstimate` of judging ``candidates`` (before anything is sent)."""
        from evalkit.hosted.pricing import CostEstimate, count_tokens, token_method

        users = list(dict.fromkeys(u for c in candidates for _, chunk_users in self._plan(c).items
                                   for u in chunk_users))
        prompt = sum(count_tokens(f"{self._system or ''}\n\n{u}", self.model) for u in users)
        completion = len(users) * self._max_tokens
        price = self.transport.price
        return CostEstimate(f"judge {self.prefix}", self.model, len(users), prompt, completion, completion,
                            None if price is None else price.cost(prompt, completion),
                            None if price is None else price.cost(prompt, completion), token_method(self.model),
                            None if price is not None else f"no price for {self.model}")

    def close(self) -> None:
        self.transport.close()


@dataclass(frozen=True)
class _Plan:
    """What one candidate asks the judge."""

    items: list[tuple[str, list[str]]]
    """(criterion, claim or pair order ``A0``/``B0``..., one user message per article chunk)."""
    info: dict[str, Any]
    """The budget facts (chunks, tokens, context) and, pairwise, the systems compared."""
    skip: str | None
    """Why nothing is asked (a refused article, no pair to compare), else ``None``."""


def _reply_to(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "tokens_prompt": reply.tokens_prompt, "tokens_completion": reply.tokens_completion,
            "model": reply.model, "finish_reason": reply.finish_reason, "truncated": reply.truncated,
            "response_id": reply.response_id, "top_logprobs": [list(map(list, alts)) for alts in reply.top_logprobs]}


def _reply_from(data: Mapping[str, Any]) -> Reply:
    reply = dict(data["reply"])
    reply["top_logprobs"] = tuple(tuple((str(t), float(lp)) for t, lp in alts) for alts in reply["top_logprobs"])
    return Reply(**reply)
