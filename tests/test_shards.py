"""Sharded runs (``evalkit run --shard I/N``) merged with ``evalkit merge`` equal one run of everything."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit.core.errors import ConfigError, DataError
from evalkit.core.types import Document
from evalkit.run.experiment import Experiment
from evalkit.run.store import Store

CONFIG = """\
name: shards
data: bundled
target: {words: 60, bound: about}
systems: [lead, textrank, {kind: lead, name: lead-words, cut: word}, lexrank, oracle]
metrics: [rouge, length, entities]
"""
N = 3
CONTENT_TABLES = ("summaries", "scores", "artifacts")


def evalkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], check=False, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def run_folder(stdout: str, cwd: Path) -> Path:
    """The run folder a `evalkit run` printed on its 'Results:' line."""
    line = next(line for line in stdout.splitlines() if line.startswith("Results: "))
    return cwd / Path(line.split()[1]).parent


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """Three shards, each into its own store, merged; the merged run; and one run of everything in its own store."""
    work = tmp_path_factory.mktemp("shards")
    (work / "cfg.yaml").write_text(CONFIG, encoding="utf-8")
    shards = []
    for i in range(1, N + 1):
        done = evalkit("run", "cfg.yaml", "-q", "--shard", f"{i}/{N}", "--store", f"shards/{i}.sqlite", cwd=work)
        assert done.returncode == 0, done.stderr
        shards.append(run_folder(done.stdout, work))
    merged = evalkit("merge", *(f"shards/{i}.sqlite" for i in range(1, N + 1)), "--into", "merged.sqlite", cwd=work)
    assert merged.returncode == 0, merged.stderr
    merged_run = evalkit("run", "cfg.yaml", "-q", "--store", "merged.sqlite", cwd=work)
    assert merged_run.returncode == 0, merged_run.stderr
    whole = evalkit("run", "cfg.yaml", "-q", "--store", "whole.sqlite", cwd=work)
    assert whole.returncode == 0, whole.stderr
    return {"work": work, "shards": shards, "merge": merged, "merged": run_folder(merged_run.stdout, work),
            "whole": run_folder(whole.stdout, work)}


def tidy(folder: Path) -> pd.DataFrame:
    frame = pd.read_csv(folder / "scores.csv")
    return frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)


def snapshot(path: Path) -> dict[str, tuple[int, str]]:
    """Per content table: its row count and a hash of all its rows, in key order."""
    out = {}
    with sqlite3.connect(path) as db:
        for table in (*CONTENT_TABLES, "leases"):
            rows = db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def test_merged_shards_give_the_one_process_tables_and_compute_nothing(sharded):
    merged, whole = tidy(sharded["merged"]), tidy(sharded["whole"])
    assert len(whole) == 24 * 5 * len(merged["metric"].unique())  # 24 bundled documents x 5 systems x each value
    pd.testing.assert_frame_equal(merged, whole, check_exact=True)
    texts = [pd.read_json(f / "summaries.jsonl", lines=True).sort_values(["document_id", "system"])
             [["document_id", "system", "text"]].reset_index(drop=True) for f in (sharded["merged"], sharded["whole"])]
    pd.testing.assert_frame_equal(*texts)
    counts = manifest(sharded["merged"])["counts"]
    assert counts["summaries_computed"] == 0 and counts["scores_computed"] == 0
    assert counts["summaries_cached"] == 24 * 5
    assert manifest(sharded["whole"])["counts"]["summaries_computed"] > 0  # the comparison run did compute


def test_every_document_is_in_exactly_one_shard(sharded):
    everything = set(manifest(sharded["whole"])["data"]["document_hashes"])
    parts = [set(manifest(folder)["data"]["document_hashes"]) for folder in sharded["shards"]]
    assert len(everything) == 24
    assert sum(len(p) for p in parts) == len(everything) and set().union(*parts) == everything
    assert all(parts), "each of the three shards got documents"
    assert [manifest(folder)["config"]["shard"] for folder in sharded["shards"]] == ["1/3", "2/3", "3/3"]


def test_shards_do_not_depend_on_the_process_or_on_other_documents():
    ids = [f"doc-{n}" for n in range(40)]
    code = ("import sys; from evalkit.run.settings import Shard; "
            "print(' '.join(str(next(i for i in range(1, 6) if Shard(i, 5).selects(d))) for d in sys.argv[1:]))")
    seen = {subprocess.run([sys.executable, "-c", code, *ids], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True).stdout for seed in ("1", "2")}
    assert len(seen) == 1  # Python's hash() is salted per process; a shard must not be
    docs = [Document(id=i, text=f"Story {i} happened on Monday. It rained.") for i in ids]
    chosen = [d.id for d in Experiment(systems=["lead"], shard="2/5")._documents(docs[:20])]
    more = [d.id for d in Experiment(systems=["lead"], shard="2/5")._documents(docs)]
    assert chosen and more[:len(chosen)] == chosen  # adding documents moved none of those already there


def test_a_rerun_of_a_shard_computes_nothing(sharded):
    work = sharded["work"]
    again = evalkit("run", "cfg.yaml", "-q", "--shard", f"2/{N}", "--store", "shards/2.sqlite", cwd=work)
    assert again.returncode == 0, again.stderr
    counts = manifest(run_folder(again.stdout, work))["counts"]
    assert counts["summaries_computed"] == 0 and counts["scores_computed"] == 0 and counts["summaries_cached"] > 0


def test_merging_a_store_with_itself_or_twice_changes_nothing(sharded):
    work = sharded["work"]
    before = snapshot(work / "merged.sqlite")
    assert before["summaries"][0] == 24 * 5  # one row per document and system (each has its own fingerprint)
    for args in (["merged.sqlite"], ["shards/1.sqlite", "shards/1.sqlite"], ["shards/3.sqlite"]):
        done = evalkit("merge", *args, "--into", "merged.sqlite", cwd=work)
        assert done.returncode == 0 and "0 conflicts" in done.stdout, done.stdout + done.stderr
        assert snapshot(work / "merged.sqlite") == before


def test_a_conflicting_row_is_reported_and_not_overwritten(sharded, tmp_path):
    work = sharded["work"]
    shutil.copy(work / "merged.sqlite", tmp_path / "target.sqlite")
    shutil.copy(work / "shards" / "1.sqlite", tmp_path / "other.sqlite")
    with sqlite3.connect(tmp_path / "other.sqlite") as db:
        key, text = db.execute("SELECT key, text FROM summaries ORDER BY key LIMIT 1").fetchone()
        db.execute("UPDATE summaries SET text = 'A different summary.' WHERE key = ?", (key,))
        db.execute("INSERT INTO leases VALUES ('someone-elses', 1, 'elsewhere', 9e9)")
    before = snapshot(tmp_path / "target.sqlite")
    done = evalkit("merge", "other.sqlite", "--into", "target.sqlite", cwd=tmp_path)
    assert done.returncode == 0
    assert "1 conflicts" in done.stdout and f"summaries {key}" in done.stdout
    assert "warning: 1 row(s) differ" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert snapshot(tmp_path / "target.sqlite") == before  # not overwritten, and the lease was not copied
    with sqlite3.connect(tmp_path / "target.sqlite") as db:
        assert db.execute("SELECT text FROM summaries WHERE key = ?", (key,)).fetchone() == (text,)
    strict = evalkit("merge", "other.sqlite", "--into", "target.sqlite", "--strict", cwd=tmp_path)
    assert strict.returncode == 1 and "error: 1 row(s) differ" in strict.stderr
    with Store(tmp_path / "target.sqlite") as target, Store(tmp_path / "other.sqlite") as other:
        result = target.merge_from(other)
    assert result.conflicts == {"summaries": 1, "scores": 0, "artifacts": 0, "labels": 0, "rubrics": 0}
    assert result.copied == {"summaries": 0, "scores": 0, "artifacts": 0, "labels": 0, "rubrics": 0}


def test_a_merge_into_a_new_store_copies_every_row(sharded, tmp_path):
    work = sharded["work"]
    sources = [work / "shards" / f"{i}.sqlite" for i in range(1, N + 1)]
    done = evalkit("merge", *map(str, sources), "--into", str(tmp_path / "new.sqlite"), cwd=work)
    assert done.returncode == 0, done.stderr
    merged = snapshot(tmp_path / "new.sqlite")
    for table in CONTENT_TABLES:
        assert merged[table][0] == sum(snapshot(s)[table][0] for s in sources)  # shards share no document
    assert merged["leases"][0] == 0


@pytest.mark.parametrize("value", ["0/3", "4/3", "1/0", "x", "2/x", "-1/3", "1/3/5"])
def test_bad_shard_values_are_one_line_errors(tmp_path, value):
    done = evalkit("run", f"--shard={value}", "-q", "--output", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("evalkit: error: shard") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store.sqlite").exists()  # refused before anything was written
    with pytest.raises(ConfigError, match="shard"):
        Experiment(systems=["lead"], shard=value)


def test_an_empty_shard_and_a_missing_store_are_one_line_errors(tmp_path):
    doc = Document(id="only", text="Rain fell on Monday. Roads flooded.")
    empty = next(i for i in (1, 2) if not Experiment(systems=["lead"], shard=f"{i}/2").shard.selects("only"))
    with pytest.raises(DataError, match="selects none of the 1 documents"):
        Experiment(systems=["lead"], shard=f"{empty}/2", output_dir=tmp_path).run([doc])
    done = evalkit("merge", "missing.sqlite", "--into", "target.sqlite", cwd=tmp_path)
    assert done.returncode == 2 and "no such store: missing.sqlite" in done.stderr
    assert not (tmp_path / "missing.sqlite").exists() and not (tmp_path / "target.sqlite").exists()


FAKE_SBATCH = """\
#!{python}
# A stand-in for Slurm's sbatch: logs its arguments and runs the job at once (an array task by task).
import os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_SBATCH_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if "--wrap" in args:
    code = subprocess.run(["sh", "-c", args[args.index("--wrap") + 1]], stdout=sys.stderr).returncode
else:
    first, last = next(a for a in args if a.startswith("--array=")).split("=")[1].split("-")
    for task in range(int(first), int(last) + 1):
        code = subprocess.run(["bash", args[-1]], env={{**os.environ, "SLURM_ARRAY_TASK_ID": str(task)}},
                              stdout=sys.stderr).returncode
        if code:
            break
print("4242")
sys.exit(code)
"""


def test_the_slurm_example_runs_shards_then_merges_and_runs_on_the_merged_store(tmp_path):
    script = Path(__file__).resolve().parents[1] / "examples" / "slurm-shards.sh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable), encoding="utf-8")
    (bin_dir / "sbatch").chmod(0o755)
    (tmp_path / "cfg.yaml").write_text("name: slurm\ndata: bundled\nsystems: [lead, textrank]\n"
                                       "metrics: [rouge, length]\n", encoding="utf-8")
    env = {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "CONFIG": "cfg.yaml", "N": "3", "FAKE_SBATCH_LOG": str(tmp_path / "sbatch.log")}
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    submitted = (tmp_path / "sbatch.log").read_text(encoding="utf-8").splitlines()
    assert "--array=1-3" in submitted[0] and "--dependency=afterok:4242" in submitted[1]
    assert sorted(p.name for p in (tmp_path / "shards").glob("*.sqlite")) == ["1.sqlite", "2.sqlite", "3.sqlite"]
    runs = {manifest(p)["config"].get("shard"): p for p in (tmp_path / "runs").glob("slurm-*")}
    assert len(runs) == 4 and set(runs) == {"1/3", "2/3", "3/3", None}
    counts = manifest(runs[None])["counts"]  # the merge job's run of everything
    assert counts["summaries_computed"] == 0 and counts["scores_computed"] == 0
    assert counts["summaries_cached"] == 24 * 2
