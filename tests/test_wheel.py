"""A wheel that works: built from the sources, installed (not editable) into a fresh virtualenv, and run
from an unrelated folder with the bundled sample, the bundled configs and the bundled scraped case.

The fresh venv has no pip and no site packages of its own; its dependencies (pandas, spaCy...)
come from the test environment's site-packages through a ``.pth`` line. A ``.pth`` line adds a
folder to ``sys.path`` without running the ``.pth`` files inside it, so the editable install of
the checkout there is not activated: the test checks that the evalkit imported is the wheel's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO / "evalkit", source / "evalkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (root / "dist").glob("evalkit-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "EVALKIT_OFFLINE")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return {"wheel": wheel, "python": python, "evalkit": env_dir / "bin" / "evalkit", "env": env, "cwd": elsewhere,
            "site": site}


def _run(installed: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=installed["cwd"], env=installed["env"], capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_carries_the_bundled_data_and_configs(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for needed in ("evalkit/data_files/news_sample.jsonl", "evalkit/data_files/sample_outputs.jsonl",
                   "evalkit/data_files/cases/scraped_example.txt", "evalkit/configs/default.yaml",
                   "evalkit/configs/compare.yaml", "evalkit/configs/prices.yaml"):
        assert needed in names
    where = _run(installed, installed["python"], "-c", "import evalkit, evalkit.inputs.data as d; "
                 "print(evalkit.__file__); print(d.BUNDLED.exists())")
    assert where.returncode == 0, where.stderr
    path, exists = where.stdout.split()
    assert Path(path).is_relative_to(installed["site"]) and exists == "True"  # the wheel's evalkit, not the checkout


def test_run_and_compare_from_an_unrelated_folder(installed):
    config = installed["cwd"] / "bundled.yaml"
    config.write_text(yaml.safe_dump({"name": "wheel", "data": {"path": "bundled", "limit": 6},
                                      "target": {"words": 60}, "systems": [{"kind": "lead"}, {"kind": "textrank"}],
                                      "metrics": [{"kind": "rouge"}, {"kind": "length"}]}))
    run = _run(installed, installed["evalkit"], "run", config, "-q")
    assert run.returncode == 0, run.stderr
    assert "6 documents x 2 systems" in run.stdout and (installed["cwd"] / "runs" / "LATEST").exists()
    case = installed["site"] / "evalkit" / "data_files" / "cases" / "scraped_example.txt"
    compare = _run(installed, installed["evalkit"], "compare", case, "--output", installed["cwd"] / "cmp")
    assert compare.returncode == 0, compare.stderr
    assert "=== lead ===" in compare.stdout and "Target: in about 1500 words, in 5 paragraphs" in compare.stdout
