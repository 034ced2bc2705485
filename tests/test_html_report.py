"""The HTML report of a real run, opened in a real headless Chromium (Debian's, driven by playwright).

The run: 4 bundled documents x lead, textrank and a precomputed system whose name and summaries
carry hostile HTML and an invented person ("Zorbulon Quaxley") that the entity metric must
flag as unsupported by the source.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.cli import main as cli_main
from evalkit.run.experiment import Experiment
from evalkit.report.html import json_for_script, write_html

REPO = Path(__file__).resolve().parents[1]
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
INVENTED = "Zorbulon Quaxley"
SYSTEM = "invented" + HOSTILE


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    docs = [json.loads(line) for line in (REPO / "evalkit" / "data_files" / "news_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [{"document_id": d["id"], "summary": f"Mayor {INVENTED} of Brindlemoor said on Tuesday that the plan "
             f"would go ahead. {d['article'].split('. ')[0]}. {HOSTILE}"} for d in docs[:4]]
    (tmp / "invented.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    systems = [{"kind": "lead", "name": "lead"}, {"kind": "textrank", "name": "textrank"},
               {"kind": "precomputed", "name": SYSTEM, "path": str(tmp / "invented.jsonl")}]
    return Experiment(systems=systems, metrics=[{"kind": "rouge"}, {"kind": "length"}, {"kind": "entities"}],
                      data={"path": "bundled", "limit": 4}, target={"words": 60}, name="html",
                      output_dir=tmp / "runs", store=tmp / "store.sqlite", progress=False).run()


@pytest.fixture(scope="module")
def report(run, tmp_path_factory) -> Path:
    return write_html(run, tmp_path_factory.mktemp("report") / "report.html")


def test_json_for_script_cannot_close_the_block():
    text = json_for_script({"a": "</script><!-- & \u2028\u2029 >"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029 >"}  # still the same JSON


def test_report_is_self_contained_and_escaped(report, run):
    html = report.read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in html and 'onerror="window' not in html  # never raw markup
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # the system name, escaped, in the tables
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing fetched
    assert html.count("data:image/png;base64,") >= 3  # charts inline
    compliance = html.split('id="compliance"', 1)[1].split("</section>", 1)[0]
    for name in ("length_ok", "length_feasible"):  # the length metric's yes/no shares, from their measures
        assert f"<code>{name}</code>" in compliance
        mean = run.values().query(f"system == 'lead' and metric == '{name}'")["value"].mean()
        assert f'<td class="num">{100 * mean:.1f}</td>' in compliance
    for name, measure in run.measures().items():  # headings from the measures
        if measure.headline and name in set(run.values()["metric"]):
            assert measure.label in html


def test_a_chart_with_nothing_to_show_is_omitted_with_a_reason(run, tmp_path, monkeypatch):
    def nothing(*args, **kwargs):
        raise ValueError("no system has a cost")

    from dataclasses import replace

    from evalkit.report.plots import save

    # the chart as the one chart list (save_all's and the report's) holds it
    monkeypatch.setattr(save, "CHARTS", [replace(c, draw=nothing) if c.name == "quality_vs_cost" else c
                                         for c in save.CHARTS])
    html = write_html(run, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Quality against cost and latency: not drawn: no system has a cost" in html


def test_report_command_html_and_json(run, tmp_path, capsys):
    assert cli_main(["report", str(run.run_dir), "--html", str(tmp_path / "cli.html")]) == 0
    assert (tmp_path / "cli.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    capsys.readouterr()
    assert cli_main(["report", str(run.run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["systems"]) == {"lead", "textrank", SYSTEM}
    lead = run.values()
    expected = lead[(lead["system"] == "lead") & (lead["metric"] == "rouge1_f")]["value"].mean()
    assert data["means"]["lead"]["rouge1_f"] == pytest.approx(expected)
    assert data["measures"]["rouge1_f"]["label"] == run.measure("rouge1_f").label
    assert [r["system"] for r in data["rankings"]["rouge1_f"]][0] in {"lead", "textrank"}
    with pytest.raises(SystemExit) as version:
        cli_main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("evalkit ")


def _browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed (apt-get install chromium)"
    return sync_playwright(), executable


def test_report_in_a_real_browser(report, run, tmp_path):
    from PIL import Image

    manager, executable = _browser()
    with manager as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(report.as_uri())
            page.wait_for_selector("#doclist button")
            assert page.evaluate("window.__pwned") is None
            assert page.locator("table").count() >= 3 and page.locator(".chart img").count() >= 3
            buttons = page.locator("#doclist button")
            assert buttons.count() == 4
            page.locator('#doclist button[data-document="evk-002"]').click()
            page.wait_for_selector(".summary")
            assert page.locator("#doc h3").inner_text() == "Document evk-002"
            boxes = page.locator(".summary")
            assert boxes.count() == 3
            lead_text = run.summaries[(run.summaries["system"] == "lead")
                                      & (run.summaries["document_id"] == "evk-002")]["text"].iloc[0]
            assert page.locator('.summary[data-system="lead"] .text').inner_text().strip() == lead_text.strip()
            hostile = page.locator(".summary").nth(2)
            assert hostile.locator("h4").inner_text() == SYSTEM  # shown as text, not run
            assert HOSTILE in hostile.locator(".text").inner_text()
            marks = hostile.locator("mark.unsupported")
            assert INVENTED in [marks.nth(i).inner_text() for i in range(marks.count())]
            assert page.evaluate("window.__pwned") is None and page.locator("img[src=x]").count() == 0
            rouge = run.measure("rouge1_f").label
            lead_rouge = run.values().query("system == 'lead' and document_id == 'evk-002' and metric == 'rouge1_f'")
            assert f"{rouge}: {100 * lead_rouge['value'].iloc[0]:.1f}%" in \
                page.locator('.summary[data-system="lead"] div.scores').inner_text()  # headline scores shown
            page.fill("#filter", "evk-003")
            assert page.locator("#doclist button").count() == 1
            page.fill("#filter", "")
            page.check("#flagged")  # every document has the invented system's unsupported names
            assert page.locator("#doclist button").count() == 4
            assert problems == []
            page.locator("#documents").scroll_into_view_if_needed()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 200  # text, tables, charts and highlights: not a blank page
    assert image.size[1] > 1500
