"""Pairwise human labels in ``evalkit meta-eval RUN --labels``: win rates, their system-level correlation with
each metric, and a pairwise judge's agreement with the people, all worked out by hand below.

Four systems with invented summaries of known length (delta 12 words > alpha 10 > gamma 7 > beta 4, on
every document); people prefer beta > alpha > delta > gamma, except on ``council`` where alpha and delta
tie; a second annotator disagrees once (storm: alpha over beta). The stand-in pairwise judge (the fake
API server) always prefers the longer summary.
"""

from __future__ import annotations

import json
from itertools import combinations

import pytest
from api_server import serve  # noqa: F401  (a fixture)
from test_judge_bias import FAST, KEY_ENV, clean_env, longer  # noqa: F401  (clean_env: a fixture)

from evalkit.cli.main import main
from evalkit.inputs.human_rubric import load_human_rubric
from evalkit.run.experiment import Experiment
from evalkit.run.labels import TIE, Label, LabelStore, pair_hash, run_items
from evalkit.run.store import Store

WORDS = {"alpha": 10, "beta": 4, "gamma": 7, "delta": 12}
PREFERRED = ["beta", "alpha", "delta", "gamma"]  # the people's order, best first


def make_run(tmp_path, documents, server):
    rows = [{"document_id": d.id, "system": s, "summary": f"{s} {d.id} " + " ".join(["word"] * n) + "."}
            for d in documents for s, n in WORDS.items()]
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    systems = [{"kind": "precomputed", "name": s, "path": str(outputs), "system_column": "system", "system": s}
               for s in WORDS]
    judge = {"kind": "llm-judge", "mode": "pairwise", "model": "my-judge", "base_url": server.openai_url,
             "api_key_env": KEY_ENV, "logprobs": 0, **FAST}
    return Experiment(systems=systems, metrics=[{"kind": "length"}, judge], target={"words": 12}, progress=False,
                      output_dir=tmp_path / "runs").run(documents)


def people(run, rubric, systems=tuple(WORDS)) -> list[Label]:
    """ann answers every pair of ``systems`` on every document by PREFERRED (council: alpha ties delta); bob once."""
    items = {(i.document_id, i.system): i for i in run_items(run)}
    labels = []

    def label(who, a, b, winner):
        answer = TIE if winner is None else winner.summary_hash
        labels.append(Label(a.document_hash, pair_hash(a.summary_hash, b.summary_hash), rubric.version, who,
                            "pairwise", {"coherence": answer}, run.run_id, a.document_id, (a.system, b.system)))

    for document in sorted({d for d, _ in items}):
        for x, y in combinations(systems, 2):
            a, b = items[(document, x)], items[(document, y)]
            tie = document == "council" and {x, y} == {"alpha", "delta"}
            label("ann", a, b, None if tie else min((a, b), key=lambda i: PREFERRED.index(i.system)))
    if "beta" in systems:
        label("bob", items[("storm", "alpha")], items[("storm", "beta")], items[("storm", "alpha")])
    return labels


def test_win_rates_their_rank_correlation_with_each_metric_and_the_judge_against_people(serve, tmp_path, capsys,
                                                                                       tiny_documents):
    run = make_run(tmp_path, tiny_documents, serve(answer=longer))
    assert sorted({i.document_id for i in run_items(run)}) == ["council", "library", "match", "storm"]
    rubric = load_human_rubric()
    with Store(tmp_path / "runs" / "store.sqlite") as store:
        LabelStore(store).save_rubric(rubric)
        LabelStore(store).put(people(run, rubric))
    assert main(["meta-eval", str(run.run_dir), "--labels", "--columns", "length_words,judge_pairwise_win",
                 "--resamples", "200", "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    found = json.loads((tmp_path / "out.json").read_text())["pairwise"]
    rates = {r["system"]: r for r in found["win_rates"]}
    # each system meets 3 others on 4 documents (12 answers by ann), plus bob's one answer for alpha and beta:
    # beta   wins all 12 of ann's, loses bob's:             12 / 13
    # alpha  beats gamma 4x, delta 3x (ties it on council), loses to beta 4x, wins bob's: (8 + 1/2) / 13
    # delta  beats gamma 4x, ties alpha once, loses 4x to beta and 3x to alpha: (4 + 1/2) / 12
    # gamma  loses all 12:                                   0
    assert {s: r["rate"] for s, r in rates.items()} == pytest.approx(
        {"beta": 12 / 13, "alpha": 8.5 / 13, "delta": 4.5 / 12, "gamma": 0.0})
    assert (rates["alpha"]["wins"], rates["alpha"]["ties"], rates["alpha"]["losses"]) == (8, 1, 4)
    assert rates["beta"]["documents"] == 4 and found["too_few_systems"] == []
    means = run.table(["length_words"])["length_words"]
    assert list(means.sort_values().index) == ["beta", "gamma", "alpha", "delta"]  # 4 < 7 < 10 < 12 words
    # Spearman by hand: length ranks beta 1, gamma 2, alpha 3, delta 4; win-rate ranks gamma 1, delta 2, alpha 3,
    # beta 4; d = (-3, 1, 0, 2), sum d^2 = 14, rho = 1 - 6 * 14 / (4 * 15) = -0.4.
    # Kendall: of the 6 pairs only alpha-gamma and gamma-delta are ordered alike: (2 - 4) / 6 = -1/3.
    rows = {(r["metric"], r["method"]): r for r in found["agreement"]}
    assert rows[("length_words", "spearman")]["r"] == pytest.approx(-0.4)
    assert rows[("length_words", "kendall")]["r"] == pytest.approx(-1 / 3)
    # the judge prefers the longer summary, so its system means order the systems as length does: the same rho
    assert rows[("judge_pairwise_win", "spearman")]["r"] == pytest.approx(-0.4)
    for row in rows.values():
        assert row["systems"] == 4 and row["documents"] == 4 and -1 <= row["low"] <= row["high"] <= 1
    # the judge against people, answer by answer: per document ann and the judge agree on alpha-gamma and
    # gamma-delta only (2 of 6), and on bob's storm alpha-beta: 9 of 25. Cohen's kappa from the marginals:
    # people beta 12, alpha 8, delta 4, tie 1; judge delta 12, alpha 9, gamma 4; p_e = (8*9 + 4*12) / 25^2
    [judged] = found["judge"]
    expected_chance = (8 * 9 + 4 * 12) / 25 ** 2
    assert judged["answers"] == 25 and judged["raw"] == pytest.approx(9 / 25)
    assert judged["cohen"] == pytest.approx((9 / 25 - expected_chance) / (1 - expected_chance))
    assert "pairwise human labels" in out and "win rate" in out and "Cohen's kappa 0.208" in out
    assert "which metric agrees with your annotators" not in out  # no pointwise labels: no pointwise table


def test_two_systems_give_win_rates_and_one_line_instead_of_a_correlation(serve, tmp_path, capsys, tiny_documents):
    run = make_run(tmp_path, tiny_documents, serve(answer=longer))
    rubric = load_human_rubric()
    labels = people(run, rubric, systems=("alpha", "gamma"))
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(lab.to_dict()) + "\n" for lab in labels))
    assert main(["meta-eval", str(run.run_dir), "--labels-file", str(tmp_path / "labels.jsonl"), "--rubric",
                 "default", "--resamples", "50", "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    found = json.loads((tmp_path / "out.json").read_text())["pairwise"]
    assert {r["system"]: r["rate"] for r in found["win_rates"]} == {"alpha": 1.0, "gamma": 0.0}
    [line] = found["too_few_systems"]
    assert found["agreement"] == [] and "2 system(s)" in line and "at least 3" in line and line in out
