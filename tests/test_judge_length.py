"""The judge's token budget: long articles are chunked (verdicts combined) or refused, never cut.

Chunk counts and combined values are worked out by hand from the fake server's replies; the real
SmolLM2 ``transformers serve`` shows the same through the counting proxy.
"""

from __future__ import annotations

import json
import re

import pytest
from api_server import serve  # noqa: F401  (a fixture)

from evalkit.core.errors import ConfigError
from evalkit.core.text import words
from evalkit.core.types import Candidate, Document
from evalkit.metrics.judge_budget import DEFAULT_CONTEXT, chunk_text, context_for
from evalkit.run.registry import build_metric

KEY_ENV = "EVALKIT_TEST_JUDGE_KEY"
FAST = {"timeout": 5, "backoff": 0.01, "max_backoff": 0.05, "max_retries": 2}
ARTICLE_MARK = re.compile(r"<<(.*?)>>", re.DOTALL)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EVALKIT_OFFLINE", "EVALKIT_PRICES", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-judge-test-0123456789")


def word_count(text: str) -> int:
    return len(text.split())


def test_chunks_break_between_sentences_and_keep_every_word():
    # sentences of 3, 4, 5 and 2 words; a budget of 7 words: [3+4], [5+2] (3+4+5 = 12 would not fit)
    text = "One two three. Four five six seven. Eight nine ten eleven twelve. Thirteen fourteen."
    assert chunk_text(text, 7, word_count) == ["One two three. Four five six seven.",
                                               "Eight nine ten eleven twelve. Thirteen fourteen."]
    assert chunk_text(text, 100, word_count) == [text]  # fits: sent as it is
    # a sentence of 5 words over a budget of 2 is split between words: 2 + 2 + 1, still nothing lost
    assert chunk_text("Eight nine ten eleven twelve.", 2, word_count) == ["Eight nine", "ten eleven", "twelve."]


def test_the_context_comes_from_the_option_the_table_or_the_default():
    assert context_for("gpt-4o-mini", None).tokens == 128_000
    assert context_for("HuggingFaceTB/SmolLM2-135M-Instruct", None).tokens == 8_192
    assert context_for("claude-3-5-haiku", None).source == "known model table"
    unknown = context_for("my-own-model", None)
    assert unknown.tokens == DEFAULT_CONTEXT == 8192 and "set context_tokens" in unknown.source
    assert context_for("gpt-4o", 2048).tokens == 2048


def long_article(doc_id: str, n: int) -> str:
    """``n`` numbered sentences of eleven words each; the fact about parks is in sentence 0 only."""
    first = f"[doc:{doc_id}] Sentence 0: the council approved four million dollars for parks."
    rest = [f"Sentence {i}: residents talked about the weather outside the hall today." for i in range(1, n)]
    return " ".join([first, *rest])


RUBRIC = {"name": "marked", "mode": "score", "max_tokens": 2, "criteria": [
    {"name": "consistency", "label": "Consistency", "group": "factuality", "scale": [1, 5],
     "prompt": "Rate consistency.\n<<{article}>>\nSummary: {summary}"},
    {"name": "coherence", "label": "Coherence", "scale": [1, 5], "prompt": "Rate coherence.\n<<{article}>>\n{summary}"},
]}


def marked_answer(system: str, user: str) -> str:
    """Consistency 5 for the chunk that holds the parks fact, else 1; coherence 4 for that chunk, else 2."""
    chunk = ARTICLE_MARK.search(user).group(1)
    has_fact = "parks" in chunk
    if user.startswith("Rate consistency"):
        return "5" if has_fact else "1"
    return "4" if has_fact else "2"


def judge(server, **options):
    return build_metric({"kind": "llm-judge", "model": "my-own-model", "base_url": server.openai_url,
                         "api_key_env": KEY_ENV, "logprobs": 0, **FAST, **options})


def test_a_long_article_is_judged_in_chunks_that_fit_and_the_verdicts_combine(serve):
    server = serve(answer=marked_answer)
    metric = judge(server, rubric=RUBRIC, context_tokens=512)
    article = long_article("d0", 120)  # about 120 * 75 characters / 4 = 2,250 estimated tokens: over 512
    [result] = metric.score([Candidate(Document("d0", article), "The council approved money for parks.")])
    info = result.info
    sent = server.log()
    assert info["chunks"] >= 5 and info["truncated"] is False and info["token_count"] == "chars/4"
    assert len(sent) == 2 * info["chunks"] == info["requests"]  # one request per chunk per criterion
    for record in sent:  # every request fits: prompt (chars / 4, rounded up) + reply room + template <= 512
        user = record.body["messages"][-1]["content"]
        assert -(-len("\n\n" + user) // 4) + 2 + 32 <= 512
    chunks = [ARTICLE_MARK.search(r.body["messages"][-1]["content"]).group(1) for r in sent
              if r.body["messages"][-1]["content"].startswith("Rate consistency")]
    ordered = sorted(chunks, key=lambda c: int(re.search(r"Sentence (\d+)", c).group(1)))
    assert words(" ".join(ordered)) == words(article)  # every word judged once, none cut away
    assert info["chunks"] == len(chunks)
    # consistency (factuality): the max over chunks = 5 (the parks chunk); coherence: mean of 4 and (n-1) 2s
    n = info["chunks"]
    assert result.values["judge_consistency"] == 5.0
    assert result.values["judge_coherence"] == pytest.approx((4 + 2 * (n - 1)) / n)


def claims_answer(system: str, user: str) -> str:
    chunk = ARTICLE_MARK.search(user).group(1)
    claim = user.split("Claim: ", 1)[1]
    return "Yes" if ("parks" in claim and "parks" in chunk) or ("weather" in claim and "weather" in chunk) else "No"


def test_a_claim_is_supported_when_any_chunk_supports_it(serve):
    server = serve(answer=claims_answer)
    rubric = {"name": "c", "mode": "claims", "max_tokens": 2,
              "criteria": [{"name": "supported", "prompt": "Supported?\n<<{article}>>\nClaim: {claim}"}]}
    metric = judge(server, rubric=rubric, prefix="claims", context_tokens=512)
    summary = "The council approved money for parks. Residents talked about the weather. The mayor resigned."
    [result] = metric.score([Candidate(Document("d0", long_article("d0", 120)), summary)])
    n = result.info["chunks"]
    assert n >= 5 and len(server.log()) == 3 * n
    # parks: only chunk 1 says yes; weather: every chunk says yes; mayor: none -> 2 of 3 supported
    assert result.values["claims_supported"] == pytest.approx(2 / 3)
    assert result.info["unsupported_claims"] == ["The mayor resigned."]


def test_refused_articles_send_nothing_and_say_why_in_one_line(serve):
    server = serve(answer=marked_answer)
    metric = judge(server, rubric=RUBRIC, context_tokens=512, long_articles="refuse")
    short = Document("d1", "[doc:d1] The council approved money for parks.")
    long, fits = metric.score([Candidate(Document("d0", long_article("d0", 120)), "Parks got money."),
                               Candidate(short, "Parks got money.")])
    assert long.values == {"judge_consistency": None, "judge_coherence": None}
    note = long.notes["judge_consistency"]
    assert "\n" not in note and "over the" in note and "long_articles: chunk" in note
    assert long.info["refused"] is True and long.info["chunks"] == 0 and long.info["truncated"] is False
    assert fits.values == {"judge_consistency": 5.0, "judge_coherence": 4.0} and fits.info["chunks"] == 1
    assert len(server.log()) == 2  # only the short article's two criteria


def test_a_plain_judge_keeps_its_signature_and_a_budget_changes_it(serve):
    server = serve()
    plain = judge(server)
    assert "budget" not in plain.settings()
    assert judge(server, context_tokens=4096).signature != plain.signature
    assert judge(server, long_articles="refuse").signature != plain.signature
    with pytest.raises(ConfigError, match="raise context_tokens"):
        judge(server, context_tokens=256, rubric="geval").score([Candidate(Document("d0", "Short."), "S.")])


# -- the real thing ---------------------------------------------------------------------------------------------
def six_thousand_words(shared_data) -> str:
    """About 6,000 words, made by joining articles of the shared CNN/DailyMail sample (not copied into the repo)."""
    parts, total = [], 0
    with (shared_data / "cnndm_sample.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            article = json.loads(line)["article"]
            parts.append(article)
            total += len(words(article))
            if total >= 6000:
                break
    return "\n\n".join(parts)


def test_a_6000_word_article_is_chunked_for_a_2048_token_smollm2_or_refused(real_server, smollm2_folder,
                                                                             shared_data, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "not-needed-by-a-local-server")
    article = six_thousand_words(shared_data)
    assert len(words(article)) >= 6000
    document = Document("long", article)
    common = {"kind": "llm-judge", "model": real_server.model, "base_url": real_server.base_url,
              "api_key_env": KEY_ENV, "timeout": 300, "max_retries": 1, "concurrency": 2, "logprobs": 0,
              "criteria": ["consistency"], "context_tokens": 2048, "tokenizer": str(smollm2_folder)}
    refused = build_metric({**common, "long_articles": "refuse"})
    before = len(real_server.proxy.completions())
    [no] = refused.score([Candidate(document, "A judge ruled on a case.")])
    assert len(real_server.proxy.completions()) == before  # nothing sent
    assert no.values["judge_consistency"] is None and "long_articles: chunk" in no.notes["judge_consistency"]
    assert no.info["article_tokens"] > 2048 and no.info["token_count"] == f"tokenizer:{smollm2_folder}"

    chunked = build_metric(common)
    [yes] = chunked.score([Candidate(document, "A judge ruled on a case.")])
    sent = real_server.proxy.completions()[before:]
    assert yes.info["chunks"] >= 4 and len(sent) == yes.info["chunks"] == yes.info["requests"]
    assert "incomplete" not in yes.info, yes.info
    for record in sent:  # the server's own count of each prompt: within the 2,048-token context, reply included
        assert record.reply["usage"]["prompt_tokens"] + 5 <= 2048
