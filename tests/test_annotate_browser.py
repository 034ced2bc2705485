"""Two people label the same summaries at once in headless Chromium while the server is SIGKILLed and restarted.

A real uvicorn server (a subprocess serving :func:`evalkit.view.app.create_app`) on 127.0.0.1, two
browser contexts (two annotators, each with their own name cookie), each on its own viewer
process over one store (two viewers on one store). Checked: every label a browser got an answer
for is in the store exactly once; alpha on them equals the krippendorff package's value computed
here from what was submitted; meta-eval on the labels collected through the page equals meta-eval
on the same labels exported to JSONL and imported into a fresh store; the Label Studio export
imports back identically; a rubric changed midway makes a new version and the old labels stay
under theirs; hostile text in articles and summaries runs no script; pairwise hides the systems
until the answers are saved.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_server import free_port

from evalkit.core.types import Document
from evalkit.report.agreement import Rating, alpha
from evalkit.run.experiment import Experiment
from evalkit.run.labels import LabelStore, run_items
from evalkit.run.store import Store

HOSTILE = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"
TAG = "<img src=x onerror=window.__pwned=3>"
"""Hostile markup in an article (evalkit refuses <script> in articles as an HTML page, but not a stray tag)."""
DOCUMENTS = [
    Document(id="d1", text=f"Mayor Ana Ruiz {TAG} opened the long new bridge over the river on Monday morning. Crowds "
                           "cheered along both banks. The bridge cost ten million and took three years to build. " + " ".join(
                           f"Engineers checked section {n} of the deck twice before the ribbon was cut." for n in range(12))),
    Document(id="d2", text="The river flooded three villages. Rescue teams arrived by boat. Nobody was hurt."),
    Document(id="d3", text="A new school opened in the north. It has room for six hundred pupils. Parents welcomed it."),
    Document(id="d4", text="The team won the cup after extra time. Their captain scored twice. Fans sang all night."),
    Document(id="d5", text="Prices of bread rose 5% & flour < 3% in May. Bakers blamed the cost of flour. Shoppers bought less."),
]
SYSTEMS = [{"kind": "lead", "name": "alpha-sys", "cut": "sentence"}, {"kind": "lead", "name": "beta-sys", "cut": "word"}]


def answers_for(annotator: str, document_id: str, system: str) -> dict[str, str]:
    """Seeded answers: a per-summary base the two annotators share, each with their own noise."""
    base = random.Random(f"{document_id}/{system}").randint(1, 5)
    noise = random.Random(f"{annotator}/{document_id}/{system}")
    coherence = min(5, max(1, base + noise.choice([-1, 0, 0, 1])))
    return {"faithful": "yes" if coherence >= 3 else "no", "coherence": str(coherence),
            "consistency": str(min(5, max(1, base + noise.choice([0, 1])))), "fluency": str(noise.randint(3, 5)),
            "relevance": str(base)}


class Viewer:
    """A real uvicorn server over the runs folder, in its own process (so it can be SIGKILLed)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.process = root, port, None

    def start(self) -> None:
        code = ("import sys, uvicorn; from evalkit.view.app import create_app; "
                "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')")
        self.process = subprocess.Popen([sys.executable, "-c", code, str(self.root), str(self.port)],
                                        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"viewer exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("viewer did not start in 60 s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def label_some(page, base: str, run_id: str, annotator: str, count: int, submitted: dict,
                     mark_span: bool = False) -> None:
    """Label ``count`` items as ``annotator``; record each one the server answered for."""
    for number in range(count):
        await page.goto(f"{base}/annotate/{run_id}")
        document_id = await page.get_attribute("input[name=document_id]", "value")
        system = await page.get_attribute("input[name=system]", "value")
        answers = answers_for(annotator, document_id, system)
        for name, value in answers.items():
            await page.check(f"input[name=q_{name}][value='{value}']")
        span = None
        if mark_span and number == 0:  # select the summary's 2nd..6th characters as a person would, then mark
            await page.evaluate("""() => { const box = document.getElementById('summary');
                const range = document.createRange(); range.setStart(box.firstChild, 1); range.setEnd(box.firstChild, 6);
                const selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range); }""")
            await page.click("#mark")
            span = json.loads(await page.get_attribute("#spans", "value"))
        await page.fill("textarea[name=q_comment]", f"{HOSTILE} from {annotator}")
        async with page.expect_navigation():
            await page.click("#save")
        assert "Cannot do that" not in await page.content()
        key = (annotator, document_id, system)
        assert key not in submitted, "the same item was offered twice"
        submitted[key] = {**answers, "span": span}


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "runs"
    run = Experiment(systems=SYSTEMS, metrics=[{"kind": "length"}, {"kind": "rouge"}], target={"words": 6},
                     progress=False).relocate(root).run(documents=DOCUMENTS)
    assert len({i.summary_hash for i in run_items(run)}) == 10  # ten distinct summaries
    return root, run


def test_two_annotators_a_sigkill_and_the_loop(study, tmp_path):
    from playwright.async_api import async_playwright

    root, run = study
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium is needed (apt-get install chromium)"
    first, second = Viewer(root, free_port()), Viewer(root, free_port())  # two viewers on one store
    submitted: dict = {}
    dialogs: list[str] = []

    async def scenario() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            pages = {}
            for name, viewer in (("ann", first), ("bob", second)):
                context = await browser.new_context()
                page = await context.new_page()
                page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
                await page.goto(f"{viewer.url}/annotate/{run.run_id}")
                await page.fill("#annotator", name)
                async with page.expect_navigation():
                    await page.click("button[type=submit]")
                assert "0 / 10" in await page.inner_text("#progress")
                pages[name] = page
            # hostile text is shown as text, never run
            assert await pages["ann"].evaluate("() => window.__pwned") is None
            await asyncio.gather(label_some(pages["ann"], first.url, run.run_id, "ann", 5, submitted, mark_span=True),
                                 label_some(pages["bob"], second.url, run.run_id, "bob", 5, submitted))
            first.kill()  # SIGKILL midway: nothing it answered for may be lost
            first.start()
            assert "5 / 10" in (await (await pages["ann"].goto(f"{first.url}/annotate/{run.run_id}")).text())
            await asyncio.gather(label_some(pages["ann"], first.url, run.run_id, "ann", 5, submitted),
                                 label_some(pages["bob"], second.url, run.run_id, "bob", 5, submitted))
            await pages["ann"].goto(f"{first.url}/annotate/{run.run_id}")
            assert "10 / 10" in await pages["ann"].inner_text("#progress")
            assert await pages["ann"].is_visible("#all-done")
            # the agreement page, then pairwise: systems hidden until saved, then revealed
            await pages["bob"].goto(f"{second.url}/agreement/{run.run_id}")
            table = await pages["bob"].inner_text("#agreement")
            await pages["bob"].goto(f"{second.url}/annotate/{run.run_id}/pairwise")
            shown = await pages["bob"].inner_text("body")
            assert "alpha-sys" not in shown and "beta-sys" not in shown
            for name in ("faithful", "coherence", "consistency", "fluency", "relevance"):
                await pages["bob"].check(f"input[name=q_{name}][value=A]")
            async with pages["bob"].expect_navigation():
                await pages["bob"].click("#save")
            revealed = await pages["bob"].inner_text("#revealed")
            assert "alpha-sys" in revealed and "beta-sys" in revealed
            for page in pages.values():
                assert await page.evaluate("() => window.__pwned") is None
            # a rubric changed midway: a new version; ann's labels stay under the old one
            changed = root / "changed.yaml"
            default = Path(__file__).resolve().parents[1] / "evalkit" / "configs" / "rubrics" / "human" / "default.yaml"
            changed.write_text(default.read_text(encoding="utf-8").replace("Judge the summary", "Judge each summary"),
                               encoding="utf-8")
            (root / "annotation.yaml").write_text("rubric: changed.yaml\n", encoding="utf-8")
            await pages["ann"].goto(f"{first.url}/annotate/{run.run_id}")
            assert "0 / 10" in await pages["ann"].inner_text("#progress")
            assert "10 of your labels were given under an earlier rubric version" in await pages["ann"].inner_text(
                "#older")
            await browser.close()
            scenario.table = table

    try:
        first.start()
        second.start()
        asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()
    assert not dialogs
    # every submitted label is in the store exactly once, with what was submitted
    with Store(root / "store.sqlite") as store:
        labels = [lab for lab in LabelStore(store).all() if lab.kind == "pointwise"]
        rubrics = LabelStore(store).rubrics()
    assert len(labels) == len(submitted) == 20
    versions = {lab.rubric_version for lab in labels}
    assert len(versions) == 1 and len(rubrics) == 2  # the changed rubric is kept as a second version
    system_of = {(i.document_hash, i.summary_hash): (i.document_id, i.system) for i in run_items(run)}
    stored = {(lab.annotator, *system_of[(lab.document_hash, lab.summary_hash)]): lab for lab in labels}
    assert set(stored) == set(submitted)
    for key, sent in submitted.items():
        answers = stored[key].answers
        assert answers["coherence"] == int(sent["coherence"]) and answers["faithful"] == (sent["faithful"] == "yes")
        assert answers["comment"] == f"{HOSTILE} from {key[0]}"
        if sent["span"]:
            text = next(i.text for i in run_items(run) if (i.document_id, i.system) == key[1:])
            assert answers["unsupported"] == [{"start": 1, "end": 6, "text": text[1:6]}] == sent["span"]
    # alpha equals the krippendorff package's value on what was submitted
    import krippendorff

    items = sorted({key[1:] for key in submitted})
    matrix = [[float(submitted[(who, *item)]["coherence"]) for item in items] for who in ("ann", "bob")]
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")
    ours = alpha([Rating(key[1:], key[0], float(lab.answers["coherence"])) for key, lab in stored.items()], "interval")
    assert ours == pytest.approx(expected, abs=1e-12)
    row = next(line for line in scenario.table.splitlines() if line.startswith("coherence") and "interval" in line)
    assert f"{expected:.3f}" in row.split("\t")
    check_the_loop(root, run, tmp_path)


def check_the_loop(root: Path, run, tmp_path: Path) -> None:
    """meta-eval on the page's labels = on their JSONL export imported elsewhere = read from the file; LS round trip."""
    from evalkit.cli.main import main

    def cli(*args: str) -> None:
        assert main(list(args)) == 0

    cli("labels", "export", str(run.run_dir), "--to", str(tmp_path / "labels.jsonl"))
    cli("labels", "import", str(tmp_path / "labels.jsonl"), "--store", str(tmp_path / "fresh.sqlite"))
    common = ["--resamples", "200", "--columns", "length_words,length_sentences"]
    cli("meta-eval", str(run.run_dir), "--labels", *common, "--json", str(tmp_path / "page.json"),
        "--chart", str(tmp_path / "chart.png"))
    cli("meta-eval", str(run.run_dir), "--labels", str(tmp_path / "fresh.sqlite"), *common,
        "--json", str(tmp_path / "jsonl.json"))
    cli("meta-eval", str(run.run_dir), "--labels-file", str(tmp_path / "labels.jsonl"), *common,
        "--json", str(tmp_path / "file.json"))
    page = (tmp_path / "page.json").read_text()
    assert json.loads(page)["agreement"]
    assert page == (tmp_path / "jsonl.json").read_text() == (tmp_path / "file.json").read_text()
    assert (tmp_path / "chart.png").stat().st_size > 10_000
    cli("labels", "export", str(run.run_dir), "--to", str(tmp_path / "ls.json"))
    cli("labels", "import", str(tmp_path / "ls.json"), "--store", str(tmp_path / "ls.sqlite"))
    with Store(root / "store.sqlite") as a, Store(tmp_path / "ls.sqlite") as b:
        assert sorted(LabelStore(a).all(), key=lambda lab: lab.key) == sorted(LabelStore(b).all(),
                                                                               key=lambda lab: lab.key)
