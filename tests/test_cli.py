"""The command line: ``evalkit run`` prints the table and where results are, ``report`` prints it again."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalkit.cli import main
from evalkit.run.experiment import Run

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ["lead-3", "textrank", "lexrank"]


@pytest.fixture
def small_config(tiny_jsonl, tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({
        "name": "small",
        "data": {"path": str(tiny_jsonl)},
        "target": {"sentences": 2},
        "systems": [{"kind": "lead", "name": "lead-3"}, {"kind": "textrank"}, {"kind": "lexrank"}],
        "metrics": [{"kind": "rouge"}, {"kind": "length"}],
        "output_dir": str(tmp_path / "runs"),
    }), encoding="utf-8")
    return path


def table_lines(output: str) -> list[str]:
    """The per-system rows of a printed table (the line after the header's rule, up to a blank line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("system")) + 2
    end = lines.index("", start)
    return lines[start:end]


def test_run_prints_a_table_with_every_system_and_the_results_path(small_config, tmp_path, capsys):
    assert main(["run", str(small_config), "-q"]) == 0
    out = capsys.readouterr().out
    assert "4 documents x 3 systems" in out and "in 2 sentences" in out
    header = next(line for line in out.splitlines() if line.startswith("system"))
    assert header.split() == ["system", "n", "rouge1_f", "rouge2_f", "rougeLsum_f", "length_words", "length_ok",
                              "length_feasible", "failed"]
    rows = table_lines(out)
    assert [row.split()[0] for row in rows] == SYSTEMS
    run = Run.load(tmp_path / "runs")
    assert f"Results: {run.run_dir}/scores.csv" in out
    assert (run.run_dir / "scores.csv").exists()
    # the printed means are the run's, as percentages
    lead = dict(zip(header.split(), rows[0].split()))
    assert float(lead["rouge1_f"]) == pytest.approx(100 * run.table(["rouge1_f"]).loc["lead-3", "rouge1_f"], abs=0.05)
    assert float(lead["length_ok"]) == pytest.approx(100.0)  # lead-2 on 4-5 sentence documents has 2 sentences
    assert lead["failed"] == "0" and lead["n"] == "4"
    assert "Computed 12 summaries (0 from the store)" in out


def test_report_prints_the_same_table_again(small_config, tmp_path, capsys):
    main(["run", str(small_config), "-q"])
    run_output = capsys.readouterr().out
    run = Run.load(tmp_path / "runs")
    assert main(["report", str(run.run_dir)]) == 0
    report_output = capsys.readouterr().out
    assert report_output.startswith(f"run {run.run_id} ")
    assert table_lines(report_output) == table_lines(run_output)
    # the runs folder itself means its latest run; --metrics picks columns
    assert main(["report", str(tmp_path / "runs"), "--metrics", "rouge2_f,length_words"]) == 0
    picked = capsys.readouterr().out
    header = next(line for line in picked.splitlines() if line.startswith("system"))
    assert header.split() == ["system", "n", "rouge2_f", "length_words", "failed"]
    assert [row.split()[0] for row in table_lines(picked)] == SYSTEMS


def test_second_run_reports_everything_from_the_store(small_config, capsys):
    main(["run", str(small_config), "-q"])
    first = capsys.readouterr().out
    main(["run", str(small_config), "-q"])
    second = capsys.readouterr().out
    assert "Computed 0 summaries (12 from the store) and 0 scores" in second
    assert table_lines(second) == table_lines(first)


def test_output_and_limit_options(small_config, tmp_path, capsys):
    assert main(["run", str(small_config), "-q", "--output", str(tmp_path / "elsewhere"), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 documents x 3 systems" in out
    assert (tmp_path / "elsewhere" / "store.sqlite").exists()
    assert not (tmp_path / "runs").exists()


def test_bad_config_path_exits_2_with_a_clear_message(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["run", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("evalkit: error: ")
    assert f"{missing}: no such config file" in captured.err


def test_config_mistakes_exit_2_and_say_what_to_change(small_config, capsys):
    config = yaml.safe_load(small_config.read_text(encoding="utf-8"))
    config["systems"][1] = {"kind": "textrnak"}
    small_config.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", str(small_config), "-q"]) == 2
    assert "Did you mean 'textrank'?" in capsys.readouterr().err


def test_report_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_module_entry_point_exit_code(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(tmp_path / "nope.yaml")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no such config file" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- compare

CASE = REPO / "evalkit" / "data_files" / "cases" / "scraped_example.txt"
EXPECTED = REPO / "evalkit" / "data_files" / "cases" / "scraped_example.expected.json"


def test_compare_parses_the_instruction_cleans_the_page_and_warns_the_target_cannot_be_met(tmp_path, capsys):
    import json

    assert main(["compare", str(CASE), "--output", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "Instruction: 'Summarize this content to 1500 words in 5 paragraphs'" in out
    assert "Target: in about 1500 words, in 5 paragraphs" in out
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert f"Removed {len(expected['dropped'])} lines" in out
    assert "target 1500 words but the source's content has" in out  # infeasible, said plainly
    for system in ("lead", "lead-words", "textrank", "lexrank"):
        assert f"=== {system} ===" in out
    assert "the article is shorter than the target" in out
    assert "entities not in the source: none" in out  # extractive summaries invent nothing
    for line in expected["dropped"]:
        if len(line) > 20:
            assert line not in out.split("=== lead ===")[1]  # page noise never reaches a summary


def test_compare_with_an_explicit_instruction_and_bad_input(tmp_path, capsys):
    article = tmp_path / "article.txt"
    article.write_text("The council approved the budget on Monday. Residents protested outside the hall. "
                       "The mayor promised a review of the plan next month.", encoding="utf-8")
    assert main(["compare", str(article), "--instruction", "in one sentence", "--output", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "Target: in 1 sentence" in out
    assert "The council approved the budget on Monday." in out
    assert main(["compare", str(tmp_path / "missing.txt")]) == 2
    assert "no such article file" in capsys.readouterr().err
    assert main(["compare", str(article), "--instruction", "make it nice"]) == 2
    assert "cannot read a length target" in capsys.readouterr().err
