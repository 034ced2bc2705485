"""The document page lists and marks the claims an LLM judge (``rubric: claims``) found unsupported.

A real run: ``lead`` (two sentences) scored by ``llm-judge`` with the claims rubric against the fake
OpenAI server (tests/api_server.py), which answers "No" for every claim about a mayor and "Yes" otherwise,
so by construction the unsupported claim of each summary is its sentence about the mayor and no other.
The pages are served by a real uvicorn (:func:`evalkit.view.serve`) and read as a browser gets them; the run
page flags the document that has an unsupported claim.
"""

from __future__ import annotations

import html as htmlib
import re
import urllib.request

from api_server import serve  # noqa: F401  (a fixture)

from evalkit.core.types import Document
from evalkit.run.experiment import Experiment
from evalkit.view import serve as serve_viewer
from evalkit.view.pages import highlight

KEY_ENV = "EVALKIT_TEST_JUDGE_KEY"
MAYOR = "The mayor <b>resigned</b> on Monday."
DOCUMENTS = [
    Document(id="d1", text=f"{MAYOR} The council approved a budget for parks. Residents protested outside the hall."),
    Document(id="d2", text="The council met in the hall. It approved a budget for parks. Residents cheered loudly."),
]


def claims_answer(system: str, user: str) -> str:
    claim = user.split("Claim:\n", 1)[1].split("\n", 1)[0]
    return "No, the article does not say that." if "mayor" in claim else "Yes."


def test_highlight_marks_claims_around_their_entities_by_hand():
    marked = highlight("Ana Ruiz won. Bo <lost>.", ["Ruiz", "lost"], ["Ana Ruiz won."])
    assert marked == ('<mark class="claim" title="a claim the LLM judge found unsupported by the source">Ana '
                      '<mark class="unsupported" title="not supported by the source">Ruiz</mark> won.</mark> Bo &lt;'
                      '<mark class="unsupported" title="not supported by the source">lost</mark>&gt;.')


def test_document_page_lists_and_marks_the_judges_unsupported_claims(serve, tmp_path, monkeypatch):  # noqa: F811
    for name in ("EVALKIT_OFFLINE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-judge-test-0123456789")
    server = serve(answer=claims_answer)
    judge = {"kind": "llm-judge", "model": "gpt-4o-mini", "rubric": "claims", "base_url": server.openai_url,
             "api_key_env": KEY_ENV, "timeout": 5, "backoff": 0.01, "max_retries": 2}
    run = Experiment(systems=[{"kind": "lead", "name": "lead"}], metrics=[{"kind": "length"}, judge],
                     target={"sentences": 2}, progress=False).relocate(tmp_path / "runs").run(documents=DOCUMENTS)
    assert run.wide().set_index("document_id")["judge_unsupported_count"].to_dict() == {"d1": 1.0, "d2": 0.0}
    viewer = serve_viewer(tmp_path / "runs", port=0)
    try:
        pages = {}
        for document in ("d1", "d2", ""):
            url = f"{viewer.url}run/{run.run_id}" + (f"/doc/{document}" if document else "")
            with urllib.request.urlopen(url, timeout=60) as response:
                assert response.status == 200
                pages[document] = response.read().decode("utf-8")
    finally:
        viewer.stop()
    links = pages[""].split('class="doclinks"', 1)[1].split("</ol>", 1)[0]
    flags = dict(re.findall(r'>(d\d)</a>(?: <span class="flag">⚑(\d+)</span>)?</li>', links))
    assert flags == {"d1": "1", "d2": ""}  # the run page flags the document with the judge's one unsupported claim
    box = pages["d1"].split('data-system="lead"', 1)[1]
    marks = re.findall(r'<mark class="claim"[^>]*>(.*?)</mark>', box)
    assert [htmlib.unescape(m) for m in marks] == [MAYOR]  # escaped, so the article's <b> is text
    assert "<b>resigned</b>" not in pages["d1"]
    listed = re.findall(r"<li>(.*?)</li>", box.split('class="claims"', 1)[1].split("</ul>", 1)[0])
    assert [htmlib.unescape(item) for item in listed] == [MAYOR]
    assert 'class="claim"' not in pages["d2"] and "Unsupported claims (LLM judge)" not in pages["d2"]
