"""Test-only helpers for the SLURM and PostgreSQL tests: the services are real, started by
scripts/local_slurm.sh and scripts/local_postgres.sh (CI: .ci/run)."""

import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from ..conftest import ROOT


class SleepEachEpoch(L.Callback):
    """Sleep after every training epoch, so that a test can act on a job mid-run
    (the arithmetic is untouched: no random numbers, no state)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        time.sleep(self.seconds)


def slow(seconds: float) -> list[str]:
    """Overrides adding `SleepEachEpoch(seconds)` to a run's callbacks."""
    return [
        f"+callbacks.sleep._target_={SleepEachEpoch.__module__}.SleepEachEpoch",
        f"+callbacks.sleep.seconds={seconds}",
    ]


def require_slurm() -> None:
    """Fail (not skip: CI must not pass without it) unless the local cluster answers."""
    try:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30
        ).stdout.split()
    except (FileNotFoundError, subprocess.TimeoutExpired):
        state = []
    if not {"idle", "mixed", "allocated"} & {s.rstrip("*~#") for s in state}:
        pytest.fail(f"no SLURM node is up (sinfo: {state}); run scripts/local_slurm.sh up")


def sbatch(tmp: Path, name: str, command: list[str], *options: str) -> str:
    """Submit `command` (run with srun from the repository root) as a batch job; its
    output goes to `<tmp>/<name>.out` (appended across requeues) and, once the command
    ends, `exit <code>` to `<tmp>/<name>.done`. Returns the job id."""
    script = tmp / f"{name}.sh"
    done = tmp / f"{name}.done"
    script.write_text(
        "#!/bin/bash\n"
        f"srun {shlex.join(command)}\n"
        f'echo "exit $?" > {shlex.quote(str(done))}\n'
    )
    proc = subprocess.run(
        ["sbatch", "--parsable", f"--job-name={name}", f"--output={tmp / (name + '.out')}",
         "--open-mode=append", f"--chdir={ROOT}", *options, str(script)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return proc.stdout.strip().split(";")[0]


def train_command(*overrides: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *overrides]


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def finished(tmp: Path, name: str) -> str | None:
    """`exit <code>` once the job's command has ended, else None."""
    done = tmp / f"{name}.done"
    return done.read_text().strip() if done.is_file() else None


def job_gone(job: str) -> bool:
    out = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    return out in ("", "COMPLETED", "CANCELLED", "FAILED")


def last_epoch(root: Path) -> int:
    """The epoch of the newest `last.ckpt` under `root` (-1 if none)."""
    epochs = [-1]
    for path in root.glob("**/checkpoints/last.ckpt"):
        try:
            epochs.append(int(torch.load(path, weights_only=True, mmap=True)["epoch"]))
        except Exception:  # being written: try again on the next poll
            continue
    return max(epochs)


def same_state(a: Path, b: Path) -> None:
    """Assert two checkpoints hold bitwise-equal weights and optimizer state."""
    ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert ca["epoch"] == cb["epoch"] and ca["global_step"] == cb["global_step"]
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    for key, value in ca["state_dict"].items():
        assert torch.equal(value, cb["state_dict"][key]), key
    for key, state in ca["optimizer_states"][0]["state"].items():
        other = cb["optimizer_states"][0]["state"][key]
        assert torch.equal(state["momentum_buffer"], other["momentum_buffer"]), key
