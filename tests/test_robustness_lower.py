"""Issue 30, item 10: the lower robustness items, each reproduced from what a user would meet.

a. a 200 whose body is a proxy's HTML page is retried, says what came back, and is paid once;
b. a ``$`` in a system name reaches the charts as text, not as matplotlib mathtext;
c. ``runs/LATEST`` is a plain file holding a plain folder name: written atomically, never through
   a symlink, and read only as a folder of ``runs/``;
d. JUnit XML stays well-formed whatever characters a system name or document id carries;
e. an infinite score is shown as ``inf`` or n/a and crashes no table, chart, JSON or HTML page;
f. a SQLite file that is not an evalkit store is refused before anything is written to it;
g. bidirectional-text controls cannot reorder what the HTML report shows.

The fake API server is tests/api_server.py on 127.0.0.1. Expected values are stated by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from api_server import FakeAPIServer, serve  # noqa: F401 (serve is a fixture)

from evalkit.core.types import Document, LengthTarget
from evalkit.run.experiment import Experiment

REPO = Path(__file__).resolve().parents[1]
KEY_ENV, KEY = "EVALKIT_TEST_LOWER_KEY", "sk-lower-test-key-0123456789abcdef"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-20241022"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("EVALKIT_OFFLINE", "EVALKIT_PRICES", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, KEY)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EVALKIT_OFFLINE", None)
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


# -- a. a proxy's HTML page in place of a completion -------------------------------------------------------
def _documents(n: int) -> list[Document]:
    return [Document(id=f"d{i}", text=f"[doc:d{i}] The council met on day {i}. It approved budget {i}.",
                     references=(f"The council approved budget {i}.",)) for i in range(n)]


@pytest.mark.parametrize("fault", ["html", "html-json"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_200_html_page_is_retried_named_and_paid_once(provider, fault, serve, tmp_path):  # noqa: F811
    server = serve({"d0": [fault], "d1": [fault] * 10})
    url = server.openai_url if provider == "openai" else server.url
    system = {"kind": provider, "name": "api", "model": MODELS[provider], "base_url": url, "api_key_env": KEY_ENV,
              "timeout": 5, "backoff": 0.01, "max_backoff": 0.02, "max_retries": 2, "concurrency": 1,
              "prices": {"input": 1.0, "output": 4.0}}

    def run():
        return Experiment(systems=[system], metrics=[{"kind": "length"}], target=LengthTarget(words=20),
                          output_dir=tmp_path / "runs", progress=False).run(_documents(2))

    first = run()
    ok, failed = first.details("d0", "api"), first.summaries.set_index("document_id").loc["d1"]
    assert ok["attempts"] == 2  # the page, then the completion
    [paid] = [r.usage for r in server.log() if r.key == "d0" and r.fault == "ok"]
    assert ok["cost_usd"] == pytest.approx((paid["prompt"] * 1.0 + paid["completion"] * 4.0) / 1e6)
    hint = "the API's /v1 address" if provider == "openai" else "the API's address without /v1"
    assert failed["error"] == ("gave up after 3 attempts; last error: the server answered 200 with an HTML page "
                               f"('502 Bad Gateway'), not a completion: is base_url {hint} "
                               f"(like {'https://api.openai.com/v1' if provider == 'openai' else 'https://api.anthropic.com'})?")
    assert "AttributeError" not in failed["error"] and "not retried" not in failed["error"]
    assert [r.fault for r in server.log() if r.key == "d1"] == [fault] * 3

    run()  # the completion is stored: not asked (nor paid) again; the page was transient: asked again
    assert [r.fault for r in server.log() if r.key == "d0"] == [fault, "ok"]
    assert [r.fault for r in server.log() if r.key == "d1"] == [fault] * 6


# -- a run whose system name and summaries carry what charts and pages must show as text ----------------------
SPOOF = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows is shown reversed
NAME = f"$x^$ gpt{SPOOF}4pm.exe\u202c"
"""A system name with mathtext syntax (a lone ``^`` between dollars does not parse) and a bidi override."""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    docs = [json.loads(line) for line in
            (REPO / "evalkit" / "data_files" / "news_sample.jsonl").read_text(encoding="utf-8").splitlines()][:3]
    rows = [{"document_id": d["id"], "summary": f"Costs rose by $5^$ {SPOOF}era lla yeht\u202c. "
             + d["article"].split(". ")[0] + "."} for d in docs]
    (tmp / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return Experiment(systems=[{"kind": "lead", "name": "lead"},
                               {"kind": "precomputed", "name": NAME, "path": str(tmp / "outputs.jsonl")}],
                      metrics=[{"kind": "rouge"}, {"kind": "length"}], data={"path": "bundled", "limit": 3},
                      target={"words": 40}, name="hostile", output_dir=tmp / "runs", store=tmp / "store.sqlite",
                      progress=False).run()


# -- b. a "$" in a name is text, not mathtext ----------------------------------------------------------------
def test_every_chart_draws_a_dollar_name_as_written(hostile_run, tmp_path):
    import io

    from matplotlib.text import Text

    from evalkit.report.plots import charts_of

    drawn = 0
    for chart, make in charts_of(hostile_run, n_resamples=200):
        try:
            figure = make()
        except ValueError:  # nothing to show (no entity metric, no cost): not this item's concern
            continue
        figure.savefig(io.BytesIO(), format="png")  # mathtext would raise "ParseSyntaxException" here
        named = [t for t in figure.findobj(Text) if "$x^$" in t.get_text()]
        assert named and not any(t.get_parse_math() for t in named), chart.name
        drawn += 1
    assert drawn >= 2  # metric_comparison and length_compliance have their data


def test_the_report_command_writes_a_page_for_a_dollar_name(hostile_run, tmp_path):
    done = _cli("report", str(hostile_run.run_dir), "--html", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").read_text(encoding="utf-8").count("data:image/png;base64,") >= 2  # charts drawn


def test_numbers_matplotlib_formats_keep_their_mathtext():
    import io

    from evalkit.report.plots.style import new_figure

    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.bar([0, 1], [1e-3, 10.0])
    ax.set_yscale("log")  # ticks 10^-3 ... 10^1, written as mathtext by LogFormatterSciNotation
    ax.set_xticks([0, 1], ["$a^$", "b"])
    fig.savefig(io.BytesIO(), format="png")
    [label] = [t for t in ax.get_xticklabels() if t.get_text() == "$a^$"]
    assert not label.get_parse_math()
    powers = [t for t in ax.get_yticklabels() if "10^{" in t.get_text()]
    assert powers and all(t.get_parse_math() for t in powers)  # drawn as 10 with a raised exponent


# -- c. runs/LATEST ------------------------------------------------------------------------------------------
def _small_run(output_dir: Path, name: str = "small"):
    return Experiment(systems=[{"kind": "lead", "name": "lead"}], metrics=[{"kind": "length"}],
                      data={"path": "bundled", "limit": 2}, target={"words": 30}, name=name,
                      output_dir=output_dir, progress=False).run()


def test_latest_as_a_symlink_is_replaced_not_written_through(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("not yours to overwrite\n", encoding="utf-8")
    (runs / "LATEST").symlink_to(precious)
    run = _small_run(runs)
    assert precious.read_text(encoding="utf-8") == "not yours to overwrite\n"
    latest = runs / "LATEST"
    assert not latest.is_symlink() and latest.is_file()
    assert latest.read_text(encoding="utf-8") == run.run_dir.name + "\n"
    assert sorted(p.name for p in runs.iterdir()) == sorted(["LATEST", "store.sqlite", run.run_dir.name,
                                                              *(p.name for p in runs.glob("store.sqlite-*"))])


@pytest.mark.parametrize("pointer", ["{absolute}", "../elsewhere/{other}", "..", "{mine}/../../elsewhere/{other}"])
def test_latest_names_only_a_folder_of_its_own_runs(pointer, tmp_path):
    elsewhere = _small_run(tmp_path / "elsewhere", "other")  # a real run folder outside runs/
    runs = tmp_path / "runs"
    mine = _small_run(runs)
    text = pointer.format(absolute=elsewhere.run_dir, other=elsewhere.run_dir.name, mine=mine.run_dir.name)
    (runs / "LATEST").write_text(text + "\n", encoding="utf-8")
    report = _cli("report", str(runs))
    assert report.returncode == 2 and elsewhere.run_dir.name + " (" not in report.stdout
    [line] = report.stderr.strip().splitlines()
    assert line == (f"evalkit: error: {runs / 'LATEST'} must hold the name of a run folder inside {runs}, not "
                    f"{text!r}; pass the run folder itself (such as {runs}/<name>-<date>), or delete LATEST and "
                    "re-run")
    if pointer != "{absolute}":
        return
    baseline = tmp_path / "baseline.json"  # the gate reads runs/ the same way
    assert _cli("baseline", "save", str(mine.run_dir), str(baseline)).returncode == 0
    gate = _cli("check", str(runs), "--baseline", str(baseline))
    assert gate.returncode == 2 and "must hold the name of a run folder inside" in gate.stderr


def test_latest_with_a_plain_name_still_opens_the_latest_run(tmp_path):
    runs = tmp_path / "runs"
    _small_run(runs)
    second = _small_run(runs, "second")
    report = _cli("report", str(runs))
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith(f"run {second.run_dir.name} ")


# -- d. JUnit XML with control characters ---------------------------------------------------------------------
def test_junit_stays_well_formed_whatever_a_name_carries(tmp_path):
    from evalkit.report.gate.decision import Check, GateResult

    system, document = "gpt\x1b[31m\x00red", "doc\x0c7\ud800"  # ESC, NUL, form feed, a lone surrogate
    checks = [Check(system, "rouge1_f", "regressed", "-0.1000 (worse)", n=1, baseline=0.5, new=0.4, drop=0.1,
                    worst=[(document, 0.5, 0.4, 0.1)]),
              Check(system, "length_ok", "error", "the baseline has no value\x07 here"),
              Check("lead\x01", "rouge1_f", "passed", "+0.0000\x0b")]
    result = GateResult("regressed", checks, [], ["a note with a bell\x07", "and\ttab"], 0.05, None, "base\x02", "new\x03")
    path = tmp_path / "gate.xml"
    path.write_text(result.to_junit(), encoding="utf-8")  # a lone surrogate could not even be encoded
    root = ET.parse(path).getroot()  # expat refuses every character XML 1.0 forbids
    cases = root.findall(".//testcase")
    assert [c.get("classname") for c in cases] == ["evalkit.gate.gpt\\x1b[31m\\x00red"] * 2 + ["evalkit.gate.lead\\x01"]
    assert cases[0].find("failure").text == "doc\\x0c7\\ud800: 0.5000 -> 0.4000 (-0.1000)"
    assert cases[1].find("error").get("message").endswith("the baseline has no value\\x07 here")
    assert cases[2].find("system-out").text == "+0.0000\\x0b"
    assert root.find("testsuite").get("name") == "evalkit-gate.new\\x03"
    assert root.find("testsuite/system-out").text == "a note with a bell\\x07\nand\ttab"  # tab, newline: allowed


# -- e. an infinite score --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def infinite_run(hostile_run, tmp_path_factory):
    """The hostile run with ROUGE-1 of one summary +inf and every lead length -inf, as a damaged or
    hand-edited scores.csv holds them."""
    run_dir = tmp_path_factory.mktemp("inf") / hostile_run.run_dir.name
    shutil.copytree(hostile_run.run_dir, run_dir)
    scores = pd.read_csv(run_dir / "scores.csv", dtype={"document_id": str})
    first = scores["document_id"].iloc[0]
    scores.loc[(scores["system"] == NAME) & (scores["metric"] == "rouge1_f") & (scores["document_id"] == first),
               "value"] = math.inf
    scores.loc[(scores["system"] == "lead") & (scores["metric"] == "length_words"), "value"] = -math.inf
    scores.to_csv(run_dir / "scores.csv", index=False)
    text = (run_dir / "scores.csv").read_text(encoding="utf-8")
    assert text.count(",inf,") == 1 and text.count(",-inf,") == 3  # what the commands below read
    return run_dir


def test_an_infinite_score_is_inf_in_the_table_and_null_in_json(infinite_run):
    table = _cli("report", str(infinite_run))
    assert table.returncode == 0, table.stderr
    [lead] = [line for line in table.stdout.splitlines() if line.startswith("lead ")]
    assert "-inf" in lead.split()
    done = _cli("report", str(infinite_run), "--json")
    assert done.returncode == 0, done.stderr
    means = json.loads(done.stdout)["means"]  # strict JSON: Python's parser would accept Infinity, so also:
    assert "Infinity" not in done.stdout and "NaN" not in done.stdout
    assert means["lead"]["length_words"] is None and means[NAME]["rouge1_f"] is None
    scores = pd.read_csv(infinite_run / "scores.csv")
    finite = scores[(scores["system"] == NAME) & (scores["metric"] == "rouge2_f")]["value"]
    assert means[NAME]["rouge2_f"] == pytest.approx(finite.sum() / 3)  # the rest is untouched


def test_an_infinite_score_leaves_the_html_report_and_its_charts_whole(infinite_run, tmp_path):
    done = _cli("report", str(infinite_run), "--html", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 2 and "Axis limits" not in page
    data = json.loads(page.split('id="evalkit-data">', 1)[1].split("</script>", 1)[0])
    column = data["values"].index("rouge1_f")
    [system] = [i for i, name in enumerate(data["systems"]) if name.startswith("$x^$")]  # NAME, bidi marked (g)
    scores = pd.read_csv(infinite_run / "scores.csv", dtype={"document_id": str})
    [infinite] = scores.loc[scores["value"] == math.inf, "document_id"]
    [entry] = [d[2][system] for d in data["documents"] if d[0] == infinite]
    assert entry[2][column] is None  # the drill-down shows n/a
    assert "infinite" in done.stderr  # said once, as a warning, not a crash


# -- f. someone else's SQLite file as the store ------------------------------------------------------------------
def _foreign_database(path: Path, tables: dict[str, str]) -> str:
    with sqlite3.connect(path) as db:
        for name, columns in tables.items():
            db.execute(f"CREATE TABLE {name} ({columns})")
            db.execute(f"INSERT INTO {name} VALUES ({', '.join('?' * len(columns.split(',')))})",
                       list(range(len(columns.split(",")))))
    db.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_foreign_database_given_as_the_store_is_refused_and_left_untouched(tmp_path):
    foreign = tmp_path / "shop.db"
    digest = _foreign_database(foreign, {"orders": "id INTEGER, total REAL", "customers": "id INTEGER, name TEXT"})
    before = sorted(p.name for p in tmp_path.iterdir())
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"name": "f", "data": {"path": "bundled", "limit": 2}, "target": {"words": 30},
                                  "output_dir": str(tmp_path / "runs"), "systems": [{"kind": "lead"}],
                                  "metrics": [{"kind": "length"}]}), encoding="utf-8")  # JSON is YAML
    done = _cli("run", str(config), "--store", str(foreign), "-q")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line == (f"evalkit: error: {foreign} is not an evalkit store (it has tables customers, orders); pass "
                    "another --store path")
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == digest  # not stamped, not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("run.yaml", "runs")) == before


def test_a_database_with_evalkit_table_names_but_no_schema_version_is_refused(tmp_path):
    from evalkit.core.errors import StoreError
    from evalkit.run.store import Store

    path = tmp_path / "runs.db"
    digest = _foreign_database(path, {"runs": "run_id TEXT, started TEXT"})  # another tool's "runs" table
    with pytest.raises(StoreError, match=r"is not an evalkit store \(it has tables runs\)"):
        Store(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


# -- g. bidirectional-text controls in the HTML report ------------------------------------------------------------
BIDI = [chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
"""UAX #9's formatting characters: ALM, LRM, RLM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI."""


def test_the_html_report_shows_bidi_controls_as_markers_not_as_reordering(hostile_run, tmp_path):
    from evalkit.report.html import write_html

    page = write_html(hostile_run, tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(BIDI) == 12 and not [hex(ord(c)) for c in BIDI if c in page]
    assert "<th>$x^$ gpt⟨U+202E⟩4pm.exe⟨U+202C⟩</th>" in page  # the system, in the tables
    data = json.loads(page.split('id="evalkit-data">', 1)[1].split("</script>", 1)[0])
    assert "$x^$ gpt⟨U+202E⟩4pm.exe⟨U+202C⟩" in data["systems"]  # ... and in the drill-down
    texts = [entry[0] for document in data["documents"] for entry in document[2] if entry]
    assert sum("⟨U+202E⟩era lla yeht⟨U+202C⟩" in text for text in texts) == 3  # every hostile summary


def test_every_bidi_control_becomes_its_own_marker():
    from evalkit.report.html import visible_bidi

    assert visible_bidi("a" + "".join(BIDI) + "b") == ("a⟨U+061C⟩⟨U+200E⟩⟨U+200F⟩⟨U+202A⟩⟨U+202B⟩⟨U+202C⟩⟨U+202D⟩"
                                                       "⟨U+202E⟩⟨U+2066⟩⟨U+2067⟩⟨U+2068⟩⟨U+2069⟩b")
    assert visible_bidi("שלום abc") == "שלום abc"  # right-to-left letters are text, not controls
