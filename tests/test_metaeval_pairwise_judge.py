"""A pairwise judge in ``evalkit meta-eval``: the scoring path shows it every system's summary, as a run does.

The stand-in judge (the fake API server) always prefers the longer summary, so each summary's win
share is known by hand: 1 per shorter opponent, 0 per longer one, 1/2 per one of equal length.
"""

from __future__ import annotations

import json

import pytest
from api_server import serve  # noqa: F401  (a fixture)
from test_judge_bias import FAST, KEY_ENV, clean_env, longer  # noqa: F401  (clean_env: a fixture)

from evalkit.cli.main import main
from evalkit.inputs.annotated import Item
from evalkit.run.scoring import score_items

ARTICLE = "The council met on Monday. It approved a budget for parks. Residents protested. A vote was postponed."
# document -> system -> summary; d2's s2 and s3 differ in text but not in length (the judge answers tie)
SUMMARIES = {"d1": {"s1": "Council met.", "s2": "The council met on Monday.", "s3": "The council met and approved parks."},
             "d2": {"s1": "The council approved a budget for parks.", "s2": "Residents protested.",
                    "s3": "A vote was deferred."}}
WINS = {("d1", "s1"): 0.0, ("d1", "s2"): 0.5, ("d1", "s3"): 1.0,  # d1: short < medium < long
        ("d2", "s1"): 1.0, ("d2", "s2"): (0 + 0.5) / 2, ("d2", "s3"): (0 + 0.5) / 2}  # d2: s2 ties s3 ("tie")


def items() -> list[Item]:
    return [Item(document_id=d, system=s, summary=text, article=ARTICLE, human={"quality": float(len(text))})
            for d, by_system in SUMMARIES.items() for s, text in by_system.items()]


def judge(server) -> dict:
    return {"kind": "llm-judge", "mode": "pairwise", "model": "my-judge", "base_url": server.openai_url,
            "api_key_env": KEY_ENV, "logprobs": 0, **FAST}


def test_a_pairwise_judge_scores_meta_eval_items_against_the_other_systems(serve):
    assert len(SUMMARIES["d2"]["s2"]) == len(SUMMARIES["d2"]["s3"])
    server = serve(answer=longer)
    found = score_items(items(), [judge(server)])
    assert found["judge_pairwise_win"] == [WINS[(i.document_id, i.system)] for i in items()]
    assert found["judge_pairwise_flip"] == [0.0] * 6  # a judge that reads the text, not the position
    assert len(server.log()) == 2 * 6  # 3 pairs per document, each asked in both orders once


def test_meta_eval_cli_with_a_pairwise_judge_gives_correlations_not_none(serve, tmp_path, capsys):
    server = serve(answer=longer)
    data = tmp_path / "frank.jsonl"  # the FRANK row format, with invented text
    data.write_text("".join(json.dumps({"hash": i.document_id, "model_name": i.system, "summary": i.summary,
                                        "article": i.article, "human": dict(i.human)}) + "\n" for i in items()),
                    encoding="utf-8")
    assert main(["meta-eval", str(data), "--metric", json.dumps(judge(server)), "--columns", "none",
                 "--levels", "summary", "--methods", "spearman", "--resamples", "20",
                 "--json", str(tmp_path / "out.json")]) == 0
    rows = {r["metric"]: r for r in json.loads((tmp_path / "out.json").read_text())["agreement"]}
    # per document, the judge's win share ranks the summaries as their length (the human column) does:
    # d1 Spearman 1; d2 ranks (3, 1.5, 1.5) both ways, Spearman 1; the mean over the two documents is 1
    assert rows["judge_pairwise_win"]["r"] == pytest.approx(1.0) and rows["judge_pairwise_win"]["n"] == 2
