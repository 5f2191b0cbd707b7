"""Resume is exact: same data order, same RNG draws, so the same final weights, bit for bit."""

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fivestep.train import train

from ..conftest import ROOT, compose_config
from ..watchdog import run_watched

# Minibatches with reshuffling, momentum, and dropout (a net that draws random numbers
# every step): each is state a resume could lose.
COMMON = [
    "experiment=two_layer",
    "data.batch_size=16",
    "model.optimizer.momentum=0.9",
    "model/net=mlp",
    "model.net.hidden=[8,4]",
    "model.net.dropout=0.3",
    "callbacks.progress_bar.refresh_rate=0",
    "test=false",
]


def _same_state(a: Path, b: Path) -> None:
    """Assert two checkpoints hold bitwise-equal weights and optimizer state."""
    ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert ca["epoch"] == cb["epoch"] and ca["global_step"] == cb["global_step"]
    assert ca["state_dict"].keys() == cb["state_dict"].keys()
    for key, value in ca["state_dict"].items():
        assert torch.equal(value, cb["state_dict"][key]), key
    for key, state in ca["optimizer_states"][0]["state"].items():
        other = cb["optimizer_states"][0]["state"][key]
        assert torch.equal(state["momentum_buffer"], other["momentum_buffer"])


def _train_loss_steps(tensorboard_dir: Path) -> list[int]:
    events = EventAccumulator(str(tensorboard_dir))
    events.Reload()
    return [e.step for e in events.Scalars("train/loss")]


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_resume_is_bitwise_exact_and_continues_the_same_run(tmp_path):
    full, cut, again = tmp_path / "full", tmp_path / "cut", tmp_path / "again"
    # The best-checkpoint callback here never improves after epoch 0 (it minimizes the
    # epoch number); last.ckpt must still follow every epoch.
    best_is_first = ["callbacks.model_checkpoint.monitor=epoch", "logger=[]"]
    uninterrupted = train(compose_config([*COMMON, "trainer.max_epochs=4", *best_is_first], full))
    assert {p.name for p in (full / "checkpoints").iterdir()} == {"epoch_000.ckpt", "last.ckpt"}
    train(compose_config([*COMMON, "trainer.max_epochs=2", "logger=many_loggers"], cut))
    last = cut / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    resume = [*COMMON, "trainer.max_epochs=4", "logger=many_loggers", f"ckpt_path={last}"]
    resumed = train(compose_config(resume, again))

    _same_state(full / "checkpoints" / "last.ckpt", last)  # the resumed run wrote there
    for key in ("train/loss", "val/loss", "val/acc", "val/acc_best"):  # the best spans both
        assert resumed[key] == uninterrupted[key], key
    assert not (again / "checkpoints").exists()  # and nothing into a new folder
    # 60 training rows in batches of 16 = 4 steps per epoch: points at steps 3, 7 | 11, 15,
    # across the two event files of one TensorBoard run.
    assert _train_loss_steps(cut / "tensorboard") == [3, 7, 11, 15]
    assert len(list((cut / "tensorboard").glob("events.out.tfevents.*"))) >= 2
    # Lightning's CSVLogger restarts metrics.csv; the rows before the resume are kept.
    before = pd.read_csv(cut / "csv" / "metrics.part1.csv")
    after = pd.read_csv(cut / "csv" / "metrics.csv")
    assert sorted(before["epoch"].dropna().unique()) == [0, 1]
    assert sorted(after["epoch"].dropna().unique()) == [2, 3]


def test_resume_from_another_model_is_refused_before_training(two_layer_run, make_cfg, tmp_path):
    from fivestep.errors import UserError

    last = two_layer_run / "checkpoints" / "last.ckpt"
    cfg = make_cfg("experiment=two_layer", "model.net.hidden2=6", f"ckpt_path={last}")
    with pytest.raises(UserError, match="holds a different model"):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_watched([sys.executable, "train.py", *COMMON, *args], 600, cwd=ROOT)


CADENCES = {
    "default": (),  # PacedCheckpointIO: written at most every 5 s (and at the end)
    "at_once": ("checkpoint_io.write_interval_s=0",),  # every save written at once
    "fast": ("callbacks=fast",),  # the opt-in BufferedCheckpoint, also 5 s
}


@pytest.mark.slow
@pytest.mark.parametrize("cadence", list(CADENCES))
def test_sigkill_then_resume_last_equals_the_uninterrupted_run(tmp_path, cadence):
    """Killed in epoch 3, resumed from whatever `last.ckpt` the kill left: written at
    once, the one saved after epoch 2; paced (5 s), the one written after epoch 0 (or a
    later one if the machine is slow). Either way the resumed run ends exactly where the
    uninterrupted one did."""
    cadence_args = CADENCES[cadence]
    full = _run("trainer.max_epochs=5", "logger=[]", f"paths.log_dir={tmp_path}/full")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = _run(
        "trainer.max_epochs=5",
        *cadence_args,
        "+callbacks.kill._target_=tests.resume_helpers.KillAt",
        "+callbacks.kill.epoch=3",
        "+callbacks.kill.batch=1",  # mid-epoch: one step of epoch 3 is lost
        f"paths.log_dir={tmp_path}/cut",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    _resume_equals_full(tmp_path, cadence_args, exact_epoch=2 if cadence == "at_once" else None)


@pytest.mark.slow
def test_sigterm_writes_the_last_epoch_then_resume_equals_the_uninterrupted_run(tmp_path):
    """SIGTERM (a requeue, a preemption, `scancel`) mid-epoch 3: Lightning stops after
    the step, and the paced writer puts what it held on disk, so `last.ckpt` is epoch 2
    however short the epochs are."""
    full = _run("trainer.max_epochs=5", "logger=[]", f"paths.log_dir={tmp_path}/full")
    assert full.returncode == 0, full.stderr[-2000:]
    termed = _run(
        "trainer.max_epochs=5",
        "+callbacks.kill._target_=tests.resume_helpers.KillAt",
        "+callbacks.kill.epoch=3",
        "+callbacks.kill.batch=1",
        "+callbacks.kill.signal=SIGTERM",
        f"paths.log_dir={tmp_path}/cut",
    )
    # Lightning stops with its SIGTERMException, a SystemExit (status 0), before train()
    # gets to write metrics.json
    (run,) = (tmp_path / "cut" / "train" / "runs").iterdir()
    assert not (run / "metrics.json").exists(), termed.stderr[-2000:]
    _resume_equals_full(tmp_path, (), exact_epoch=2)


def _resume_equals_full(tmp_path: Path, cadence_args: tuple[str, ...],
                        exact_epoch: int | None) -> None:
    """Resume the run under `cut` with `ckpt_path=last`; it must end as the one under `full`."""
    (run,) = (tmp_path / "cut" / "train" / "runs").iterdir()
    on_disk = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]
    if exact_epoch is not None:
        assert on_disk == exact_epoch  # the epoch before the signal
    else:
        assert 0 <= on_disk <= 2
    resumed = _run("trainer.max_epochs=5", *cadence_args, "ckpt_path=last",
                   f"paths.log_dir={tmp_path}/cut")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"continue in {run}" in resumed.stdout + resumed.stderr
    (full_run,) = (tmp_path / "full" / "train" / "runs").iterdir()
    _same_state(full_run / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    assert _train_loss_steps(run / "tensorboard") == [3, 7, 11, 15, 19]


def test_kept_csv_rows_stop_at_the_checkpoint_epoch(tmp_path):
    """A killed run may have logged epochs after its last checkpoint; the resumed run
    logs them again, so the kept part ends at the checkpoint's epoch."""
    from fivestep.checkpointing.resume import keep_csv_metrics

    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss\n"
        "0,3,0.9,\n0,3,,0.8\n1,7,0.7,\n1,7,,0.6\n2,11,0.5,\n3,15,0.4,\n,,,\n"
    )
    keep_csv_metrics(tmp_path, last_epoch=1)
    kept = pd.read_csv(csv_dir / "metrics.part1.csv")
    assert kept["epoch"].dropna().tolist() == [0, 0, 1, 1]
    assert len(kept) == 5  # the row without an epoch stays
    assert not (csv_dir / "metrics.csv").exists()
