"""Size and load time of the HTML report at 1,000 documents x 6 systems (a synthesized run).

    python benchmarks/html_report_scale.py [--documents 1000] [--systems 6]

Writes the run and the report under a temporary folder (nothing in the repository), then
opens the report in Debian's headless chromium: load = navigation until the document list is
rendered; open = click on a document until its summaries are shown (through playwright), and
the same measured inside the page (navigation timing, and one synchronous render).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.run.registry import build_metric
from evalkit.report.html import write_html
from evalkit.run.record import Run
from evalkit.core.types import Document, LengthTarget, ScoreRow, Summary

WORDS = ("council budget school river police storm mayor court hospital market company workers strike minister "
         "election voters bridge railway airport museum library farmers harvest festival teachers").split()


def synthesize(root: Path, n_documents: int, n_systems: int, seed: int = 0, sources: bool = False) -> Run:
    """A run of random summaries and scores; ``sources``: record a random article per document too."""
    rng = np.random.default_rng(seed)
    metrics = [build_metric({"kind": k}) for k in ("rouge", "length", "entities")]
    manifest = {"name": "scale", "created": "synthetic", "config": {"target": {"words": 60}},
                "data": {"n_documents": n_documents},
                "systems": {f"system-{i}": {"kind": "synthetic", "fingerprint": f"fp{i}"} for i in range(n_systems)},
                "metrics": {m.key: {"kind": m.kind, "config": {"kind": m.kind}, "signature": f"{m.kind}@synthetic",
                                    "measures": [x.to_dict() for x in m.measures()]} for m in metrics}}
    names = [x.name for m in metrics for x in m.measures()]
    rows, summaries = [], []
    target = LengthTarget(words=60)
    for d in range(n_documents):
        doc = f"doc-{d:04d}"
        for s in range(n_systems):
            system = f"system-{s}"
            text = " ".join(rng.choice(WORDS, 60)).capitalize() + ". Mayor Invented Person spoke."
            summaries.append(Summary(doc, system, text, f"fp{s}"))
            rows += [ScoreRow(doc, system, n, float(rng.random())) for n in names]
            rows.append(ScoreRow(doc, system, "entities_info", None,
                                 json.dumps({"unsupported_entities": ["Invented Person"] if s % 2 else []})))
    documents = [Document(f"doc-{d:04d}", " ".join(rng.choice(WORDS, 600)).capitalize() + ".")
                 for d in range(n_documents)] if sources else []
    return Run.create(root, "scale", manifest, rows, summaries, {f"doc-{d:04d}": target for d in range(n_documents)},
                      documents=documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.load(synthesize(Path(tmp), args.documents, args.systems).run_dir)
        start = time.perf_counter()
        path = write_html(run, Path(tmp) / "report.html")
        written = time.perf_counter() - start
        print(f"{args.documents} documents x {args.systems} systems: report {path.stat().st_size / 1e6:.2f} MB, "
              f"written in {written:.1f} s")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("#doclist button")
            loaded = time.perf_counter() - start
            start = time.perf_counter()
            page.locator("#doclist button").nth(3).click()
            page.wait_for_selector(".summary")
            opened = time.perf_counter() - start
            nodes = page.evaluate("document.getElementsByTagName('*').length")
            in_page = page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const t = performance.now();
                document.querySelectorAll('#doclist button')[7].click();  // renders synchronously
                return [nav.domContentLoadedEventEnd, nav.loadEventEnd, performance.now() - t];
            }""")
            browser.close()
        print(f"chromium: loaded in {loaded:.2f} s ({nodes} DOM elements after opening a document), "
              f"document opened in {1000 * opened:.0f} ms (playwright round trip); page errors: {errors or 'none'}")
        print(f"in the page: DOMContentLoaded at {in_page[0]:.0f} ms, load at {in_page[1]:.0f} ms, "
              f"rendering one document {in_page[2]:.1f} ms")


if __name__ == "__main__":
    main()
