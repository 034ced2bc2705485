"""What the gate and the report write when names or scores are hostile or broken.

- A system and a document named with U+202E (RIGHT-TO-LEFT OVERRIDE, "Trojan Source") must not reverse a
  pull-request comment: the gate's Markdown and terminal report show ``⟨U+202E⟩``, as the HTML report does;
  its JSON (and ``evalkit report --json``) keeps the exact name, written as the escape ``\\u202e``.
- A system with an infinite score has no mean to rank by: it is listed after the ranking with the reason,
  and the gate's JSON stays strict JSON (``null`` and a note), parsed here by a parser that refuses
  ``Infinity`` and ``NaN``.

The runs are real (lead and textrank on 12 synthetic documents, ROUGE and length); the broken and
regressed runs are copies with hand-made scores (``derived``/``with_values`` of test_gate).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_gate import REPO, derived, synthetic_rows, with_values, write_jsonl

from evalkit.report.gate import check, save_baseline
from evalkit.report.html import render_html
from evalkit.report.stats import ranking
from evalkit.report.summary import run_summary, to_json
from evalkit.report.tables import format_ranking, format_table
from evalkit.run.experiment import Experiment

RLO = "\u202e"
SYSTEM = f"lead{RLO}txt.exe"
DOCUMENT = f"doc{RLO}-99"
CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""UAX #9's bidirectional formatting characters, written out here from the standard."""


def strict(text: str):
    """``json.loads`` that refuses the non-standard constants ``Infinity``, ``-Infinity`` and ``NaN``."""
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(run, baseline file, regressed run): the regressed run has lead's ROUGE-1 halved, its last document
    (the bidi-named one, last in id order) dropped to 0 so that it heads the most affected documents."""
    root = tmp_path_factory.mktemp("hygiene")
    rows = synthetic_rows(12)
    rows[-1]["id"] = DOCUMENT
    data = write_jsonl(root / "news.jsonl", rows)
    run = Experiment(systems=[{"kind": "lead", "name": SYSTEM}, {"kind": "textrank", "name": "textrank"}],
                     metrics=[{"kind": "rouge"}, {"kind": "length"}], data={"path": str(data)},
                     target={"words": 60}, name="base", output_dir=root / "runs", store=root / "store.sqlite",
                     progress=False).run()
    baseline = root / "baseline.json"
    save_baseline(run, baseline)
    worse = derived(run, "worse", scores=with_values(run, SYSTEM, "rouge1_f", lambda v: np.r_[v[:-1] * 0.5, 0.0]))
    return run, baseline, worse


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300, check=False)


# -- bidirectional controls ----------------------------------------------------------------------

def test_markdown_and_terminal_report_show_bidi_controls_as_markers(runs, tmp_path):
    _, baseline, worse = runs
    result = check(worse, baseline)
    assert result.verdict == "regressed"
    shown_system, shown_document = "lead⟨U+202E⟩txt.exe", "doc⟨U+202E⟩-99"
    markdown = result.to_markdown(all_rows=True)
    assert CONTROLS.search(markdown) is None
    assert f"| {shown_system} | rouge1_f |" in markdown and f"**{shown_system} / rouge1_f**" in markdown
    assert f"| {shown_document} |" in markdown  # the most affected document
    text = result.to_text(all_rows=True)
    assert CONTROLS.search(text) is None and shown_system in text and f"    {shown_document}: " in text
    rule, row = text.splitlines()[3:5]  # the columns still line up with the marker in them
    assert len(rule.split("  ")[0]) == len(shown_system) and row.startswith(shown_system + "  ")
    assert CONTROLS.search(result.to_junit()) is None


def test_evalkit_reports_text_shows_bidi_controls_as_markers(runs):
    run, _, _ = runs
    shown = "lead⟨U+202E⟩txt.exe"
    table = format_table(run)
    assert CONTROLS.search(table) is None
    header, rule, *rows = table.splitlines()
    row = next(r for r in rows if r.startswith(shown + " "))  # the widths were measured on what is shown
    assert len(rule.split()[0]) == len(shown) and row.split()[0] == shown
    ranking = format_ranking(run, "rouge1_f")
    assert CONTROLS.search(ranking) is None and shown in ranking


def test_json_keeps_the_exact_names_as_escapes(runs, tmp_path):
    run, baseline, _ = runs
    saved = baseline.read_text(encoding="utf-8")  # the committed baseline: its diff in a pull request
    assert CONTROLS.search(saved) is None and "lead\\u202etxt.exe" in saved
    assert SYSTEM in strict(saved)["systems"] and DOCUMENT in strict(saved)["data"]["ids"]
    out = _cli("check", str(run.run_dir), "--baseline", str(baseline), "--json")
    assert out.returncode == 0, out.stderr
    assert CONTROLS.search(out.stdout) is None and "lead\\u202etxt.exe" in out.stdout
    data = strict(out.stdout)
    assert {c["system"] for c in data["checks"]} == {SYSTEM, "textrank"}  # the data is the exact name
    report = _cli("report", str(run.run_dir), "--json")
    assert report.returncode == 0, report.stderr
    assert CONTROLS.search(report.stdout) is None
    assert set(strict(report.stdout)["systems"]) == {SYSTEM, "textrank"}


# -- non-finite values ----------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # numpy on inf - inf
def test_a_system_without_a_finite_mean_is_listed_after_the_ranking_with_the_reason():
    frame = pd.DataFrame(
        [(f"d{i}", system, "m", value) for system, values in (("a", [1.0, 2.0, 3.0]), ("b", [0.5, 0.6, 0.7]),
                                                               ("c", [1.0, np.inf, 2.0]), ("d", [np.inf, -np.inf, 1.0]))
         for i, value in enumerate(values)], columns=["document_id", "system", "metric", "value"])
    table = ranking(frame, "m", n_resamples=200)
    assert list(table["system"]) == ["a", "b", "c", "d"]
    assert list(table["rank"].astype(object).where(table["rank"].notna(), None)) == [1, 2, None, None]
    assert list(table["rank_worst"].astype(object).where(table["rank_worst"].notna(), None)) == [2, 2, None, None]
    assert table.loc[2, "note"] == "not ranked: mean is inf (1 document has inf)"
    assert table.loc[3, "note"] == "not ranked: mean is undefined (inf - inf) (1 document has inf, 1 document has -inf)"
    assert table.loc[0, "mean"] == pytest.approx(2.0) and table.loc[1, "mean"] == pytest.approx(0.6)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # numpy on inf - inf
def test_an_infinite_score_is_not_ranked_and_the_gates_json_is_strict(runs):
    run, baseline, _ = runs
    broken = derived(run, "broken", scores=with_values(run, SYSTEM, "rouge1_f", lambda v: np.r_[np.inf, v[1:]]))
    text = format_ranking(broken, "rouge1_f")
    lines = text.splitlines()
    assert lines[1].startswith("  1. textrank")
    shown = "lead⟨U+202E⟩txt.exe"  # the marker: a terminal shows it as written
    assert lines[2].split() == ["-", shown, "n/a", "not", "ranked:", "mean", "is", "inf", "(1", "document", "has",
                                "inf)"]
    summary = strict(to_json(run_summary(broken, n_resamples=200)))
    rows = {r["system"]: r for r in summary["rankings"]["rouge1_f"]}
    assert rows["textrank"]["rank"] == 1 and rows[SYSTEM]["rank"] is None and rows[SYSTEM]["mean"] is None
    assert rows[SYSTEM]["note"] == "not ranked: mean is inf (1 document has inf)"
    page = render_html(broken)
    assert "⟨U+202E⟩txt.exe</th><td class=\"num\">n/a</td>" in page
    assert "not ranked: mean is inf (1 document has inf)" in page

    data = strict(check(broken, baseline).to_json())  # strict JSON: no Infinity
    lead = next(c for c in data["checks"] if (c["system"], c["metric"]) == (SYSTEM, "rouge1_f"))
    assert lead["new"] is None and lead["change"] is None and lead["baseline"] == pytest.approx(
        run.values().query("system == @SYSTEM and metric == 'rouge1_f'")["value"].mean())
    notes = [n for n in data["notes"] if n.startswith(f"{SYSTEM} / rouge1_f: ")]
    assert len(notes) == 1 and "new is inf" in notes[0] and "written as null" in notes[0]
    # and an infinite mean is not a verdict: could not compare (exit 3), saying which run has how many
    assert data["verdict"] == "incomparable" and lead["status"] == "error"
    assert "infinite values (run: 1 of" in lead["reason"] and "gate: false" in lead["reason"]
    others = [c for c in data["checks"] if (c["system"], c["metric"]) != (SYSTEM, "rouge1_f")]
    assert others and all(c["status"] == "passed" for c in others)  # the rest is still decided
    with pytest.raises(ValueError, match=r"rouge1_f is infinite on 1 document\(s\) of run .*gate: false"):
        save_baseline(broken, run.run_dir.parent / "inf-baseline.json")  # one line, not JSON's "Out of range float"
    assert not (run.run_dir.parent / "inf-baseline.json").exists()
