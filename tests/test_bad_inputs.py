"""The bad-input table as tests: each case gives the exit code, a one-line message naming what is
wrong and how to fix it, no traceback, and leaves an earlier good run and its store intact (the
run still loads; an identical re-run computes nothing). Cases that should simply work say so.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import TINY_ROWS
from evalkit.cli import main
from evalkit.run.record import Run

REPO = Path(__file__).resolve().parents[1]
GOOD = {"name": "good", "target": {"sentences": 2}, "systems": [{"kind": "lead", "name": "lead"}],
        "metrics": [{"kind": "rouge"}, {"kind": "length"}]}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict:
    """A workspace with data, a config and one finished run with its store."""
    root = tmp_path_factory.mktemp("good")
    data = root / "tiny.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in TINY_ROWS), encoding="utf-8")
    config = root / "good.yaml"
    config.write_text(yaml.safe_dump({**GOOD, "data": {"path": str(data)}, "output_dir": str(root / "runs")}))
    assert main(["run", str(config), "-q"]) == 0
    run_dir = Run.load(root / "runs").run_dir
    return {"root": root, "data": data, "config": config, "run_dir": run_dir, "store": root / "runs" / "store.sqlite"}


@dataclass
class Ws:
    """What a case may use: the good workspace (read-only) and a fresh folder of its own."""

    good: dict
    tmp: Path

    def config(self, **changes) -> Path:
        config = {**GOOD, "data": {"path": str(self.good["data"])}, "output_dir": str(self.tmp / "runs"), **changes}
        path = self.tmp / "case.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    def data(self, rows: list[dict], name: str = "data.jsonl") -> Path:
        path = self.tmp / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    def with_data(self, rows: list[dict], **changes) -> list[str]:
        return ["run", str(self.config(data={"path": str(self.data(rows))}, **changes)), "-q"]

    def store_copy(self, damage: Callable[[bytes], bytes]) -> Path:
        path = self.tmp / "copy.sqlite"
        with sqlite3.connect(self.good["store"]) as db:  # a checkpointed copy, then damaged
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path.write_bytes(damage(self.good["store"].read_bytes()))
        return path


def rows(**change) -> list[dict]:
    out = [dict(r) for r in TINY_ROWS]
    out[1].update(change)
    return out


def csv_file(ws: Ws, *, delimiter: str = ",", encoding: str = "utf-8", accent: str = "Café Zürich") -> Path:
    """The tiny rows as CSV, each article opening with ``accent``; characters the encoding lacks become '?'."""
    path = ws.tmp / "data.csv"
    with path.open("w", newline="", encoding=encoding, errors="replace") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["id", "article", "references"])
        for r in TINY_ROWS:
            writer.writerow([r["id"], f"{accent} opened on Monday. " + r["article"], r["references"][0]])
    return path


def csv_run(ws: Ws, **options) -> list[str]:
    return ["run", str(ws.config(data={"path": str(csv_file(ws, **options))})), "-q"]


def precomputed(ws: Ws, **spec) -> list[str]:
    outputs = ws.tmp / "outputs.jsonl"
    outputs.write_text("".join(json.dumps({"document_id": r["id"], "summary": r["references"][0], "model": "bart"}) + "\n"
                               for r in TINY_ROWS), encoding="utf-8")
    system = {"kind": "precomputed", "name": "pre", "path": str(outputs), **spec}
    return ["run", str(ws.config(systems=[system])), "-q"]


def readonly(ws: Ws) -> list[str]:
    folder = ws.tmp / "readonly"
    folder.mkdir()
    _freeze(folder)
    return ["run", str(ws.good["config"]), "-q", "--output", str(folder)]


def _freeze(folder: Path) -> None:
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permissions; an immutable folder refuses even root
        subprocess.run(["chattr", "+i", str(folder)], check=True)


def _thaw(tmp: Path) -> None:
    for folder in tmp.rglob("*"):
        if folder.is_dir():
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
            folder.chmod(0o755)


HTML_PAGE = ("<!DOCTYPE html><html><head><script>var tracking = 1;</script><style>p{color:red}</style></head>"
             "<body><div class='nav'><a href='/'>Home</a></div><p>" + TINY_ROWS[0]["article"] + "</p></body></html>")

# (id, argv builder, exit code, words the message must contain (all, case-insensitive))
CASES: list[tuple[str, Callable[[Ws], list[str]], int, tuple[str, ...]]] = [
    # command line
    ("limit-zero", lambda ws: ["run", str(ws.good["config"]), "--limit", "0"], 2, ("--limit", "at least 1")),
    ("limit-negative", lambda ws: ["run", str(ws.good["config"]), "--limit", "-3"], 2, ("--limit", "at least 1")),
    ("limit-not-number", lambda ws: ["run", str(ws.good["config"]), "--limit", "ten"], 2, ("--limit", "whole number")),
    ("unknown-command", lambda ws: ["rnu"], 2, ("invalid choice", "--help")),
    # config files
    ("config-missing", lambda ws: ["run", str(ws.tmp / "nope.yaml")], 2, ("nope.yaml", "no such config")),
    ("config-is-folder", lambda ws: ["run", str(ws.tmp)], 2, ("folder", "yaml")),
    ("config-bad-yaml", lambda ws: (ws.tmp / "c.yaml").write_text("systems: [lead\nname: x: y\n") and
     ["run", str(ws.tmp / "c.yaml")], 2, ("not valid yaml", "c.yaml")),
    ("config-not-mapping", lambda ws: (ws.tmp / "c.yaml").write_text("- lead\n") and ["run", str(ws.tmp / "c.yaml")],
     2, ("mapping",)),
    ("config-latin1", lambda ws: (ws.tmp / "c.yaml").write_bytes("name: caf\xe9\nsystems: [lead]\n".encode("latin-1"))
     and ["run", str(ws.tmp / "c.yaml")], 2, ("utf-8", "save it")),
    ("config-unknown-key", lambda ws: ["run", str(ws.config(sytems=[]))], 2, ("sytems", "did you mean 'systems'")),
    ("config-no-systems", lambda ws: ["run", str(ws.config(systems=[]))], 2, ("at least one system",)),
    ("system-typo", lambda ws: ["run", str(ws.config(systems=[{"kind": "leed"}]))], 2, ("leed", "did you mean 'lead'")),
    ("metric-typo", lambda ws: ["run", str(ws.config(metrics=[{"kind": "rogue"}]))], 2, ("rogue", "did you mean")),
    ("system-option-typo", lambda ws: ["run", str(ws.config(systems=[{"kind": "lead", "sentense": 2}]))], 2,
     ("sentense", "takes")),
    ("duplicate-system-names", lambda ws: ["run", str(ws.config(systems=["lead", "lead"]))], 2, ("unique", "name")),
    ("systems-not-list", lambda ws: ["run", str(ws.config(systems="lead"))], 2, ("systems", "list")),
    ("target-negative-words", lambda ws: ["run", str(ws.config(target={"words": -5}))], 2, ("target", "words",
                                                                                          "positive")),
    ("target-zero-paragraphs", lambda ws: ["run", str(ws.config(target={"paragraphs": 0}))], 2, ("paragraphs",
                                                                                               "positive")),
    ("target-unknown-field", lambda ws: ["run", str(ws.config(target={"word": 50}))], 2, ("word", "use words")),
    ("target-unreadable", lambda ws: ["run", str(ws.config(target="make it nice"))], 2, ("length target", "e.g.")),
    ("batch-size-zero", lambda ws: ["run", str(ws.config(batch_size=0))], 2, ("batch_size", ">= 1")),
    ("name-with-slash", lambda ws: ["run", str(ws.config(name="a/b"))], 2, ("name", "folder")),
    # data
    ("data-missing", lambda ws: ["run", str(ws.config(data={"path": str(ws.tmp / "gone.jsonl")}))], 2,
     ("gone.jsonl", "no such file")),
    ("data-is-folder", lambda ws: ["run", str(ws.config(data={"path": str(ws.tmp)}))], 2, ("folder", "data file")),
    ("data-unsupported-type", lambda ws: (ws.tmp / "d.txt").write_text("x") and
     ["run", str(ws.config(data={"path": str(ws.tmp / "d.txt")}))], 2, ("unsupported", ".jsonl")),
    ("data-bad-json-line", lambda ws: (ws.tmp / "d.jsonl").write_text('{"id": "a"}\n{"id": \n') and
     ["run", str(ws.config(data={"path": str(ws.tmp / "d.jsonl")}))], 2, ("line 2", "json")),
    ("data-missing-column", lambda ws: ws.with_data([{"id": "a", "text": "x"}]), 2, ("missing column", "columns:")),
    ("data-duplicate-ids", lambda ws: ws.with_data(rows(id=TINY_ROWS[0]["id"])), 2, ("duplicate id", "unique")),
    ("data-empty-article", lambda ws: ws.with_data(rows(article="   ")), 2, ("empty", "article")),
    ("data-no-references", lambda ws: ws.with_data(rows(references=[])), 2, ("no reference", "require_references")),
    ("data-html-page", lambda ws: ws.with_data(rows(article=HTML_PAGE)), 2, ("html", "extract the text")),
    ("data-limit-zero", lambda ws: ["run", str(ws.config(data={"path": str(ws.good["data"]), "limit": 0}))], 2,
     ("limit", ">= 1")),
    ("data-sample-typo", lambda ws: ["run", str(ws.config(data={"path": str(ws.good["data"]), "sample": "rand"}))],
     2, ("sample", "random")),
    ("data-unknown-setting", lambda ws: ["run", str(ws.config(data={"path": str(ws.good["data"]), "lmit": 2}))],
     2, ("lmit", "did you mean 'limit'")),
    ("data-bad-instruction", lambda ws: ["run", str(ws.config(data={
        "path": str(ws.data([{"ask": "in 2 sentences", **r} for r in rows(ask="whatever you like")])),
        "columns": {"instruction": "ask"}}))], 2, ("length target", "row 2")),
    # precomputed outputs
    ("precomputed-system-typo", lambda ws: precomputed(ws, system_column="model", system="bert"), 2,
     ("bert", "did you mean 'bart'", "the file has")),
    ("precomputed-column-typo", lambda ws: precomputed(ws, system_column="modle", system="bart"), 2,
     ("modle", "did you mean 'model'")),
    ("precomputed-missing-file", lambda ws: ["run", str(ws.config(systems=[{"kind": "precomputed",
                                                                            "path": "outs.jsonl"}]))], 2,
     ("outs.jsonl", "does not exist")),
    ("precomputed-id-column", lambda ws: precomputed(ws, id_column="doc"), 2, ("missing column", "id_column")),
    ("every-summary-failed", lambda ws: ws.data([{"document_id": "zz", "summary": "s"}], "o.jsonl") and
     ["run", str(ws.config(systems=[{"kind": "precomputed", "path": str(ws.tmp / "o.jsonl")}])), "-q"], 1,
     ("every summary failed", "no output for document")),
    ("strict-partial-failure", lambda ws: ws.data([{"document_id": TINY_ROWS[0]["id"], "summary": "s."}], "o.jsonl")
     and ["run", str(ws.config(systems=[{"kind": "precomputed", "path": str(ws.tmp / "o.jsonl")}])), "-q",
          "--strict"], 1, ("--strict", f"{len(TINY_ROWS) - 1} of {len(TINY_ROWS)} summaries failed")),
    # the store and output folders
    ("store-is-folder", lambda ws: ["run", str(ws.good["config"]), "--store", str(ws.tmp)], 2,
     ("is a folder", "--store")),
    ("store-garbage", lambda ws: (ws.tmp / "g.sqlite").write_bytes(b"this is not a database" * 100) and
     ["run", str(ws.good["config"]), "--store", str(ws.tmp / "g.sqlite")], 2, ("not a usable evalkit store",
                                                                              "move it aside")),
    ("store-truncated", lambda ws: ["run", str(ws.good["config"]), "--store",
                                    str(ws.store_copy(lambda b: b[:len(b) // 3]))], 2, ("store", "move it aside")),
    ("store-garbage-in-middle", lambda ws: ["run", str(ws.good["config"]), "--store", str(ws.store_copy(
        lambda b: b[:4096 * 2] + os.urandom(4096) + b[4096 * 3:]))], 2, ("damaged", "move it aside")),
    ("store-parent-is-file", lambda ws: ["run", str(ws.good["config"]), "--store",
                                         str(ws.good["data"] / "store.sqlite")], 2, ("file of that name", "--store")),
    ("output-read-only", readonly, 2, ("permission", "another --output")),
    # report
    ("report-missing", lambda ws: ["report", str(ws.tmp / "nothing")], 2, ("nothing",)),
    ("report-damaged-manifest", lambda ws: shutil.copytree(ws.good["run_dir"], ws.tmp / "r") and
     (ws.tmp / "r" / "manifest.json").write_text('{"name": ') and ["report", str(ws.tmp / "r")], 2,
     ("not a readable run folder", "re-run")),
    ("report-not-a-run", lambda ws: ["report", str(ws.tmp)], 2, ("not a run directory",)),
    ("data-garbage-parquet", lambda ws: (ws.tmp / "d.parquet").write_bytes(b"garbage") and
     ["run", str(ws.config(data={"path": str(ws.tmp / "d.parquet")}))], 2, ("parquet", "re-export")),
    ("data-empty-csv", lambda ws: (ws.tmp / "d.csv").write_text("id,article,references\n") and
     ["run", str(ws.config(data={"path": str(ws.tmp / "d.csv")}))], 2, ("no documents",)),
    ("seed-not-number", lambda ws: ["run", str(ws.config(seed="x"))], 2, ("seed", "whole number")),
    ("report-metric-typo", lambda ws: ["report", str(ws.good["run_dir"]), "--metrics", "rogue1_f"], 2,
     ("rogue1_f", "did you mean 'rouge1_f'")),
    # compare
    ("compare-missing", lambda ws: ["compare", str(ws.tmp / "a.txt")], 2, ("no such article file",)),
    ("compare-empty", lambda ws: (ws.tmp / "a.txt").write_text("Summarize in 3 sentences\n\n") is not None and
     ["compare", str(ws.tmp / "a.txt"), "--output", str(ws.tmp / "o")], 2, ("no article text",)),
]

WORKS: list[tuple[str, Callable[[Ws], list[str]], str]] = [
    ("csv-semicolon", lambda ws: csv_run(ws, delimiter=";"), "Café Zürich"),
    ("csv-latin1", lambda ws: csv_run(ws, encoding="latin-1"), "Café Zürich"),
    ("csv-cp1252", lambda ws: csv_run(ws, encoding="cp1252", accent="Café “Zürich”"), "Café “Zürich”"),
    ("csv-utf8-bom", lambda ws: csv_run(ws, encoding="utf-8-sig"), "Café Zürich"),
    ("tsv-as-csv", lambda ws: csv_run(ws, delimiter="\t"), "Café Zürich"),
]


def _intact(good: dict, capsys) -> None:
    assert Run.load(good["run_dir"]).table(["rouge1_f"]).notna().all().all()
    assert main(["run", str(good["config"]), "-q"]) == 0
    assert "Computed 0 summaries" in capsys.readouterr().out


@pytest.fixture
def ws(good, tmp_path):
    yield Ws(good, tmp_path)
    _thaw(tmp_path)


@pytest.mark.parametrize("case, argv, code, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(case, argv, code, words, ws, good, capsys, monkeypatch):
    monkeypatch.chdir(ws.tmp)
    args = argv(ws)
    capsys.readouterr()
    try:
        rc = main(args)
    except SystemExit as exit_:  # argparse's usage errors
        rc = exit_.code
    out, err = capsys.readouterr()
    assert rc == code, (out, err)
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    for word in words:
        assert word.lower() in errors[0].lower(), (word, errors[0])
    _intact(good, capsys)


@pytest.mark.parametrize("case, argv, expected_text", WORKS, ids=[c[0] for c in WORKS])
def test_awkward_input_simply_works(case, argv, expected_text, ws, good, capsys, monkeypatch):
    monkeypatch.chdir(ws.tmp)
    assert main(argv(ws)) == 0, capsys.readouterr()
    run = Run.load(ws.tmp / "runs")
    assert run.manifest.data.n_documents == len(TINY_ROWS)
    assert run.summaries["text"].str.contains(expected_text, regex=False).all()  # decoded right, lead keeps it
    _intact(good, capsys)


def test_paths_in_a_config_are_read_from_its_folder(ws, good, capsys, monkeypatch):
    """data and precomputed paths are relative to the YAML, wherever the command runs from."""
    project = ws.tmp / "project"
    project.mkdir()
    shutil.copy(good["data"], project / "docs.jsonl")
    (project / "outs.jsonl").write_text("".join(json.dumps({"document_id": r["id"], "summary": r["references"][0]})
                                                + "\n" for r in TINY_ROWS), encoding="utf-8")
    (project / "c.yaml").write_text(yaml.safe_dump({**GOOD, "data": "docs.jsonl", "output_dir": str(ws.tmp / "runs"),
                                                    "systems": [{"kind": "precomputed", "path": "outs.jsonl"}]}))
    elsewhere = ws.tmp / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(project / "c.yaml"), "-q"]) == 0
    run = Run.load(ws.tmp / "runs")
    assert run.table(["rouge1_f"]).loc["precomputed", "rouge1_f"] == pytest.approx(1.0)  # the reference itself


def test_compare_reads_a_latin1_article_and_an_html_page(ws, capsys):
    article = TINY_ROWS[0]["article"].replace("The", "Café", 1)
    (ws.tmp / "latin.txt").write_bytes(("Summarize in 2 sentences\n\n" + article).encode("latin-1"))
    assert main(["compare", str(ws.tmp / "latin.txt"), "--output", str(ws.tmp / "o1")]) == 0
    assert "Café" in capsys.readouterr().out
    (ws.tmp / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    assert main(["compare", str(ws.tmp / "page.html"), "--instruction", "in 2 sentences",
                 "--output", str(ws.tmp / "o2")]) == 0
    out = capsys.readouterr().out
    assert "tracking" not in out and "<p>" not in out and TINY_ROWS[0]["article"].split(".")[0] in out


def test_report_into_a_closed_pipe_exits_quietly(good):
    """``evalkit report runs/ | head -1``: no BrokenPipeError traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    shell = f"{sys.executable} -m evalkit.cli report {good['root'] / 'runs'} | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.stdout.startswith("run good-") and done.stderr == "", done.stderr
    assert done.returncode == 0


def test_verbose_shows_the_traceback(ws, capsys):
    assert main(["-v", "run", str(ws.config(target={"words": -5}))]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "target: LengthTarget.words must be a positive" in err.strip().splitlines()[-1]


# -- the Python path checks what the CLI path checks -------------------------------------------------
def _experiment(ws: Ws, **changes):
    from evalkit.run.experiment import Experiment

    return Experiment(**{**GOOD, "output_dir": ws.tmp / "runs", "progress": False, **changes})


@pytest.mark.parametrize("change, words", [
    ({"id": TINY_ROWS[0]["id"]}, ("duplicate id",)),
    ({"article": ""}, ("empty",)),
    ({"article": HTML_PAGE}, ("html",)),
], ids=["duplicate-id", "empty-article", "html-article"])
def test_python_path_refuses_what_the_files_refuse(change, words, ws):
    from evalkit.core.errors import DataError
    from evalkit.core.types import Document

    documents = [Document(id=r["id"], text=r["article"], references=tuple(r["references"])) for r in rows(**change)]
    with pytest.raises(DataError) as error:
        _experiment(ws).run(documents=documents)
    assert all(w in str(error.value).lower() for w in words)
    assert not (ws.tmp / "runs").exists() or not list((ws.tmp / "runs").glob("good-*"))


def test_same_id_different_text_never_share_a_summary(ws):
    """Two runs whose documents share ids but not texts each get their own text's summary."""
    from evalkit.core.types import Document

    first = [Document(id="d", text="Alpha rose today. It was sunny. More later.", references=("x",))]
    second = [Document(id="d", text="Beta fell today. It rained. More later.", references=("x",))]
    one = _experiment(ws).run(documents=first)
    two = _experiment(ws).run(documents=second)
    assert one.summaries["text"].iloc[0].startswith("Alpha") and two.summaries["text"].iloc[0].startswith("Beta")
    assert two.manifest.counts.summaries_computed == 1


def test_non_latin_articles_run_without_a_crash(ws, capsys):
    """Russian, Chinese and Arabic articles are summarized and scored (what the scores mean: the metric docs)."""
    articles = {"ru": "Правительство объявило о плане в понедельник. Работы начнутся весной. Жители рады.",
                "zh": "政府周一宣布了一项新计划。部长说工程将于春季开始。居民对这一决定表示欢迎。",
                "ar": "أعلنت الحكومة يوم الاثنين عن خطة جديدة. وقال الوزير إن العمل سيبدأ في الربيع. ورحب السكان."}
    data = ws.data([{"id": k, "article": v, "references": [v.split(".")[0]]} for k, v in articles.items()])
    assert main(["run", str(ws.config(data={"path": str(data)}, systems=["lead", "textrank"])), "-q"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    run = Run.load(ws.tmp / "runs")
    assert run.summaries["error"].isna().all() and len(run.summaries) == 6
    lead = run.summaries[run.summaries["system"] == "lead"].set_index("document_id")["text"]
    assert lead["ru"].startswith("Правительство") and lead["ar"].startswith("أعلنت")
