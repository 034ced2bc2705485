"""Judge-bias diagnostics: length correlation (checked against scipy), the same-family warning, order flips.

Each fake judge has a known bias: one scores by length, one always picks position A (flip rate 1.0
by construction), one always picks the longer summary whatever its position (flip rate 0).
"""

from __future__ import annotations

import re

import pytest
from api_server import serve  # noqa: F401  (a fixture)
from scipy import stats

from evalkit.core.families import model_family
from evalkit.core.text import count_words
from evalkit.core.types import Document, LengthTarget
from evalkit.report.html import render_html
from evalkit.report.judging import diagnostics
from evalkit.report.tables import format_table
from evalkit.run.experiment import Experiment

KEY_ENV = "EVALKIT_TEST_JUDGE_KEY"
FAST = {"timeout": 5, "backoff": 0.01, "max_backoff": 0.05, "max_retries": 2}
SENTENCES = ["The council met on Monday.", "It approved a budget of four million dollars for new parks.",
             "Residents protested outside the hall.", "The mayor said the parks would open next year.",
             "Critics called the plan too expensive.", "A vote on bus fares was postponed."]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EVALKIT_OFFLINE", "EVALKIT_PRICES", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-judge-test-0123456789")


def documents(n: int = 6) -> list[Document]:
    return [Document(f"d{i}", " ".join(SENTENCES[i % 6:] + SENTENCES[:i % 6]), ("The council approved parks.",))
            for i in range(n)]


def summary_of(user: str) -> str:
    return user.split("Summary:\n", 1)[1].split("\n\n", 1)[0] if "Summary:\n" in user else user


RUBRIC = {"name": "len", "mode": "score", "max_tokens": 2,
          "criteria": [{"name": "quality", "label": "Quality", "headline": True, "prompt": "Article: {article}\nSummary:\n{summary}\n\n"}]}


def length_judge(system: str, user: str) -> str:
    """Scores 1-5 rising with the summary's length in words, with a twist by its first letter (not perfectly linear)."""
    summary = summary_of(user)
    return str(min(5, 1 + count_words(summary) // 8 + (summary[:1] in "AR")))


def run(tmp_path, systems, judge, **options):
    return Experiment(systems=systems, metrics=[{"kind": "llm-judge", "api_key_env": KEY_ENV, "logprobs": 0,
                                                 **FAST, **judge}],
                      target=LengthTarget(sentences=2), output_dir=tmp_path / "runs", progress=False,
                      **options).run(documents())


SYSTEMS = [{"kind": "lead", "name": "lead"}, {"kind": "random", "name": "random"},
           {"kind": "textrank", "name": "textrank"}]


def test_the_length_correlation_and_adjusted_score_match_scipy_on_the_stored_values(serve, tmp_path):
    server = serve(answer=length_judge)
    result = run(tmp_path, SYSTEMS, {"model": "my-judge", "base_url": server.openai_url, "rubric": RUBRIC})
    wide = result.wide()
    words = {(r.document_id, r.system): count_words(r.text) for r in result.summaries.itertuples()}
    wide["words"] = [words[(d, s)] for d, s in zip(wide["document_id"], wide["system"])]
    rows = {(r["value"], r["system"]): r for r in diagnostics(result)["length_bias"]}
    fit = stats.linregress(wide["words"], wide["judge_quality"])
    adjusted = wide["judge_quality"] - (fit.intercept + fit.slope * wide["words"]) + wide["judge_quality"].mean()
    for system in ["lead", "random", "textrank", "all"]:
        part = wide if system == "all" else wide[wide["system"] == system]
        row = rows[("judge_quality", system)]
        assert row["n"] == len(part)
        if part["words"].nunique() > 1 and part["judge_quality"].nunique() > 1:
            assert row["pearson"] == pytest.approx(stats.pearsonr(part["words"], part["judge_quality"])[0])
            assert row["spearman"] == pytest.approx(stats.spearmanr(part["words"], part["judge_quality"])[0])
        assert row["adjusted_mean"] == pytest.approx(adjusted[part.index].mean())
    assert rows[("judge_quality", "all")]["spearman"] > 0.5  # this judge rewards length, and the table says so
    table = format_table(result)
    assert "Judge score vs summary length" in table and "Long articles" in table
    page = render_html(result)
    assert "<h2>Judge diagnostics</h2>" in page and "length-adjusted" in page


@pytest.mark.parametrize("judge, system, family", [
    ("gpt-4o-mini", "gpt-4o", "gpt"), ("claude-3-5-haiku-latest", "claude-sonnet-4", "claude"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.2:3b", "llama"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "/models/SmolLM2-360M", "smollm"),
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5:14b", "qwen"), ("mistralai/Mistral-7B-v0.3", "mixtral-8x7b", "mistral"),
    ("google/gemma-2-9b-it", "gemma3:4b", "gemma"),
])
def test_model_families_by_normalized_prefix(judge, system, family):
    assert model_family(judge) == model_family(system) == family
    assert model_family("facebook/bart-large-cnn") is None and model_family("o3-mini") == "gpt"


def test_a_judge_of_a_judged_systems_family_is_warned_about(serve, tmp_path):
    def answer(system: str, user: str) -> str:
        return "3" if user.startswith("Article:") else "The council approved money for new parks on Monday."

    server = serve(answer=answer)
    gpt = {"kind": "openai", "name": "gpt", "model": "gpt-4o", "base_url": server.openai_url, "api_key_env": KEY_ENV,
           **FAST}
    same = run(tmp_path, [gpt, {"kind": "lead", "name": "lead"}],
               {"model": "gpt-4o-mini", "base_url": server.openai_url, "rubric": RUBRIC})
    [warning] = diagnostics(same)["family_warnings"]
    assert "'gpt'" in warning and "gpt-4o" in warning and "gpt family" in warning
    assert "WARNING: judge 'judge' (gpt-4o-mini) and system 'gpt'" in format_table(same)
    assert "both of the gpt family" in render_html(same)
    other = run(tmp_path, [gpt], {"model": "claude-3-5-haiku", "base_url": server.openai_url, "rubric": RUBRIC})
    assert diagnostics(other)["family_warnings"] == []


PAIR = re.compile(r"Summary A:\n(.*?)\n\nSummary B:\n(.*?)\n\nWhich", re.DOTALL)


def always_a(system: str, user: str) -> str:
    return "A"


def longer(system: str, user: str) -> str:
    first, second = PAIR.search(user).groups()
    return "A" if len(first) > len(second) else "B" if len(second) > len(first) else "tie"


def test_a_judge_that_always_prefers_position_a_flips_every_pair(serve, tmp_path):
    server = serve(answer=always_a)
    result = run(tmp_path, SYSTEMS, {"model": "my-judge", "base_url": server.openai_url, "mode": "pairwise"})
    [found] = diagnostics(result)["pairwise"]
    distinct = sum(len({t for t in result.summaries[result.summaries["document_id"] == d]["text"]}) * (
        len({t for t in result.summaries[result.summaries["document_id"] == d]["text"]}) - 1) // 2
        for d in set(result.summaries["document_id"]))
    assert found["pairs"] == distinct > 0 and found["flipped"] == distinct and found["flip_rate"] == 1.0
    assert all(t["win"] == t["loss"] == 0 for t in found["systems"].values())  # every pair is a tie
    assert set(result.wide()["judge_pairwise_flip"].dropna()) == {1.0}
    assert set(result.wide()["judge_pairwise_win"].dropna()) == {0.5}
    assert len(server.log()) == 2 * distinct  # both orders of every pair, each asked once
    assert "flip rate 1.00" in format_table(result) and "flip rate 1.00" in render_html(result)


def test_a_consistent_judge_never_flips_and_a_win_needs_both_orders(serve, tmp_path):
    server = serve(answer=longer)
    result = run(tmp_path, SYSTEMS[:2], {"model": "my-judge", "base_url": server.openai_url, "mode": "pairwise",
                                         "systems": ["lead", "random"]})
    [found] = diagnostics(result)["pairwise"]
    assert found["flip_rate"] == 0.0
    wide = result.wide().set_index(["document_id", "system"])
    texts = {(r.document_id, r.system): r.text for r in result.summaries.itertuples()}
    for (document, system), row in wide.iterrows():
        other = texts[(document, "random" if system == "lead" else "lead")]
        mine = texts[(document, system)]
        expected = None if mine == other else 1.0 if len(mine) > len(other) else 0.0 if len(mine) < len(other) else .5
        assert row["judge_pairwise_win"] == expected or (expected is None and row["judge_pairwise_win"] != row[
            "judge_pairwise_win"])
