"""Notebook 01 opened in a real JupyterLab in a real (headless) Chromium shows its charts as images.

This is what a researcher does: start JupyterLab, open the quickstart, run all cells, look.
The server listens on 127.0.0.1 on a free port with a known token and is always stopped; the
browser is Debian's ``chromium`` driven by playwright. The notebook runs on 3 documents
(papermill's parameter injection, as ``papermill -p limit 3`` would) so the test stays short.
A screenshot is kept in the test's tmp folder (and copied to ``$EVALKIT_ARTIFACTS`` if set).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from local_server import free_port, wait_until_answers

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")
sync_api = pytest.importorskip("playwright.sync_api")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_quickstart.ipynb"


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebook 01 (parameterised small); yields (url, token)."""
    root = tmp_path / "lab"
    root.mkdir()
    papermill.execute_notebook(str(NOTEBOOK), str(root / NOTEBOOK.name), parameters={"limit": 3},
                               prepare_only=True, progress_bar=False)  # inject the parameters, run nothing
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    env.pop("MPLBACKEND", None)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/api/status?token={token}", server, tmp_path / "server.log", seconds=90,
                           what="JupyterLab")
        yield url, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_notebook_01_shows_chart_images_in_jupyterlab(jupyterlab, tmp_path):
    url, token, root = jupyterlab
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (apt-get install chromium)"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('notebook:run-all-cells')",
                                   timeout=60_000)
            # The kernel must be up before running: its status reads "Idle" in the toolbar/status bar.
            page.wait_for_function(
                "() => { const w = window.jupyterapp.shell.currentWidget;"
                " return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
                " && w.sessionContext.session.kernel.status === 'idle'; }", timeout=90_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # Run all is done when no cell is queued or running ("[*]") and the last cell has run.
            page.wait_for_function(
                "() => { const w = window.jupyterapp.shell.currentWidget;"
                " const cells = w.content.widgets.filter(c => c.model.type === 'code');"
                " return cells.every(c => c.model.executionCount !== null && c.model.executionCount !== undefined)"
                " && w.sessionContext.session.kernel.status === 'idle'; }", timeout=420_000, polling=1000)
            images = page.locator(".jp-OutputArea-output img")
            page.wait_for_function("document.querySelectorAll('.jp-OutputArea-output img').length >= 3",
                                   timeout=30_000)
            sizes = images.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight, i.src.slice(0, 21)])")
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
            images.first.scroll_into_view_if_needed()
            shot = tmp_path / "jupyterlab.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    if os.environ.get("EVALKIT_ARTIFACTS"):
        shutil.copy(shot, Path(os.environ["EVALKIT_ARTIFACTS"]) / shot.name)
    # Every chart is a decoded PNG of real size, not the text "<Figure size ... with 1 Axes>".
    assert len(sizes) >= 3
    assert all(w > 300 and h > 200 and src == "data:image/png;base64" for w, h, src in sizes), sizes
    assert not any("Traceback" in e or "IProgress not found" in e for e in errors), errors
    assert shot.stat().st_size > 20_000
