"""The composite GitHub Action (action.yml) and its gate script (tools/gate-action.sh).

actionlint lints workflows, not action metadata, so it checks the example workflow that uses the
action, and the action's own steps wrapped in a reusable workflow whose inputs are the action's
(an undeclared ``inputs.x`` is then an error). The script and the action's steps are run here as a
runner would run them, with ``GITHUB_STEP_SUMMARY``/``GITHUB_OUTPUT`` pointing at files, on real
runs of the bundled data against a saved baseline. Which runs must pass, regress or be incomparable
is set up by construction and checked from the runs' own score tables: the same experiment twice
(identical scores), ``random`` renamed ``lead`` (its mean ROUGE-1 is computed here to be lower by far
more than the 0.005 tolerance), ROUGE with the stemmer off (another metric signature).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_ci_example import _actionlint

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / "action.yml"
SCRIPT = REPO / "tools" / "gate-action.sh"
EXAMPLE = REPO / "examples" / "github-action.yml"
EXPERIMENT = """name: action-test
data: bundled
target: {words: 60, bound: about}
seed: 0
systems:
  - SYSTEM
metrics:
  - ROUGE
  - {kind: length}
"""
LEAD = "{kind: lead, name: lead}"
RANDOM_AS_LEAD = "{kind: random, name: lead, seed: 0}"


def experiment(system: str = LEAD, rouge: str = "{kind: rouge}") -> str:
    return EXPERIMENT.replace("SYSTEM", system).replace("ROUGE", rouge)


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*_actionlint(), str(path)], capture_output=True, text=True, cwd=path.parent, check=False)


# -- actionlint ---------------------------------------------------------------------------------

def test_actionlint_accepts_the_example_workflow(tmp_path):
    path = tmp_path / ".github" / "workflows" / "summary-quality.yml"
    path.parent.mkdir(parents=True)
    path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    uses = [s["uses"] for s in yaml.safe_load(path.read_text())["jobs"]["gate"]["steps"] if "uses" in s]
    assert "OWNER/evalkit@main" in uses


def as_reusable_workflow(action: dict) -> dict:
    """The action's steps as the one job of a workflow_call workflow whose string inputs are the action's."""
    inputs = {name: {"type": "string", "required": True} if spec.get("required") else
              {"type": "string", "required": False, "default": str(spec.get("default", ""))}
              for name, spec in action["inputs"].items()}
    return {"name": "action steps", "on": {"workflow_call": {"inputs": inputs}},
            "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}}}


def test_actionlint_accepts_the_actions_steps_and_catches_an_undeclared_input(tmp_path, action):
    good = tmp_path / "steps.yml"
    good.write_text(yaml.safe_dump(as_reusable_workflow(action), sort_keys=False), encoding="utf-8")
    result = lint(good)
    assert result.returncode == 0, result.stdout + result.stderr
    # the check really looks at the inputs: one that the action does not declare is reported
    bad = tmp_path / "bad.yml"
    bad.write_text(good.read_text().replace("inputs.policy", "inputs.polcy", 1), encoding="utf-8")
    result = lint(bad)
    assert result.returncode == 1 and 'property "polcy" is not defined' in result.stdout


# -- the action's structure ---------------------------------------------------------------------

def test_every_input_used_is_declared_and_every_declared_one_is_used(action):
    used = set(re.findall(r"\binputs\.([\w-]+)", ACTION.read_text(encoding="utf-8")))
    assert used == set(action["inputs"]), f"used {sorted(used)}, declared {sorted(action['inputs'])}"
    assert {n for n, s in action["inputs"].items() if s.get("required")} == {"config", "baseline"}


def test_every_script_step_has_a_shell_and_no_expression_inside_the_script(action):
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step.get("shell") == "bash", f"{step['name']}: a composite step that runs a script needs shell:"
            # inputs reach a script through env: only, so a file name cannot inject shell code
            assert "${{" not in step["run"], f"{step['name']}: pass expressions through env:"
            checked = subprocess.run(["bash", "-n"], input=step["run"], text=True, capture_output=True, check=False)
            assert checked.returncode == 0, f"{step['name']}: {checked.stderr}"


def test_the_gate_script_exists_and_the_outputs_are_the_ones_it_writes(action):
    gate = step(action, "gate")
    (path,) = re.findall(r'"\$GITHUB_ACTION_PATH/([^"]+)"', gate["run"])
    assert (REPO / path) == SCRIPT and SCRIPT.is_file() and os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    written = set(re.findall(r'echo "([\w-]+)=', SCRIPT.read_text(encoding="utf-8")))
    for name, spec in action["outputs"].items():
        (field,) = re.findall(r"\$\{\{ steps\.gate\.outputs\.([\w-]+) \}\}", spec["value"])
        assert field in written, f"output {name} reads {field}, which the script never writes"
    assert {"verdict", "exit-code", "markdown-file", "report-html"} <= set(action["outputs"])


def test_the_reports_are_uploaded_before_the_verdict_fails_the_job(action):
    steps = action["runs"]["steps"]
    names = [s.get("id") or s.get("uses", "").split("@")[0] or s["name"] for s in steps]
    upload = names.index("actions/upload-artifact")
    assert names.index("gate") < upload < len(steps) - 1
    assert "always()" in steps[upload]["if"]
    verdict = steps[-1]
    assert "always()" in verdict["if"] and "steps.gate.outputs.status" in verdict["if"]
    assert verdict["env"]["STATUS"] == "${{ steps.gate.outputs.status }}" and 'exit "$STATUS"' in verdict["run"]
    assert "set +e" in step(action, "gate")["run"], "the gate step records the code instead of failing"
    run = next(s for s in steps if "evalkit run" in s.get("run", ""))
    assert '--output "$OUTPUT"' in run["run"] and "-q" in run["run"] and "--strict" in run["run"]


def step(action: dict, step_id: str) -> dict:
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


def test_the_docs_name_every_input_and_output_and_their_snippet_uses_declared_inputs(action):
    doc = (REPO / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Using the action"):]
    section = section[:section.index("\n## ", 1)]
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"`{name}`" in section or f"{name}:" in section, f"docs/ci-gate.md does not describe {name!r}"
    (snippet,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    (uses,) = [s for s in yaml.safe_load(snippet) if s.get("id") == "quality"]
    assert set(uses["with"]) <= set(action["inputs"])


# -- runs ---------------------------------------------------------------------------------------

def runner_env(workspace: Path, **extra: str) -> dict[str, str]:
    """The environment of a step: this Python first on PATH (``python``, ``evalkit``), this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EVALKIT_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(GITHUB_WORKSPACE=str(workspace), **extra)
    return env


def evalkit(*args: str, cwd: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "evalkit.cli", *args], cwd=cwd, env=runner_env(cwd),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("action")


@pytest.fixture(scope="module")
def baseline(root: Path) -> Path:
    (root / "lead.yaml").write_text(experiment(), encoding="utf-8")
    evalkit("run", "lead.yaml", "--output", "base-runs", "-q", cwd=root)
    evalkit("baseline", "save", "base-runs", "baseline.json", cwd=root)
    return root / "baseline.json"


@pytest.fixture(scope="module")
def runs(root: Path, baseline: Path) -> dict[str, Path]:
    """Run folders: the baseline's experiment again, random renamed lead, ROUGE without the stemmer."""
    configs = {"same": experiment(), "random": experiment(RANDOM_AS_LEAD),
               "unstemmed": experiment(rouge="{kind: rouge, stemmer: false}")}
    for name, text in configs.items():
        (root / f"{name}.yaml").write_text(text, encoding="utf-8")
        evalkit("run", f"{name}.yaml", "--output", f"runs-{name}", "-q", "--strict", cwd=root)
    return {name: root / f"runs-{name}" for name in configs}


def rouge1_mean(output: Path) -> float:
    (scores,) = output.glob("*/scores.csv")
    table = pd.read_csv(scores)
    return table.loc[(table["system"] == "lead") & (table["metric"] == "rouge1_f"), "value"].mean()


def read_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)


def run_script(root: Path, name: str, runs: Path, baseline: Path, **extra: str):
    """tools/gate-action.sh in a fresh workspace, as the action's gate step runs it: code, summary, outputs."""
    workspace = root / f"ws-{name}"
    workspace.mkdir()
    summary, outputs = workspace / "summary.md", workspace / "outputs.txt"
    summary.write_text("# earlier step\n", encoding="utf-8")
    outputs.touch()
    env = runner_env(workspace, GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs),
                     EVALKIT_RUNS=str(runs), EVALKIT_BASELINE=str(baseline), **extra)
    result = subprocess.run(["bash", str(SCRIPT)], cwd=workspace, env=env, capture_output=True, text=True, check=False)
    return result, summary.read_text(encoding="utf-8"), read_outputs(outputs)


def test_a_passing_run_writes_the_summary_and_every_output(root, runs, baseline):
    result, summary, outputs = run_script(root, "pass", runs["same"], baseline)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary.startswith("# earlier step\n"), "the summary is appended to, not overwritten"
    assert "evalkit gate passed" in summary and "0 of 5 checks regressed" in summary
    assert outputs["verdict"] == "passed" and outputs["exit-code"] == "0"
    workspace = root / "ws-pass"
    assert outputs["markdown-file"] == str(workspace / "evalkit-gate" / "gate.md")
    assert Path(outputs["markdown-file"]).read_text(encoding="utf-8") in summary
    comment = Path(outputs["comment-file"]).read_text(encoding="utf-8")
    assert comment.startswith("<!-- evalkit-gate -->\n") and "evalkit gate passed" in comment
    assert Path(outputs["report-html"]).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert '"verdict": "passed"' in Path(outputs["json-file"]).read_text(encoding="utf-8")


def test_a_regressed_run_writes_the_summary_and_exits_1(root, runs, baseline):
    assert rouge1_mean(root / "base-runs") - rouge1_mean(runs["random"]) > 0.05  # the premise, from the runs
    result, summary, outputs = run_script(root, "regressed", runs["random"], baseline,
                                          GITHUB_SERVER_URL="https://github.com", GITHUB_REPOSITORY="o/r",
                                          GITHUB_RUN_ID="42")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REGRESSED" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| lead | rouge1_f |"))
    assert "regressed" in row and "(worse)" in row
    assert outputs["verdict"] == "regressed" and outputs["exit-code"] == "1"
    junit = ET.parse(outputs["junit-file"]).getroot()
    assert int(junit.get("failures")) >= 1
    comment = Path(outputs["comment-file"]).read_text(encoding="utf-8")
    assert "REGRESSED" in comment and "(https://github.com/o/r/actions/runs/42)" in comment
    assert Path(outputs["report-html"]).is_file()


def test_an_incomparable_run_exits_3(root, runs, baseline):
    result, summary, outputs = run_script(root, "incomparable", runs["unstemmed"], baseline)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "COULD NOT COMPARE" in summary and "rouge" in summary
    assert outputs["verdict"] == "incomparable" and outputs["exit-code"] == "3"


def test_a_missing_baseline_is_a_usage_error_that_still_writes_the_summary(root, runs):
    result, summary, outputs = run_script(root, "usage", runs["same"], root / "no-such-baseline.json")
    assert result.returncode == 2
    assert "ERROR" in summary and "no-such-baseline.json" in summary
    assert outputs["verdict"] == "error" and outputs["exit-code"] == "2" and "report-html" not in outputs


# -- the action's own steps, run as a runner runs them -----------------------------------------

def expand(value: str, inputs: dict[str, str], step_outputs: dict[str, dict[str, str]]) -> str:
    """The expressions the action's env: blocks use (``inputs.x``, ``steps.id.outputs.x``); any other fails."""
    def one(match: re.Match) -> str:
        expression = match.group(1).strip()
        if m := re.fullmatch(r"inputs\.([\w-]+)", expression):
            return inputs[m.group(1)]
        if m := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
            return step_outputs.get(m.group(1), {}).get(m.group(2), "")
        raise AssertionError(f"this emulation does not evaluate ${{{{ {expression} }}}}")
    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def run_action(action: dict, workspace: Path, **given: str) -> tuple[int, str]:
    """The action's script steps after the install (Python and evalkit are this test's), in order, as a
    runner runs them (``shell: bash`` is ``bash --noprofile --norc -eo pipefail``): each with its env, its own
    GITHUB_OUTPUT, and the job's summary file; ``if:`` is not evaluated (the defaults run every step). Returns
    the exit code of the first step that fails (or 0) and the job summary."""
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | given
    summary = workspace / "job-summary.md"
    step_outputs: dict[str, dict[str, str]] = {}
    scripts = [s for s in action["runs"]["steps"] if "run" in s and s["name"] != "Install evalkit"]
    for number, s in enumerate(scripts):
        outputs = workspace / f"output-{number}"
        outputs.touch()
        env = runner_env(workspace, GITHUB_ACTION_PATH=str(REPO), GITHUB_STEP_SUMMARY=str(summary),
                         GITHUB_OUTPUT=str(outputs),
                         **{k: expand(v, inputs, step_outputs) for k, v in s.get("env", {}).items()})
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]], cwd=workspace, env=env, capture_output=True,
                                text=True, check=False)
        step_outputs[s.get("id", str(number))] = read_outputs(outputs)
        if result.returncode != 0:
            return result.returncode, summary.read_text(encoding="utf-8")
    return 0, summary.read_text(encoding="utf-8")


@pytest.mark.parametrize(("system", "code", "headline"), [(LEAD, 0, "evalkit gate passed"),
                                                          (RANDOM_AS_LEAD, 1, "evalkit gate REGRESSED")])
def test_the_actions_steps_run_the_experiment_check_it_and_fail_the_job_last(root, baseline, action, system, code,
                                                                             headline):
    workspace = root / f"action-{code}"
    (workspace / "ci").mkdir(parents=True)
    (workspace / "ci" / "news.yaml").write_text(experiment(system), encoding="utf-8")
    exit_code, summary = run_action(action, workspace, config="ci/news.yaml", baseline=str(baseline))
    assert exit_code == code
    assert headline in summary
    reports = workspace / "evalkit-gate"  # the default reports folder, which the upload step names
    assert {"gate.md", "gate.xml", "gate.json", "comment.md", "report.html"} <= {p.name for p in reports.iterdir()}
    assert len(list((workspace / "runs-ci").glob("*/scores.csv"))) == 1
