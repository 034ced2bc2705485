"""The LLM-judge metric against the fake server (exact parsing) and a real ``transformers serve`` (wire format).

Expected values are worked out by hand in each test from the replies the fake server is told
to give: which reply parses to what, and the probability-weighted score from the
log-probabilities it sends.
"""

from __future__ import annotations

import math

import pytest
from api_server import FakeAPIServer, serve  # noqa: F401  (serve is a fixture)

from evalkit.core.errors import ConfigError, ReplayMissError
from evalkit.run.experiment import Experiment
from evalkit.metrics.judge import Criterion, LLMJudge, load_rubric, parse_score, parse_verdict
from evalkit.run.registry import build_metric
from evalkit.report.tables import format_table
from evalkit.core.types import Candidate, Document, LengthTarget

KEY_ENV = "EVALKIT_TEST_JUDGE_KEY"
FAST = {"timeout": 5, "backoff": 0.01, "max_backoff": 0.05, "max_retries": 3}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EVALKIT_OFFLINE", "EVALKIT_PRICES", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-judge-test-0123456789")


ARTICLE = ("[doc:{id}] The city council met on Monday. It approved a budget of 4 million dollars for new parks. "
           "Residents protested outside the hall.")


def doc(doc_id: str = "d0") -> Document:
    return Document(id=doc_id, text=ARTICLE.format(id=doc_id), references=("The council approved a budget.",))


def judge(server: FakeAPIServer, provider: str = "openai", **options) -> LLMJudge:
    url = server.openai_url if provider == "openai" else server.url
    return build_metric({"kind": "llm-judge", "model": "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku",
                         "provider": provider, "base_url": url, "api_key_env": KEY_ENV, **FAST, **options})


GEVAL_REPLIES = {"Coherence (1-5)": "4", "Consistency (1-5)": "Consistency: 2", "Fluency (1-3)": "- Fluency (1-3): 3",
                 "Relevance (1-5)": "1. Read the summary and the source document."}


def geval_answer(system: str, user: str) -> str:
    return next(reply for marker, reply in GEVAL_REPLIES.items() if marker in user)


def coherence_logprobs(text: str):
    """For the reply "4": the token 4 with p=.6, then 3 (.3), 5 (.05) and a non-score token (.05)."""
    if text != "4":
        return None
    alternatives = [("4", 0.6), ("3", 0.3), ("5", 0.05), (" The", 0.05)]
    return {"content": [{"token": "4", "logprob": math.log(0.6), "bytes": None,
                         "top_logprobs": [{"token": t, "logprob": math.log(p), "bytes": None}
                                          for t, p in alternatives]}], "refusal": None}


def test_geval_replies_are_parsed_exactly_and_weighted_by_log_probabilities(serve):
    server = serve(answer=geval_answer, logprobs=coherence_logprobs)
    metric = judge(server)
    [result] = metric.score([Candidate(doc(), "The council approved a park budget.")])
    # sum_s p(s) * s / sum_s p(s) over the score tokens 4, 3, 5 (the non-score token is left out)
    assert result.values["judge_coherence"] == pytest.approx((4 * 0.6 + 3 * 0.3 + 5 * 0.05) / 0.95)
    assert result.values["judge_consistency"] == 2.0 and result.values["judge_fluency"] == 3.0
    assert "no log-probabilities" in result.notes["judge_consistency"]
    assert result.values["judge_relevance"] is None and "numbered list" in result.notes["judge_relevance"]
    bodies = [r.body for r in server.log()]
    assert len(bodies) == 4 and all(b["logprobs"] is True and b["top_logprobs"] == 5 for b in bodies)
    assert all(b["max_tokens"] == 5 and b["temperature"] == 0.0 for b in bodies)
    fluency = next(b for b in bodies if "Fluency (1-3)" in b["messages"][-1]["content"])
    assert "Source Text" not in fluency["messages"][-1]["content"]  # G-Eval's fluency prompt shows only the summary
    assert result.info["requests"] == 4 and result.info["tokens_prompt"] == sum(r.usage["prompt"] for r in server.log())
    names = [m.name for m in metric.measures()]
    assert names == ["judge_coherence", "judge_consistency", "judge_fluency", "judge_relevance"]
    assert metric.measures()[2].label == "Judge fluency (1-3)"


@pytest.mark.parametrize("reply, expected", [
    ("4", 4.0), ("4/5", 4.0), ("Score: 4 out of 5", 4.0), ("Coherence: 5.", 5.0), ("- Coherence (1-5): 2", 2.0),
    ("3.5", 3.5), ("7", None), ("0", None), ("The summary is good", None), ("1. Read the news article", None),
    ("", None), ("five", None),
])
def test_a_score_is_read_only_from_the_start_of_the_reply(reply, expected):
    value, note = parse_score(reply, Criterion("coherence", "Coherence", "{summary}"))
    assert value == expected
    assert (note is None) == (expected is not None)


@pytest.mark.parametrize("reply, expected", [("Yes", True), ("yes.", True), ("No, it is not.", False),
                                             ("Not supported", False), ("**Supported**", True), ("Maybe", None),
                                             ("The claim is supported", None)])
def test_a_verdict_is_yes_or_no_at_the_start(reply, expected):
    assert parse_verdict(reply) is expected


def claims_answer(system: str, user: str) -> str:
    claim = user.split("Claim:\n", 1)[1].split("\n", 1)[0]
    if "mayor" in claim:
        return "No, the article does not mention a mayor."
    if "perhaps" in claim:
        return "It depends."
    return "Yes."


def test_claims_report_the_supported_share_and_list_unsupported_claims(serve):
    server = serve(answer=claims_answer)
    metric = judge(server, rubric="claims", prefix="claims")
    good = "The council approved a budget. The mayor resigned. Residents protested."
    unsure = "The council met. It perhaps approved parks."
    results = metric.score([Candidate(doc("d0"), good), Candidate(doc("d1"), unsure), Candidate(doc("d2"), "")])
    assert results[0].values == {"claims_supported": 2 / 3, "claims_unsupported_count": 1.0, "claims_claims": 3.0}
    assert results[0].info["unsupported_claims"] == ["The mayor resigned."]
    assert results[1].values["claims_supported"] is None and results[1].values["claims_claims"] == 2.0
    assert "1 of 2 claims got no yes/no answer" in results[1].notes["claims_supported"]
    assert results[1].info["unparsed"] == [{"claim": "It perhaps approved parks.", "reply": "It depends."}]
    assert results[2].values["claims_supported"] is None and results[2].values["claims_claims"] == 0.0
    assert len(server.log()) == 5 and all("logprobs" not in r.body for r in server.log())
    [supported, unsupported, count] = metric.measures()
    assert (supported.scale, supported.higher_is_better, unsupported.higher_is_better) == ("fraction", True, False)


def test_failures_are_none_with_a_note_and_retries_are_counted(serve):
    server = serve({"d0": ["500", "429"], "d1": ["400"]}, answer=lambda s, u: "3", retry_after=0.01)
    metric = judge(server, criteria=["coherence"], logprobs=0)
    ok, bad = metric.score([Candidate(doc("d0"), "A summary."), Candidate(doc("d1"), "A summary.")])
    assert ok.values == {"judge_coherence": 3.0} and "incomplete" not in ok.info
    assert bad.values == {"judge_coherence": None} and "HTTP 400" in bad.notes["judge_coherence"]
    assert bad.info["incomplete"] is True
    assert [r.fault for r in server.requests_for("d0")] == ["500", "429", "ok"]


def test_anthropic_judges_without_log_probabilities(serve):
    server = serve(answer=geval_answer)
    metric = judge(server, provider="anthropic", criteria=["consistency"])
    [result] = metric.score([Candidate(doc(), "A summary.")])
    assert result.values == {"judge_consistency": 2.0} and not result.notes
    assert server.log()[0].path.endswith("/v1/messages")
    with pytest.raises(ConfigError, match="set logprobs: 0"):
        judge(server, provider="anthropic", logprobs=5)


def _experiment(tmp_path, metrics, **options) -> Experiment:
    return Experiment(systems=[{"kind": "lead"}], metrics=metrics, target=LengthTarget(sentences=2), output_dir=tmp_path / "runs",
                      progress=False, **options)


def test_a_run_is_cached_replies_are_reused_and_offline_replay_never_sends(serve, tmp_path, monkeypatch):
    server = serve(answer=claims_answer)
    spec = {"kind": "llm-judge", "model": "gpt-4o-mini", "rubric": "claims", "base_url": server.openai_url,
            "api_key_env": KEY_ENV, **FAST}
    docs = [doc("d0"), doc("d1")]
    first = _experiment(tmp_path, [spec]).run(docs)
    sent = len(server.log())
    assert sent == 2 * 2  # two sentences of lead for each of two documents
    assert first.measure("judge_supported").label == "Claims supported (judge)"
    assert "Claims supported (judge)" in format_table(first)
    assert set(first.wide()["judge_supported"]) == {1.0}

    again = _experiment(tmp_path, [spec]).run(docs)
    assert len(server.log()) == sent and again.manifest.counts.scores_computed == 0
    renamed = _experiment(tmp_path, [{**spec, "prefix": "facts", "concurrency": 1}]).run(docs)
    assert len(server.log()) == sent  # another signature, the same prompts: every reply comes from the store
    assert set(renamed.wide()["facts_supported"]) == {1.0}

    monkeypatch.setenv("EVALKIT_OFFLINE", "1")
    monkeypatch.delenv(KEY_ENV)
    replay = _experiment(tmp_path, [{**spec, "prefix": "replayed"}]).run(docs)
    assert set(replay.wide()["replayed_supported"]) == {1.0}
    with pytest.raises(ReplayMissError, match=r"replays stored replies only.*judge 'judge'.*document\(s\) d9"):
        _experiment(tmp_path, [spec]).run(docs + [doc("d9")])
    assert len(server.log()) == sent


def test_the_signature_covers_model_prompt_and_parsing_not_plumbing(serve, tmp_path):
    server = serve()
    base = judge(server)
    assert judge(server, concurrency=9, timeout=30, max_retries=1).signature == base.signature
    assert judge(server, model="gpt-4o").signature != base.signature
    assert judge(server, criteria=["coherence"]).signature != base.signature
    assert judge(server, logprobs=0).signature != base.signature
    rubric = tmp_path / "mine.yaml"
    rubric.write_text("name: mine\nmode: score\nmax_tokens: 4\ncriteria:\n  - name: informativeness\n"
                      "    label: Informativeness\n    scale: [0, 10]\n    prompt: 'Rate {summary} for {article}'\n",
                      encoding="utf-8")
    custom = judge(server, rubric=str(rubric))
    [measure] = custom.measures()
    assert (measure.name, measure.label) == ("judge_informativeness", "Judge informativeness (0-10)")
    edited = rubric.read_text().replace("Rate", "Score")
    rubric.write_text(edited, encoding="utf-8")
    assert judge(server, rubric=str(rubric)).signature != custom.signature
    for bad, message in [({"mode": "vote", "criteria": []}, "mode must be"),
                         ({"criteria": [{"name": "x", "prompt": "no fields"}]}, r"must contain \{summary\}"),
                         ({"criteria": [{"name": "x", "prompt": "{summary} {oops}"}]}, "may use only"),
                         ("nonesuch", "no such built-in rubric")]:
        with pytest.raises(ConfigError, match=message):
            load_rubric(bad)
    broken = rubric.with_name("broken.yaml")
    broken.write_text("name: x\ncriteria: [\n  - {name: y\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML") as error:  # one line, like the human rubric's
        load_rubric(str(broken))
    assert "\n" not in str(error.value) and str(broken) in str(error.value)


# -- the real thing: a local model behind `transformers serve` ---------------------------------------------------
@pytest.fixture()
def smollm2_server(real_server, monkeypatch):
    """The session's real ``transformers serve`` (tests/real_server.py), with a placeholder key for it."""
    monkeypatch.setenv(KEY_ENV, "not-needed-by-a-local-server")
    return {"url": real_server.base_url, "model": real_server.model}


def test_a_real_local_model_judges_through_the_openai_wire_format(smollm2_server):
    """Three requests (the CPU is shared): two G-Eval consistency ratings with logprobs asked, one claim."""
    common = {"kind": "llm-judge", "model": smollm2_server["model"], "base_url": smollm2_server["url"],
              "api_key_env": KEY_ENV, "timeout": 240, "max_retries": 1, "concurrency": 2}
    geval = build_metric({**common, "criteria": ["consistency"]})
    claims = build_metric({**common, "rubric": "claims", "prefix": "claims"})
    rated = geval.score([Candidate(doc("d0"), "The council approved a budget for parks."),
                         Candidate(doc("d1"), "The mayor cancelled the parks.")])
    [checked] = claims.score([Candidate(doc("d0"), "The council approved a budget for parks.")])
    for result, name, low, high in [(rated[0], "judge_consistency", 1, 5), (rated[1], "judge_consistency", 1, 5),
                                    (checked, "claims_supported", 0, 1)]:
        assert "incomplete" not in result.info, result.info  # every request got a reply...
        assert result.info["tokens_prompt"] > 0 and result.info["tokens_completion"] > 0
        value = result.values[name]
        if value is None:  # ...which a 135M model may not phrase as asked: then a note quotes it, never a guess
            assert "reply" in result.notes[name] or "answer" in result.notes[name], result.notes
        else:
            assert low <= value <= high


def test_a_dry_run_estimate_counts_requests_and_prices_them(serve):
    from evalkit.hosted.pricing import count_tokens, load_prices, price_for

    metric = judge(serve())
    candidates = [Candidate(doc("d0"), "A summary."), Candidate(doc("d0"), "A summary."), Candidate(doc("d1"), "B.")]
    estimate = metric.estimate(candidates)
    assert estimate.requests == 2 * 4  # the repeated candidate is asked once; four G-Eval criteria each
    assert estimate.tokens_completion == 8 * 5  # the rubric's max_tokens per reply
    prompts = [c.prompt.format(article=d.document.text, summary=d.text, claim="")
               for d in (candidates[0], candidates[2]) for c in metric.rubric.criteria]
    assert estimate.tokens_prompt == sum(count_tokens(f"\n\n{p}", "gpt-4o-mini") for p in prompts)
    price = price_for("gpt-4o-mini", load_prices())
    assert estimate.usd == pytest.approx((estimate.tokens_prompt * price.input + 40 * price.output) / 1e6)
