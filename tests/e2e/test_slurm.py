"""Against the local SLURM cluster (scripts/local_slurm.sh up): sweeps through submitit,
DDP with two SLURM tasks, and preemption (requeue, scancel) with exact resume."""

import csv
import json
import re
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from optuna.trial import TrialState

from fivestep.config.sizes import sized_from_data
from fivestep.sweep.study import JOURNAL_NAME, storage_of

from ..cli import run_cli
from .cluster_helpers import (
    finished,
    job_gone,
    last_epoch,
    require_slurm,
    same_state,
    sbatch,
    slow,
    train_command,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

QUIET = ["callbacks.progress_bar.refresh_rate=0"]
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10"]


@pytest.fixture(autouse=True)
def _cluster() -> None:
    require_slurm()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_grid_through_submitit_slurm_runs_each_job_as_a_slurm_job(tmp_path):
    start = time.monotonic()
    proc = run_cli(
        "train.py", "-m", *SLURM, "experiment=two_layer", "model.optimizer.lr=0.01,0.1",
        "trainer.max_epochs=5", "logger=[]", f"paths.log_dir={tmp_path}", *QUIET,
    )
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"TIMING submitit_slurm grid of 2 jobs: {wall:.1f} s")
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    job_ids = set()
    for job in ("0", "1"):
        hydra = OmegaConf.load(sweep / job / ".hydra" / "hydra.yaml").hydra
        assert re.fullmatch(r"\d+_\d", hydra.job.id)  # an array task of one sbatch submission
        job_ids.add(hydra.job.id.split("_")[0])
    assert len(job_ids) == 1
    assert (sweep / ".submitit" / f"{job_ids.pop()}_0").is_dir()  # submitit's job files

    rows = _rows(sweep / "summary.csv")
    assert sorted(r["model.optimizer.lr"] for r in rows) == ["0.01", "0.1"]
    for row in rows:
        assert row["status"] == "complete"
        metrics = json.loads((sweep / row["job"] / "metrics.json").read_text())["metrics"]
        assert float(row["val/acc_best"]) == pytest.approx(metrics["val/acc_best"])
    assert (sweep / "summary.md").read_text().count("| complete |") == 2


def test_an_optuna_sweep_through_slurm_jobs_reports_and_completes_every_trial(tmp_path):
    start = time.monotonic()
    proc = run_cli(
        "train.py", "-m", "hparams_search=two_layer_optuna", "hydra.sweeper.params=null",
        "model.optimizer.lr=tag(log, interval(0.01, 1.0))", *SLURM, "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2", "hydra/sweeper/pruner=none", "trainer.max_epochs=4",
        "hydra.sweeper.report_epochs=true",
        "logger=[]", f"paths.log_dir={tmp_path}", timeout=600,
    )
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"TIMING Optuna sweep of 4 trials as SLURM jobs, 2 at a time: {wall:.1f} s")
    sweep = tmp_path / "train" / "sweeps" / "two_layer"
    study = optuna.load_study(study_name="two_layer", storage=storage_of(str(sweep / JOURNAL_NAME)))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    for trial in study.trials:  # reported by the SLURM job, through the storage
        assert sorted(trial.intermediate_values) == [0, 1, 2, 3]
        hydra = OmegaConf.load(sweep / str(trial.number) / ".hydra" / "hydra.yaml").hydra
        assert re.fullmatch(r"\d+_\d", hydra.job.id)
    rows = _rows(sweep / "summary.csv")
    assert sorted(int(r["job"]) for r in rows) == [0, 1, 2, 3]
    best = OmegaConf.load(sweep / "best.yaml")
    assert best.best_trial == study.best_trial.number
    assert best.best_value == pytest.approx(study.best_value)
    assert rows[0]["job"] == str(study.best_trial.number)  # the table is sorted best first


def test_ddp_with_two_slurm_tasks_trains_one_run(tmp_path):
    run = tmp_path / "run"
    command = train_command(
        "experiment=two_layer", "trainer=ddp_sim", "trainer.max_epochs=3", "data.batch_size=8",
        f"hydra.run.dir={run}", f"paths.log_dir={tmp_path / 'logs'}", *QUIET,
    )
    job = sbatch(tmp_path, "ddp", command, "--ntasks=2", "--ntasks-per-node=2",
                 "--cpus-per-task=1")
    assert wait_for("the DDP job", lambda: finished(tmp_path, "ddp"), 300) == "exit 0", (
        (tmp_path / "ddp.out").read_text()[-3000:]
    )
    out = (tmp_path / "ddp.out").read_text()
    # Lightning took both ranks from SLURM (srun started them; it started no process itself)
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in out and "GLOBAL_RANK: 1, MEMBER: 2/2" in out
    assert "train_ddp_process" not in out
    assert not (tmp_path / "logs").exists()  # one folder: the run's
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events and len({e.name.split(".")[-2] for e in events}) == 1  # one process wrote
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(
        [Path(json.loads((run / "metrics.json").read_text())["best_checkpoint"]).name,
         "last.ckpt"]
    )
    written = json.loads((run / "metrics.json").read_text())
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    # each rank tested half of the 20 test rows; the logged metrics are those of all 20
    data = instantiate(cfg.data)
    data.setup("test")
    cfg.model = sized_from_data(cfg.model, data.shape())
    model = instantiate(cfg.model)
    model.load_state_dict(torch.load(written["best_checkpoint"], weights_only=True)["state_dict"])
    x, y = data.splits["test"]
    with torch.no_grad():
        logits = model(x).squeeze(-1)
    acc = ((logits > 0).float() == y).float().mean().item()
    assert written["metrics"]["test/acc"] == pytest.approx(acc, abs=1e-6)
    wait_for("the DDP job to leave the queue", lambda: job_gone(job), 60)


# Minibatches with reshuffling, momentum and dropout: state a resume could lose.
RESUMABLE = [
    "experiment=two_layer", "data.batch_size=16", "model.optimizer.momentum=0.9",
    "model/net=mlp", "model.net.hidden=[8,4]", "model.net.dropout=0.3", "test=false",
    "trainer.max_epochs=8", *QUIET, *slow(1.0),
    # every epoch on disk at once, so the test knows which epoch a signal interrupts (the
    # paced writer is tested with SIGKILL and SIGTERM in tests/checkpointing/test_resume.py)
    "checkpoint_io.write_interval_s=0",
]


def test_preempted_jobs_resume_exactly_requeued_on_their_own_killed_with_ckpt_path_last(tmp_path):
    logs = {name: tmp_path / f"logs_{name}" for name in ("ref", "requeued", "killed")}
    jobs = {
        name: sbatch(tmp_path, name, train_command(*RESUMABLE, f"paths.log_dir={logs[name]}"))
        for name in ("ref", "requeued", "killed")
    }
    # requeue one job once it has checkpointed epoch 2 (SLURM kills it, queues it again)
    wait_for("epoch 2 of the job to requeue", lambda: last_epoch(logs["requeued"]) >= 2, 300)
    at = last_epoch(logs["requeued"])
    requeued_at = time.monotonic()
    subprocess.run(["scontrol", "requeue", jobs["requeued"]], check=True, timeout=60)
    # kill the other outright, later resumed by hand with ckpt_path=last
    wait_for("epoch 2 of the job to kill", lambda: last_epoch(logs["killed"]) >= 2, 300)
    subprocess.run(["scancel", jobs["killed"]], check=True, timeout=60)
    wait_for("the killed job to leave", lambda: job_gone(jobs["killed"]), 120)
    killed_at = last_epoch(logs["killed"])
    assert killed_at < 7 and finished(tmp_path, "killed") is None

    def resumed() -> bool:
        return "restarted (1): resuming its own" in (tmp_path / "requeued.out").read_text()

    wait_for("the requeued job to resume", resumed, 300, every=0.1)
    print(f"TIMING requeue round trip (scontrol requeue -> training resumed): "
          f"{time.monotonic() - requeued_at:.1f} s")
    again = sbatch(tmp_path, "again", train_command(
        *RESUMABLE, f"paths.log_dir={logs['killed']}", "ckpt_path=last"))
    for name in ("ref", "requeued", "again"):
        assert wait_for(name, lambda n=name: finished(tmp_path, n), 400) == "exit 0", (
            (tmp_path / f"{name}.out").read_text()[-3000:]
        )
    wait_for("the resumed job to leave the queue", lambda: job_gone(again), 60)

    ref = logs["ref"] / "train" / "runs"
    (ref_last,) = ref.glob("*/checkpoints/last.ckpt")
    for name, resumed_from in (("requeued", at), ("killed", killed_at)):
        # one checkpoint folder: the resumed run went on in the folder of the first start
        (last,) = (logs[name] / "train" / "runs").glob("*/checkpoints/last.ckpt")
        assert len(list((logs[name] / "train" / "runs").iterdir())) == 2  # + the restart's log
        same_state(ref_last, last)  # bitwise the uninterrupted run
        assert 2 <= resumed_from < 7
    (own,) = (logs["requeued"] / "train" / "runs").glob("*/checkpoints/last.ckpt")
    assert f"resuming its own {own}" in (tmp_path / "requeued.out").read_text()
