"""MLflow tracking (issue 28): a real ``mlflow server`` on loopback receives a run whose params, metrics and
artifacts read back equal to the evalkit run's; logging it again adds nothing; the config's ``tracking:``
logs after ``evalkit run``; an unreachable server is one line and the run is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow", reason='the MLflow test needs pip install "evalkit[mlflow]"')
from local_server import free_port, wait_until_answers
from mlflow.tracking import MlflowClient

from evalkit.core.errors import ConfigError
from evalkit.run.experiment import Experiment
from evalkit.run.record import Run

pytestmark = pytest.mark.slow

CONFIG = """name: tracked
data: {path: bundled, limit: 6}
target: {words: 60}
systems: [{kind: lead, name: lead}, {kind: random, name: random, seed: 0}]
metrics: [rouge, length]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A real MLflow tracking server (SQLite backend, proxied artifacts) on a free loopback port."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                                f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts"),
                                "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(f"{uri}/health", process, folder / "server.log", seconds=120, what="mlflow server")
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and its workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def evalkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], check=False, capture_output=True, text=True,
                          timeout=300)


def _run(tmp_path: Path, extra: str = "") -> tuple[subprocess.CompletedProcess, Run]:
    config = tmp_path / "tracked.yaml"
    config.write_text(CONFIG + extra, encoding="utf-8")
    result = evalkit("run", str(config), "--output", str(tmp_path / "runs"), "-q")
    return result, Run.load(tmp_path / "runs")


def _runs_of(client: MlflowClient, experiment: str, run: Run) -> list:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id], filter_string=f"tags.`evalkit.run_id` = '{run.run_id}'")


def test_logged_run_reads_back_equal_and_once(server: str, tmp_path: Path) -> None:
    result, run = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    logged = evalkit("log", str(run.run_dir), "--mlflow", server, "--experiment", "cli")
    assert logged.returncode == 0, logged.stderr
    assert logged.stdout.startswith("Logged to MLflow") and len(logged.stdout.splitlines()) == 1

    client = MlflowClient(tracking_uri=server)
    [found] = _runs_of(client, "cli", run)
    assert found.info.run_name == run.run_id and found.info.status == "FINISHED"
    assert found.data.tags.get("mlflow.source.git.commit") == run.manifest.git_commit
    assert found.data.tags["evalkit.version"] == run.manifest.packages["evalkit"]

    written = json.loads((run.run_dir / "manifest.json").read_text(encoding="utf-8"))
    params = found.data.params
    assert {k: v for k, v in params.items() if k.startswith("system/")} == {
        "system/lead/fingerprint": written["systems"]["lead"]["fingerprint"],
        "system/random/fingerprint": written["systems"]["random"]["fingerprint"]}
    assert {k: v for k, v in params.items() if k.startswith("metric/")} == {
        "metric/rouge/signature": written["metrics"]["rouge"]["signature"],
        "metric/length/signature": written["metrics"]["length"]["signature"]}
    assert params["data/documents"] == written["data"]["documents"] and params["data/n_documents"] == "6"
    assert params["seed"] == "0" and "60 words" in params["target"]

    # Means computed here from scores.csv itself, by hand: every defined value per (system, metric).
    scores = pd.read_csv(run.run_dir / "scores.csv")
    headline = [m["name"] for entry in written["metrics"].values() for m in entry["measures"] if m.get("headline")]
    assert {"rouge1_f", "rouge2_f", "length_words"} <= set(headline)
    expected = {f"{system}/{metric}": sum(values) / len(values)
                for (system, metric), group in scores.dropna(subset=["value"]).groupby(["system", "metric"])
                if metric in headline for values in [list(group["value"])]}
    expected.update({"n_documents": 6.0, "failures": 0.0})
    assert found.data.metrics == pytest.approx(expected, rel=1e-12)
    assert found.data.metrics["lead/rouge1_f"] == pytest.approx(run.table()["rouge1_f"]["lead"], rel=1e-12)

    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"scores.csv", "summaries.jsonl", "facts.jsonl", "manifest.json", "report.html"} <= artifacts
    downloaded = Path(client.download_artifacts(found.info.run_id, "scores.csv", str(tmp_path)))
    assert downloaded.read_bytes() == (run.run_dir / "scores.csv").read_bytes()
    assert "sources.jsonl" in artifacts  # the articles travel with the run: the viewer can show them
    sources = Path(client.download_artifacts(found.info.run_id, "sources.jsonl", str(tmp_path)))
    assert sources.read_bytes() == (run.run_dir / "sources.jsonl").read_bytes() and sources.stat().st_size > 0
    report = Path(client.download_artifacts(found.info.run_id, "report.html", str(tmp_path)))
    assert run.run_id in report.read_text(encoding="utf-8")

    again = evalkit("log", str(tmp_path / "runs"), "--mlflow", server, "--experiment", "cli")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Already in MLflow") and found.info.run_id in again.stdout
    assert len(_runs_of(client, "cli", run)) == 1


def test_tracking_config_logs_after_the_run(server: str, tmp_path: Path) -> None:
    result, run = _run(tmp_path, f"tracking: {{mlflow: {{uri: '{server}', experiment: from-config}}}}\n")
    assert result.returncode == 0, result.stderr
    [found] = _runs_of(MlflowClient(tracking_uri=server), "from-config", run)
    assert found.info.run_name == run.run_id and found.info.run_id in result.stdout
    assert found.data.params["system/lead/fingerprint"] == run.manifest.systems["lead"].fingerprint


def test_unreachable_server_is_one_line_and_the_run_is_kept(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    result, run = _run(tmp_path, f"tracking: {{mlflow: {{uri: '{nobody}'}}}}\n")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("evalkit: error: cannot reach the MLflow server") and str(run.run_dir) in line
    assert (run.run_dir / "scores.csv").exists() and len(run.summaries) == 12
    again = evalkit("log", str(run.run_dir), "--mlflow", nobody)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1


def test_missing_mlflow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.report.mlflow_log import log_run

    _, run = _run(tmp_path)
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ConfigError, match=r'pip install "evalkit\[mlflow\]"'):
        log_run(run, uri="http://127.0.0.1:1")


def test_tracking_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="did you mean 'uri'"):
        Experiment.from_dict({"systems": ["lead"], "tracking": {"mlflow": {"url": "http://x"}}})
    with pytest.raises(ConfigError, match="did you mean 'mlflow'"):
        Experiment.from_dict({"systems": ["lead"], "tracking": {"mlfow": {"uri": "http://x"}}})
    assert Experiment.from_dict({"systems": ["lead"]}).tracking is None
