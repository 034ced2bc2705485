"""One call in a notebook shows the viewer inline: ``evalkit.view.show(root)`` is an IFrame to a running server.

A tiny notebook is executed in a real Jupyter kernel (nbclient, as tests/test_notebooks.py runs the
notebooks): its cell's rich output must be an ``<iframe>`` whose ``src`` is the server's 127.0.0.1 URL, and
that URL, fetched from here while the kernel still runs, must answer 200 with the runs page listing the run.
"""

from __future__ import annotations

import re
import urllib.request

import nbformat
from nbclient import NotebookClient

from evalkit.core.types import Document
from evalkit.run.experiment import Experiment

DOCUMENTS = [Document(id="d1", text="The river flooded three villages. Rescue teams arrived by boat. Nobody was hurt.")]


def test_show_in_a_notebook_is_an_iframe_to_the_running_viewer(tmp_path):
    root = tmp_path / "runs"
    run = Experiment(systems=[{"kind": "lead", "name": "lead"}], metrics=[{"kind": "length"}], target={"words": 6},
                     progress=False).relocate(root).run(documents=DOCUMENTS)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import evalkit.view\nevalkit.view.show({str(root)!r}, height=600)")])
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        client.execute_cell(notebook.cells[0], 0)
        [output] = [o for o in notebook.cells[0].outputs if o.get("output_type") == "execute_result"]
        frame = output["data"]["text/html"]
        assert frame.lstrip().startswith("<iframe") and 'height="600"' in frame
        [src] = re.findall(r'src="([^"]*)"', frame)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", src), src
        with urllib.request.urlopen(src, timeout=60) as response:  # the server runs in the kernel: ask it now
            assert response.status == 200
            assert run.run_id in response.read().decode("utf-8")
