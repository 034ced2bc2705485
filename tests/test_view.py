"""``evalkit view`` served by a real uvicorn on 127.0.0.1 and driven in a real headless Chromium (Debian's, playwright).

Two real runs on the same 12 documents (11 bundled articles and one hostile article):
run A has ``lead``, ``textrank`` and a precomputed system whose name and summaries carry hostile
HTML and an invented person ("Zorbulon Quaxley") that the entity metric flags as unsupported;
run B is the same except that ``lead`` is cut to its first four words. The diff of B against A
must show lead's ROUGE drop with a minus sign and a significance marker, and no significant
change for textrank (its summaries are identical).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser import browser, page  # noqa: F401 (fixtures)

from evalkit.core.fingerprint import document_hash
from evalkit.core.types import Document
from evalkit.run.experiment import Experiment
from evalkit.run.record import SOURCES_FILE, Run
from evalkit.view import serve
from evalkit.view.pages import highlight

REPO = Path(__file__).resolve().parents[1]
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'
INVENTED = "Zorbulon Quaxley"
SYSTEM = "invented" + HOSTILE
HOSTILE_ID = "hostile"
WAIT_MS = 180_000
"""How long a page may take to finish its tests in the background (it reloads itself meanwhile)."""


def _documents() -> list[Document]:
    """11 bundled articles and a hostile one: long news text (the input check reads markup in the first 5,000
    characters only, and refuses an article whose share of markup is over 5%), then script and an ``onerror``."""
    rows = [json.loads(line) for line in
            (REPO / "evalkit" / "data_files" / "news_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    docs = [Document(r["id"], r["article"], tuple(r["references"])) for r in rows[:11]]
    news = ""
    for row in rows[11:]:
        if len(news) > 5200:
            break
        news += row["article"] + "\n\n"
    hostile = f"{news}The harbour board met on Monday. {HOSTILE} The board approved a new pier for the fleet."
    return [*docs, Document(HOSTILE_ID, hostile, ("The harbour board approved a new pier.",))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(runs folder, run A, run B): B's lead is A's lead cut to four words; everything else is the same."""
    tmp = tmp_path_factory.mktemp("view")
    docs = _documents()
    invented = [{"document_id": d.id, "summary": f"Mayor {INVENTED} of Brindlemoor said the plan would go ahead. "
                 f"{d.text.split('. ')[0]}. {HOSTILE}"} for d in docs]
    (tmp / "invented.jsonl").write_text("".join(json.dumps(r) + "\n" for r in invented), encoding="utf-8")
    hostile_system = {"kind": "precomputed", "name": SYSTEM, "path": str(tmp / "invented.jsonl")}
    common = dict(metrics=[{"kind": "rouge"}, {"kind": "length"}, {"kind": "entities"}], target={"words": 60},
                  output_dir=tmp / "runs", store=tmp / "runs" / "store.sqlite", progress=False)
    a = Experiment(systems=[{"kind": "lead", "name": "lead"}, {"kind": "textrank", "name": "textrank"},
                            hostile_system], name="full", **common).run(docs)
    lead = a.summaries[a.summaries["system"] == "lead"]
    cut = [{"document_id": d, "summary": " ".join(t.split()[:4])} for d, t in zip(lead["document_id"], lead["text"])]
    (tmp / "cut.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cut), encoding="utf-8")
    b = Experiment(systems=[{"kind": "precomputed", "name": "lead", "path": str(tmp / "cut.jsonl")},
                            {"kind": "textrank", "name": "textrank"}, hostile_system], name="cut", **common).run(docs)
    return tmp / "runs", a, b


@pytest.fixture(scope="module")
def viewer(runs):
    viewer = serve(runs[0], port=0)
    yield viewer
    viewer.stop()


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_highlight_escapes_and_marks_by_hand():
    assert highlight("<b>Ana</b> met ANA & Ana Ruiz", ["ana", "Ana Ruiz", ""]) == (
        '&lt;b&gt;<mark class="unsupported" title="not supported by the source">Ana</mark>&lt;/b&gt; met '
        '<mark class="unsupported" title="not supported by the source">ANA</mark> &amp; '
        '<mark class="unsupported" title="not supported by the source">Ana Ruiz</mark>')


def test_word_diff_marks_removed_and_added_words_by_hand():
    from evalkit.view.pages import word_diff

    assert word_diff("The <b> council met today.", "The <b> council voted today.") == (
        "The &lt;b&gt; council <del>met</del> today.", "The &lt;b&gt; council <ins>voted</ins> today.")
    assert word_diff("same", "same") == ("same", "same")


def test_runs_record_their_sources(runs, tmp_path):
    _, a, _ = runs
    docs = {d.id: d for d in _documents()}
    assert a.source(HOSTILE_ID) == docs[HOSTILE_ID].text and a.source("no such") is None
    assert a.references("evk-001") == list(docs["evk-001"].references)
    lines = [json.loads(line) for line in (a.run_dir / SOURCES_FILE).read_text(encoding="utf-8").splitlines()]
    assert [r["document_id"] for r in lines] == list(docs)
    assert all(r["hash"] == document_hash(docs[r["document_id"]].text, docs[r["document_id"]].references) for r in lines)
    old = shutil.copytree(a.run_dir, tmp_path / "old")  # a run written before sources: None, not an error
    (old / SOURCES_FILE).unlink()
    assert Run.load(old).source("evk-001") is None and not Run.load(old).records_sources()
    tampered = shutil.copytree(a.run_dir, tmp_path / "tampered")  # a text that is not the hashed one is not shown
    text = (tampered / SOURCES_FILE).read_text(encoding="utf-8").replace("Lyon", "Paris")
    (tampered / SOURCES_FILE).write_text(text, encoding="utf-8")
    assert Run.load(tampered).source("evk-001") is None


def test_runs_page_lists_both_runs_and_picks_two(viewer, runs, page):
    _, a, b = runs
    page.goto(viewer.url)
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("th a").first.inner_text() for i in range(2)] == [b.run_id, a.run_id]  # newest first
    assert "lead, textrank" in page.locator("#runs").inner_text()
    newest = page.locator("#runs tbody tr").first.locator("a.vs-previous")  # b is newer than a
    assert newest.get_attribute("href") == f"/diff/{a.run_id}/{b.run_id}"
    assert page.locator("#runs a.vs-previous").count() == 1
    page.select_option("#pick-a", a.run_id)
    page.select_option("#pick-b", b.run_id)
    page.locator("form.compare button").click()
    page.wait_for_url(f"**/diff/{a.run_id}/{b.run_id}")
    assert page.evaluate("window.pwned") is None


def test_run_page_shows_the_table_and_charts(viewer, runs, page):
    _, a, _ = runs
    page.goto(f"{viewer.url}run/{a.run_id}")
    page.wait_for_selector("#table table", timeout=WAIT_MS)  # the page reloads itself until its bootstraps are done
    table = page.locator("#table table")
    assert "Headline values" in table.locator("caption").inner_text()
    lead_mean = a.values().query("system == 'lead' and metric == 'rouge1_f'")["value"].mean()
    assert f"{100 * lead_mean:.1f}" in table.locator("tbody tr", has_text="lead").first.inner_text()
    chart = page.locator(".chart img").first
    assert chart.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate("(img) => img.naturalWidth", chart.element_handle()) > 100
    assert page.locator("#documents a").count() == 12
    assert page.evaluate("window.pwned") is None


def test_diff_shows_the_truncated_systems_drop_with_sign_and_significance(viewer, runs, page):
    _, a, b = runs
    page.goto(f"{viewer.url}diff/{a.run_id}/{b.run_id}")
    page.wait_for_selector("#changes", timeout=WAIT_MS)
    values_a, values_b = a.values(), b.values()

    def mean(values, system):
        return values.query(f"system == '{system}' and metric == 'rouge1_f'")["value"].mean()

    drop = 100 * (mean(values_b, "lead") - mean(values_a, "lead"))  # every document is shared: means of all 12
    assert drop < -10
    cell = page.locator('#changes tr[data-system="lead"] td[data-metric="rouge1_f"]')
    assert cell.locator(".change").inner_text() == f"−{abs(drop):.2f}"  # U+2212, the sign shown
    assert cell.locator(".sig").count() == 1 and cell.locator(".change.worse").count() == 1
    same = page.locator('#changes tr[data-system="textrank"] td[data-metric="rouge1_f"]')
    assert same.locator(".change").inner_text() == "±0.00"
    assert same.locator(".sig").count() == 0 and same.locator(".ns").count() == 1
    assert "lead: 12 of 12" in page.locator("#text-changed").inner_text()
    assert "textrank: 0 of 12" in page.locator("#text-changed").inner_text()
    moved = page.locator("#moved tbody tr")
    assert moved.count() >= 1 and moved.first.locator("th").inner_text() == "lead"
    assert page.evaluate("window.pwned") is None
    page.locator("#text-changed ol a").first.click()  # one document in both runs
    pair = page.locator('.pair[data-system="lead"]')
    assert "text changed" in pair.locator("h4").inner_text() and pair.locator('[data-run="a"] del').count() >= 1
    assert pair.locator('[data-run="b"] ins').count() == 0  # B's lead is A's first four words: nothing added
    kept = page.locator('.pair[data-system="textrank"]')
    assert "same text" in kept.locator("h4").inner_text() and kept.locator("del, ins").count() == 0
    assert page.evaluate("window.pwned") is None
    page.go_back()
    page.locator("#every-value").click()  # the values that are not headline: tested on demand
    page.wait_for_selector("#changes-other", timeout=WAIT_MS)
    recall = page.locator('#changes-other tr[data-system="lead"] td[data-metric="rouge1_r"]')
    assert recall.locator(".change").inner_text().startswith("−") and recall.locator(".sig").count() == 1


def test_diff_of_runs_scored_otherwise_says_so_in_one_line(viewer, runs):
    root, a, _ = runs
    other = root / "other-target"
    shutil.copytree(a.run_dir, other)
    manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    manifest["config"]["target"] = {"words": 30}
    manifest["run_id"] = other.name
    (other / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    try:
        status, html = _fetch(f"{viewer.url}diff/{a.run_id}/{other.name}")
        assert status == 200
        problem = html.split('id="problem">', 1)[1].split("</p>", 1)[0]
        assert problem.startswith("Not comparable:") and "length target" in problem and "\n" not in problem
        assert 'id="changes"' not in html
    finally:
        shutil.rmtree(other)


def test_document_page_shows_the_source_and_marks_the_unsupported_entity(viewer, runs, page):
    _, a, _ = runs
    doc = {d.id: d for d in _documents()}["evk-002"]
    page.goto(f"{viewer.url}run/{a.run_id}/doc/evk-002")
    assert page.locator("#source").inner_text().strip() == doc.text.strip()
    boxes = page.locator(".side .summary")
    assert boxes.count() == 3
    marks = page.locator(".summary mark.unsupported")
    assert INVENTED in [marks.nth(i).inner_text() for i in range(marks.count())]
    rouge = a.values().query("system == 'lead' and document_id == 'evk-002' and metric == 'rouge1_f'")["value"].iloc[0]
    assert f"{100 * rouge:.1f}%" in page.locator('.summary[data-system="lead"] table.scores').inner_text()


def test_hostile_article_and_summary_are_shown_as_text(viewer, runs, page):
    _, a, b = runs
    for url in (f"run/{a.run_id}/doc/{HOSTILE_ID}", f"run/{b.run_id}/doc/{HOSTILE_ID}", f"run/{a.run_id}", "",
                f"diff/{a.run_id}/{b.run_id}", f"diff/{a.run_id}/{b.run_id}/doc/{HOSTILE_ID}"):
        page.goto(viewer.url + url)
        page.wait_for_load_state("load")
        assert page.evaluate("window.pwned") is None, url
        assert page.locator("img[src=x]").count() == 0 and page.locator("body script").count() == 0, url
    page.goto(f"{viewer.url}run/{a.run_id}/doc/{HOSTILE_ID}")
    assert HOSTILE in page.locator("#source").inner_text()
    hostile = page.locator(".side .summary").nth(2)
    assert hostile.locator("h4").inner_text() == SYSTEM and HOSTILE in hostile.locator(".text").inner_text()


def test_a_run_without_sources_says_how_to_get_them(viewer, runs):
    root, a, _ = runs
    old = root / "old-run"
    shutil.copytree(a.run_dir, old)
    (old / SOURCES_FILE).unlink()
    try:
        status, html = _fetch(f"{viewer.url}run/old-run/doc/evk-001")
        assert status == 200 and "did not record its sources; re-run it" in html
        status, html = _fetch(f"{viewer.url}run/old-run/doc/no-such-document")
        assert status == 404 and "has no document" in html
        status, html = _fetch(f"{viewer.url}run/old-rum")
        assert status == 404 and "did you mean &#x27;old-run&#x27;" in html
    finally:
        shutil.rmtree(old)


def test_two_viewers_on_one_store_both_serve(runs):
    root, a, _ = runs
    first, second = serve(root, port=0), serve(root, port=0, store=root / "store.sqlite")
    try:
        assert first.url != second.url
        for viewer in (first, second):
            status, html = _fetch(viewer.url)
            assert status == 200 and a.run_id in html
            assert _fetch(f"{viewer.url}run/{a.run_id}/doc/evk-001")[0] == 200
        assert first.show().src == first.url  # the notebook IFrame points at the running server
    finally:
        first.stop()
        second.stop()
    assert not first.running and not second.running


def test_another_sites_host_name_gets_no_page_and_a_broken_run_does_not_hide_the_others(viewer, runs):
    root, a, b = runs
    request = urllib.request.Request(viewer.url, headers={"Host": "attacker.example"})  # DNS rebinding
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    broken = root / "broken-run"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    try:
        status, html = _fetch(viewer.url)
        assert status == 200 and a.run_id in html and b.run_id in html
        row = html.split('<tr class="broken">', 1)[1].split("</tr>", 1)[0]
        assert "broken-run" in row and "cannot be read" in row
        status, html = _fetch(f"{viewer.url}run/broken-run")
        assert status == 500 and html.count('id="error"') == 1 and "Traceback" not in html
    finally:
        shutil.rmtree(broken)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", "view", *args], capture_output=True, text=True,
                          timeout=120)


def test_the_command_prints_its_url_and_serves_until_stopped(runs):
    from evalkit.view.server import free_port

    root, a, _ = runs
    port = free_port(start=20000)
    process = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "view", str(root), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("evalkit view: serving ") and f"http://127.0.0.1:{port}/" in line, line
        status, html = _fetch(f"http://127.0.0.1:{port}/")
        assert status == 200 and a.run_id in html
        assert _fetch(f"http://127.0.0.1:{port}/run/{a.run_id}")[0] == 200  # its ranking: made in the background
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=30) == 0
    assert process.stderr.read().strip() == "evalkit view: stopped"


def test_a_port_in_use_is_one_line_naming_a_free_port(runs):
    root = runs[0]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _cli(str(root), "--port", str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use; pass another with --port" in lines[0]
    assert "is free" in lines[0]


def test_a_port_out_of_range_is_one_line(runs):
    result = _cli(str(runs[0]), "--port", "99999")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "evalkit: error: port 99999: a port is a whole number from 1 to 65535 (0: any free one); pass --port 8765"]


def test_runs_folder_missing_or_empty_is_one_line(tmp_path):
    for folder in (tmp_path / "absent", tmp_path):
        result = _cli(str(folder), "--port", "0")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith("evalkit: error: ") and str(folder) in lines[0]


def test_the_cache_keeps_a_value_until_the_runs_files_change_and_makes_slow_ones_in_the_background(runs):
    import os
    import threading

    from evalkit.view.context import RunIndex

    root, a, _ = runs
    index, calls = RunIndex(root), []
    assert index.memo("n", (a.run_id,), lambda: calls.append(1) or len(calls)) == 1
    assert index.memo("n", (a.run_id,), lambda: calls.append(1) or len(calls)) == 1  # kept
    scores = a.run_dir / "scores.csv"
    later = scores.stat().st_mtime_ns + 5_000_000_000
    os.utime(scores, ns=(later, later))  # the run was rewritten: made again
    assert index.memo("n", (a.run_id,), lambda: calls.append(1) or len(calls)) == 2
    release = threading.Event()
    assert index.soon("slow", (a.run_id,), lambda: release.wait(30) and "done") is None  # started, not ready
    assert index.soon("slow", (a.run_id,), lambda: "a second thread") is None  # still the first one
    release.set()
    for _ in range(300):
        if (value := index.soon("slow", (a.run_id,), lambda: "again")) is not None:
            break
        threading.Event().wait(0.01)
    assert value == "done"

    def fail():
        raise ValueError("no such value")

    assert index.soon("bad", (a.run_id,), fail) is None
    for _ in range(300):
        try:
            index.soon("bad", (a.run_id,), fail)
        except ValueError as exc:
            assert str(exc) == "no such value"
            break
        threading.Event().wait(0.01)
    else:
        raise AssertionError("the background error never reached a request")
