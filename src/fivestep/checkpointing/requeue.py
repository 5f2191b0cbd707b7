"""A run under a scheduler: a requeued SLURM job finds and resumes its own last checkpoint.

When SLURM requeues a job (preemption, `scontrol requeue`, Lightning's auto-requeue on
the `--signal` warning before the time limit, submitit's requeue), the job's batch
script starts again from its first line, with the same job id and
`SLURM_RESTART_COUNT` one higher, and the same `python train.py ...` runs again. With
no `ckpt_path` it would train from scratch, in a new `runs/<timestamp>/` folder too.
Instead `train()` asks `requeued_checkpoint`: on a restarted job it returns the newest
`last.ckpt` that this same job (same cluster, job id, array task and command-line
overrides) wrote before, and the run continues from it in place, in its old folder.

Every checkpoint records the job it was written by (`job_record`, stored by
`fivestep.checkpointing.run_state.RunState`). `last.ckpt` is written at the end of every epoch, so a
requeue loses at most the epoch in progress, and the resumed run is bitwise the run
that was not interrupted (see `fivestep.checkpointing.run_state` for the random generators).
Lightning's own `hpc_ckpt_<n>.ckpt` (written mid-epoch by its SIGUSR1 handler) is not
used: a mid-epoch restart of an in-memory batch order is not exact.
"""

import logging
import os
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

KEY = "fivestep"  # the record `checkpointing.run_state.RunState` writes in each checkpoint


def slurm_job() -> str | None:
    """This process's SLURM job as `<cluster>:<job id>` (`<array id>_<task id>` for an
    array task, as submitit submits sweeps), or `None` outside SLURM."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        job = f"{array}_{task}"
    return f"{os.environ.get('SLURM_CLUSTER_NAME', 'slurm')}:{job}"


def restart_count() -> int:
    """How many times SLURM has requeued this job (0 on its first start or outside SLURM)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    except ValueError:
        return 0


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [str(o) for o in HydraConfig.get().overrides.task]


def job_record() -> dict[str, Any] | None:
    """What a checkpoint stores of the job that writes it, or `None` outside SLURM."""
    job = slurm_job()
    return None if job is None else {"id": job, "overrides": _overrides()}


def requeued_checkpoint(output_dir: str | Path, log_dir: str | Path, task_name: str) -> Path | None:
    """On a requeued SLURM job, the newest `last.ckpt` this job wrote before; else `None`.

    This run's own folder is looked in first (a multirun job keeps its folder across a
    requeue), then every run under `<log_dir>/<task_name>/` (a single run gets a new
    timestamped folder each time it starts).
    """
    record = job_record()
    if record is None or restart_count() == 0:
        return None
    own = Path(output_dir) / "checkpoints" / "last.ckpt"
    candidates = [own] if own.is_file() else []
    candidates += sorted(Path(log_dir, task_name).glob("**/checkpoints/last.ckpt"))
    found: list[tuple[float, Path]] = []
    for path in dict.fromkeys(candidates):  # unique, in order
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # unreadable: not a candidate
            continue
        if stored.get(KEY, {}).get("job") == record:
            found.append((path.stat().st_mtime, path))
    if not found:
        log.info(
            "SLURM job %s restarted (%d), but it wrote no last.ckpt yet: starting afresh",
            record["id"], restart_count(),
        )
        return None
    path = max(found)[1]
    log.info(
        "SLURM job %s restarted (%d): resuming its own %s", record["id"], restart_count(), path
    )
    return path
