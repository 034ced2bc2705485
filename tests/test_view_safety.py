"""The viewer as a research group shares it: label POSTs only from its own pages, and no page blocks another.

A real uvicorn server (:func:`evalkit.view.serve`, in a thread) over one small run. Cross-site writes:
a label POST whose ``Origin`` (or, without one, ``Referer``) is another site's gets 403 with one line and
stores nothing, while the same POST from the viewer's own origin is saved (the page's own form in a real
browser is checked in tests/test_annotate_browser.py). No blocking: while the agreement page or a run page
is still being computed (made slow here on purpose), the document page and the runs page answer.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from urllib.parse import quote, urlencode, urlsplit

import pytest

from evalkit.core.types import Document
from evalkit.run.experiment import Experiment
from evalkit.run.labels import LabelStore
from evalkit.run.store import Store
from evalkit.view import serve

DOCUMENTS = [
    Document(id="d1", text="The river flooded three villages. Rescue teams arrived by boat. Nobody was hurt."),
    Document(id="d2", text="A new school opened in the north. It has room for six hundred pupils. Parents welcomed it."),
]
ANSWERS = {"q_faithful": "yes", "q_coherence": "4", "q_consistency": "5", "q_fluency": "3", "q_relevance": "2",
           "q_comment": "fine", "spans": "[]", "spans_question": "unsupported"}
COOKIE = "evalkit_annotator=ann"


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety") / "runs"
    run = Experiment(systems=[{"kind": "lead", "name": "lead"}], metrics=[{"kind": "length"}], target={"words": 6},
                     progress=False).relocate(root).run(documents=DOCUMENTS)
    viewer = serve(root, port=0)
    yield viewer, run, root
    viewer.stop()


def _request(url: str, method: str = "GET", body: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    """One request, redirects not followed: (status, body, headers)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})} if body is not None else \
            dict(headers or {})
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=sent)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8"), dict(response.getheaders())
    finally:
        connection.close()


def _form(viewer, run) -> str:
    """The label form's fields as the annotate page shows them to annotator ``ann``, with answers filled in."""
    status, html, _ = _request(f"{viewer.url}annotate/{run.run_id}", headers={"Cookie": COOKIE})
    assert status == 200, html
    hidden = dict(re.findall(r'<input type="hidden" name="(document_id|system|summary_hash|rubric_version)" '
                             r'value="([^"]*)"', html))
    assert set(hidden) == {"document_id", "system", "summary_hash", "rubric_version"}
    return urlencode({**hidden, **ANSWERS})


def _labels(root) -> int:
    with Store(root / "store.sqlite") as store:
        return len(LabelStore(store).all())


def test_a_label_posted_from_another_site_is_refused_and_stores_nothing(viewer):
    viewer, run, root = viewer
    own = viewer.url.rstrip("/")
    label = f"{viewer.url}annotate/{run.run_id}/label"
    body = _form(viewer, run)
    for headers in ({"Origin": "http://attacker.example"},
                    {"Origin": "null"},  # a sandboxed frame or a data: URL
                    {"Origin": "http://127.0.0.1:1"},  # another port on this machine is another site
                    {"Referer": "http://attacker.example/page.html"},  # no Origin: the Referer decides
                    {"Sec-Fetch-Site": "cross-site"}):
        status, text, _ = _request(label, "POST", body, {"Cookie": COOKIE, **headers})
        assert status == 403, headers
        assert text.startswith("refused:") and len(text.strip().splitlines()) == 1 and "nothing was saved" in text
        assert _labels(root) == 0, headers
    naming = _request(f"{viewer.url}annotate/{run.run_id}/name", "POST", urlencode({"annotator": "eve"}),
                      {"Origin": "http://attacker.example"})
    assert naming[0] == 403 and "set-cookie" not in {k.lower() for k in naming[2]}

    status, _, headers = _request(label, "POST", body, {"Cookie": COOKIE, "Origin": own})
    assert status == 303 and _labels(root) == 1
    status, _, _ = _request(label, "POST", body, {"Cookie": COOKIE, "Referer": f"{own}/annotate/{run.run_id}"})
    assert status == 303 and _labels(root) == 1  # the same label again: replaced, not added
    with Store(root / "store.sqlite") as store:
        [saved] = LabelStore(store).all()
    assert saved.annotator == "ann" and saved.answers["coherence"] == 4 and saved.answers["faithful"] is True


def test_a_slow_page_does_not_block_the_others(viewer, monkeypatch):
    from evalkit.view import annotate, pages

    viewer, run, _ = viewer
    started, release = threading.Event(), threading.Event()
    real_documents = pages._documents

    def slow_agreement(*args, **kwargs):
        started.set()
        release.wait(30)
        return "<p id=\"agreement\">slow</p>"

    def slow_documents(*args, **kwargs):
        started.set()
        release.wait(30)
        return real_documents(*args, **kwargs)

    for module, name, slow, url in ((annotate, "agreement_html", slow_agreement, f"agreement/{run.run_id}"),
                                    (pages, "_documents", slow_documents, f"run/{run.run_id}")):
        started.clear()
        release.clear()
        monkeypatch.setattr(module, name, slow)
        answers: list[int] = []
        worker = threading.Thread(target=lambda got=answers, url=url: got.append(_request(viewer.url + url)[0]))
        worker.start()
        try:
            assert started.wait(30), f"{url} never started"
            for other in (f"run/{run.run_id}/doc/{quote('d1')}", ""):
                begun = time.monotonic()
                status, html, _ = _request(viewer.url + other)
                took = time.monotonic() - begun
                assert status == 200 and took < 5, (other, took)
                assert worker.is_alive() and not answers, f"{url} finished before {other or 'the runs page'} answered"
                assert (run.run_id if not other else "The river flooded") in html
        finally:
            release.set()
            worker.join(60)
        assert answers == [200], url
        monkeypatch.undo()
