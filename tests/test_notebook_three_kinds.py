"""notebooks/05_three_kinds.ipynb executes on the bundled data with a real local model and a real server.

Run with small parameters (2 documents, about 30 words) in a kernel that has only what the
README's first command installs (``readme_env.py``), so the notebook starts its own
``transformers serve`` as a reader's would: every chart of ``plots.CHARTS`` must show a PNG
(or say why it has nothing to show), both SmolLM2 systems must have written real summaries,
and with the same completion budget.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from readme_env import KERNEL, build, kernel_environ

from evalkit.report.plots import CHARTS
from evalkit.run.record import Run

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_three_kinds.ipynb"
WORDS = 30


def outputs_of(notebook, marker: str) -> list:
    return next(c for c in notebook.cells if c.cell_type == "code" and marker in c.source).outputs


def test_three_kinds_notebook_draws_every_chart_with_real_models(tmp_path, monkeypatch):
    readme = build(tmp_path / "readme-env")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the README environment has the checkout itself
    for name, value in kernel_environ(readme).items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    notebook.cells.insert(parameters + 1, nbformat.v4.new_code_cell(f"n_docs = 2\nwords = {WORDS}\nport = None"))
    where = tmp_path / "notebooks"  # as Jupyter runs it: from notebooks/, its runs in the folder above
    where.mkdir()
    client = nbclient.NotebookClient(notebook, timeout=1200, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(where)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error

    charts = outputs_of(notebook, "plots.charts_of(run)")
    pngs = sum("image/png" in o.get("data", {}) for o in charts)
    reasons = "".join(o.get("text", "") for o in charts if o.output_type == "stream").count("nothing to show because")
    assert pngs + reasons == len(CHARTS) and pngs >= 3, (pngs, reasons)
    assert any("image/png" in o.get("data", {}) for o in outputs_of(notebook, "plots.document_view(run, first, documents)"))

    run = Run.load(tmp_path / "runs")
    summaries = run.summaries.set_index(["system", "document_id"])
    assert set(run.manifest.systems) == {"lead", "textrank", "lexrank", "smollm2-local", "smollm2-served"}
    assert run.manifest.data.n_documents == 2
    for system in ("smollm2-local", "smollm2-served"):
        rows = summaries.loc[system]
        assert rows["error"].isna().all(), rows["error"].tolist()
        assert (rows["text"].str.split().str.len() >= 8).all()
    # The same budget on both paths: what an API system derives for "about 30 words", 2 * 30 * 4/3 + 64 tokens.
    budget = math.ceil(2 * WORDS * 4 / 3) + 64
    local, served = summaries.loc["smollm2-local", "details"], summaries.loc["smollm2-served", "details"]
    assert {d["max_new_tokens"] for d in local} == {budget} == {d["max_tokens"] for d in served}
    assert all(d["finish_reason"] in ("stop", "length") for d in served)  # replies that came over the wire
