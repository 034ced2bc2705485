"""``evalkit history``: five runs on the bundled data, checked by the gate, read back in time order.

Five runs (first 6 bundled documents; lead + random; rouge + length) are made with names whose
alphabetical order is not their time order, and their manifests are given one release date each,
a week apart. The 4th run's ``lead`` is a precomputed system holding the 1st run's lead summaries cut
to 10 words, so it loses ROUGE on every document. Each run is checked against a baseline of the
1st, and ``evalkit history`` over the folder must list them by date and mark the 4th as regressed.

Expected means come from each run's own scores.csv averaged here with pandas; the expected
regression from the per-document drops (all 6 documents worse: the sign-flip test's smallest
two-sided p-value, 2 / 2**6 = 0.031, is below alpha 0.05 with no multiple-test correction).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli.main import main
from evalkit.report.history import load_history
from evalkit.report.plots.history import history_chart
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run

SYSTEMS = [{"kind": "lead", "name": "lead"}, {"kind": "random", "name": "random", "seed": 0}]
NAMES = ["rel-c", "rel-a", "rel-e", "rel-b", "rel-d"]
"""Run names in the order the runs are made (and dated): alphabetical order would be a, b, c, d, e."""
DATES = ["2025-01-06T09:00:00+0000", "2025-01-13T09:00:00+0000", "2025-01-20T09:00:00+0000",
         "2025-01-27T09:00:00+0000", "2025-02-03T09:00:00+0000"]
COMMITS = ["1111111aaaa", "2222222bbbb", "3333333cccc", "4444444dddd", "5555555eeee"]
FAILING = 3
"""The 4th run (index 3): lead cut to 10 words."""


def _experiment(root: Path, name: str, systems: list[dict]) -> Run:
    return Experiment(systems=systems, metrics=[{"kind": "rouge"}, {"kind": "length"}],
                      data={"path": "bundled", "limit": 6}, target={"words": 60, "bound": "about"}, name=name,
                      output_dir=root / "runs", store=root / "store.sqlite", progress=False).run()


def _date(run_dir: Path, created: str, commit: str) -> None:
    """Give a run a release date and commit (runs made in one test share a second)."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(created=created, git_commit=commit)
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, list[Run], list[int]]:
    """(root, the five runs oldest first, the exit code of 'evalkit check' on each)."""
    root = tmp_path_factory.mktemp("history")
    runs: list[Run] = []
    for i, name in enumerate(NAMES):
        systems = SYSTEMS
        if i == FAILING:
            first = runs[0].summaries
            cut = root / "lead-cut.jsonl"
            cut.write_text("".join(json.dumps({"document_id": d, "summary": " ".join(t.split()[:10])}) + "\n"
                                   for d, s, t in zip(first["document_id"], first["system"], first["text"])
                                   if s == "lead"), encoding="utf-8")
            systems = [{"kind": "precomputed", "name": "lead", "path": str(cut)}, SYSTEMS[1]]
        runs.append(_experiment(root, name, systems))
        _date(runs[-1].run_dir, DATES[i], COMMITS[i])
    policy = root / "policy.yaml"
    policy.write_text("correction: none   # 6 documents: Holm over 10 checks could never be significant\n",
                      encoding="utf-8")
    assert main(["baseline", "save", str(runs[0].run_dir), str(root / "baseline.json")]) == 0
    codes = [main(["check", str(run.run_dir), "--baseline", str(root / "baseline.json"), "--policy", str(policy)])
             for run in runs]
    return root, runs, codes


def _means(run: Run, metric: str) -> dict[str, float]:
    scores = pd.read_csv(run.run_dir / "scores.csv")
    rows = scores[scores["metric"] == metric]
    return pd.to_numeric(rows["value"]).groupby(rows["system"]).mean().to_dict()


def _per_document(run: Run, system: str, metric: str) -> pd.Series:
    scores = pd.read_csv(run.run_dir / "scores.csv", dtype={"document_id": str})
    rows = scores[(scores["system"] == system) & (scores["metric"] == metric)]
    return pd.to_numeric(rows.set_index("document_id")["value"]).sort_index()


def test_the_premise_lead_cut_to_ten_words_is_worse_on_every_document(runs):
    _, made, _ = runs
    before, after = _per_document(made[0], "lead", "rouge1_f"), _per_document(made[FAILING], "lead", "rouge1_f")
    assert len(before) == 6 and list(before.index) == list(after.index)
    assert ((before - after) > 0.005).all()  # beyond the tolerance on every document: p = 2 / 2**6 <= 0.05


def test_check_records_its_verdict_in_the_run_folder(runs):
    _, made, codes = runs
    assert codes == [0, 0, 0, 1, 0]
    for i, run in enumerate(made):
        record = json.loads((run.run_dir / "gate.json").read_text(encoding="utf-8"))
        assert record["verdict"] == ("regressed" if i == FAILING else "passed")
        assert record["baseline_run"] == made[0].run_id and record["run"] == run.run_id
        regressed = {(c["system"], c["metric"]) for c in record["regressed"]}
        assert (("lead", "rouge1_f") in regressed) == (i == FAILING)
        assert all(system == "lead" for system, _ in regressed)  # random did not change
    assert not [p for run in made for p in run.run_dir.iterdir() if p.name.endswith(".tmp")]


def test_history_table_and_json_list_the_runs_in_time_order(runs, capsys):
    root, made, _ = runs
    out = root / "out"
    capsys.readouterr()
    assert main(["history", str(root / "runs"), "--chart", str(out / "history.png"),
                 "--json", str(out / "history.json")]) == 0
    text = capsys.readouterr().out
    run_lines = [line for line in text.splitlines() if "gate:" in line]
    assert len(run_lines) == 5
    assert all(run.run_id in line for run, line in zip(made, run_lines))  # by date, not by folder name (rel-a)
    assert sorted(NAMES) != NAMES
    assert [("REGRESSED" in line) for line in run_lines] == [i == FAILING for i in range(5)]
    assert all(f"{DATES[i][:10]} {COMMITS[i][:7]}" in run_lines[i] for i in range(5))
    assert (out / "history.png").stat().st_size > 10_000

    data = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert [r["run"] for r in data["runs"]] == [run.run_id for run in made]
    assert [r["verdict"] for r in data["runs"]] == ["passed", "passed", "passed", "regressed", "passed"]
    assert {"system": "lead", "metric": "rouge1_f"} in data["runs"][FAILING]["regressed"]
    assert all(r["comparable"] for r in data["runs"])
    for run in made:
        expected = _means(run, "rouge1_f")
        got = {v["system"]: v["mean"] for v in data["values"] if v["run"] == run.run_id and v["metric"] == "rouge1_f"}
        assert got == pytest.approx(expected)
    assert _means(made[FAILING], "rouge1_f")["lead"] < _means(made[0], "rouge1_f")["lead"] - 0.1


def test_the_chart_draws_a_line_per_system_and_marks_only_the_failing_run(runs):
    root, made, _ = runs
    history = load_history([root / "runs"])
    fig = history_chart(history)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(":")[0] for ax in panels] == list(history.metrics)
    assert {"rouge1_f", "length_ok"} <= set(history.metrics)
    rings = []
    for ax, metric in zip(panels, history.metrics):
        lines = {line.get_gid(): line for line in ax.get_lines() if str(line.get_gid()).startswith("system:")}
        assert sorted(lines) == ["system:lead", "system:random"]
        assert all(list(line.get_xdata()) == [0, 1, 2, 3, 4] for line in lines.values())
        bands = [p for p in ax.patches if p.get_gid() == "band:regressed"]
        assert len(bands) == 1 and bands[0].get_x() < FAILING < bands[0].get_x() + bands[0].get_width()
        marked = [line for line in ax.get_lines() if line.get_gid() == "gate:regressed"]
        assert len(marked) <= 1
        rings += [(metric, line) for line in marked]
    rouge1 = [line for metric, line in rings if metric == "rouge1_f"]
    assert len(rouge1) == 1  # exactly one marked point set: the failing run's lead
    assert list(rouge1[0].get_xdata()) == [FAILING]
    assert list(rouge1[0].get_ydata()) == pytest.approx([100 * _means(made[FAILING], "rouge1_f")["lead"]])
    assert all(set(line.get_xdata()) == {FAILING} for _, line in rings)
    legend = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "lead" in legend and "random" in legend and any(t.startswith("gate: regressed") for t in legend)
    ticks = [t.get_text() for t in panels[-1].get_xticklabels()]
    assert ticks[FAILING].endswith("regressed") and COMMITS[FAILING][:7] in ticks[FAILING]
    assert not any("regressed" in t for i, t in enumerate(ticks) if i != FAILING)


def test_runs_scored_differently_are_shown_but_flagged(runs, tmp_path, capsys):
    _, made, _ = runs
    for run in (made[0], made[-1]):
        shutil.copytree(run.run_dir, tmp_path / run.run_id)
    manifest_path = tmp_path / made[0].run_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["metrics"]["rouge"]["signature"] = "rouge(stemmer=off)"  # as if scored without the stemmer
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    capsys.readouterr()
    assert main(["history", str(tmp_path), "--metrics", "rouge1_f,length_ok", "--json", str(tmp_path / "h.json")]) == 0
    text = capsys.readouterr().out
    assert "not comparable: rouge scored differently" in text
    rouge, length = _block(text, "rouge1_f"), _block(text, "length_ok")
    assert all(cell.endswith("*") for cell in rouge[0][-2:]) and not any("*" in c for c in rouge[1])
    assert not any("*" in c for row in length for c in row)  # length was scored the same way: comparable
    data = json.loads((tmp_path / "h.json").read_text(encoding="utf-8"))
    assert [r["comparable"] for r in data["runs"]] == [False, True]
    flags = {(v["run"], v["metric"]): v["comparable"] for v in data["values"]}
    assert flags[(made[0].run_id, "rouge1_f")] is False and flags[(made[-1].run_id, "rouge1_f")] is True
    assert flags[(made[0].run_id, "length_ok")] is True


def _block(text: str, metric: str) -> list[list[str]]:
    """The cells of the rows of one value's table in the history text (after its header line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{metric}: "))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_a_read_only_run_folder_is_not_an_error(runs, tmp_path, monkeypatch, caplog):
    root, made, _ = runs
    run_dir = shutil.copytree(made[1].run_dir, tmp_path / made[1].run_id)
    (run_dir / "gate.json").unlink()

    def refuse(source, target):  # what a read-only folder does (root would be let through by chmod)
        raise PermissionError(13, "Read-only file system", str(target))

    monkeypatch.setattr("evalkit.report.gate.commands.os.replace", refuse)
    with caplog.at_level(logging.WARNING):
        code = main(["check", str(run_dir), "--baseline", str(root / "baseline.json")])
    assert code == 0
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in made[1].run_dir.iterdir()
                                                               if p.name != "gate.json")
    assert "could not record the verdict" in caplog.text
    assert load_history([run_dir]).runs[0].verdict is None


def test_bad_arguments_say_what_to_do(runs, tmp_path, capsys):
    root, _, _ = runs
    assert main(["history", str(root / "runs"), "--metrics", "rouge1_F"]) == 2
    assert "did you mean 'rouge1_f'" in capsys.readouterr().err
    assert main(["history", str(tmp_path)]) == 2
    assert "neither a run folder nor a folder of runs" in capsys.readouterr().err
