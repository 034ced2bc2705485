#!/bin/bash
#SBATCH --job-name=evalkit-shard
#SBATCH --array=1-8
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
#SBATCH --output=shards/%A_%a.log
#
# An evalkit experiment as a Slurm array job: task I of N runs shard I/N of the documents into its
# own store, shards/I.sqlite; a job that starts once every task succeeded merges the stores and
# runs the experiment on the merged store, which computes nothing and writes the whole run
# (runs/<name>-<time>, as one process would have). See docs/scale.md.
#
#   CONFIG=cfg.yaml N=8 bash examples/slurm-shards.sh    # submits both jobs; run it where sbatch is
#
# Re-submitting after a failed task is cheap: every shard resumes from its store.
set -euo pipefail
CONFIG=${CONFIG:-cfg.yaml}
N=${N:-8}

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then  # on the login node: submit the array, then the merge
    mkdir -p shards
    stores=$(for i in $(seq 1 "$N"); do printf 'shards/%d.sqlite ' "$i"; done)
    array=$(sbatch --parsable --array="1-$N" --export="ALL,CONFIG=$CONFIG,N=$N" "$0")
    sbatch --parsable --dependency="afterok:${array%%;*}" --job-name=evalkit-merge --output=shards/merge_%j.log \
        --wrap "evalkit merge $stores--into merged.sqlite && evalkit run '$CONFIG' --store merged.sqlite -q"
    exit 0
fi

evalkit run "$CONFIG" --shard "$SLURM_ARRAY_TASK_ID/$N" --store "shards/$SLURM_ARRAY_TASK_ID.sqlite" -q
