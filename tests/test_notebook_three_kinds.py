"""notebooks/05_three_kinds.ipynb executes on the bundled data with a real local model and a real server.

Run with small parameters (2 documents, about 30 words) against the session's ``transformers serve``
(``real_server.py``); every chart cell must show a PNG, and both SmolLM2 systems must have
written real summaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from evalkit.run.record import Run  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_three_kinds.ipynb"
CHARTS = ("plots.metric_comparison(", "plots.length_compliance(", "plots.factuality(",
          "plots.document_view(run, first, documents)")


def test_three_kinds_notebook_draws_every_chart_with_real_models(real_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    notebook.cells.insert(parameters + 1, nbformat.v4.new_code_cell(
        f"n_docs = 2\nwords = 30\nbase_url = {real_server.base_url!r}\nserved_model = {real_server.model!r}"))
    client = nbclient.NotebookClient(notebook, timeout=1200, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error

    for marker in CHARTS:
        cell = next(c for c in notebook.cells if c.cell_type == "code" and marker in c.source)
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"no chart from {marker}"
    run = Run.load(tmp_path / "runs")
    summaries = run.summaries.set_index(["system", "document_id"])
    assert set(run.manifest.systems) == {"lead", "textrank", "lexrank", "smollm2-local", "smollm2-served"}
    assert run.manifest.data.n_documents == 2
    for system in ("smollm2-local", "smollm2-served"):
        rows = summaries.loc[system]
        assert rows["error"].isna().all(), rows["error"].tolist()
        assert (rows["text"].str.split().str.len() >= 8).all()
    assert len(real_server.proxy.completions()) >= 2  # the served system really went over the wire
