"""`fivestep.checkpointing.requeue`: which checkpoint a requeued SLURM job resumes (SLURM
variables set by hand; the real scheduler is in tests/e2e/test_slurm.py)."""

from pathlib import Path

import torch

from fivestep.checkpointing.requeue import job_record, requeued_checkpoint

KEY = "fivestep"


def _slurm(monkeypatch, job: str, restarts: int) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", job)
    monkeypatch.setenv("SLURM_CLUSTER_NAME", "test")
    monkeypatch.setenv("SLURM_RESTART_COUNT", str(restarts))
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)


def _checkpoint(run: Path, job: dict | None) -> Path:
    path = run / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, KEY: {"job": job}}, path)
    return path


def test_a_restarted_job_finds_its_own_last_checkpoint_and_no_other(tmp_path, monkeypatch):
    runs = tmp_path / "train" / "runs"
    _slurm(monkeypatch, "41", restarts=0)
    own = _checkpoint(runs / "first", job_record())
    _slurm(monkeypatch, "42", restarts=0)
    _checkpoint(runs / "other_job", job_record())
    _checkpoint(runs / "no_job", None)

    _slurm(monkeypatch, "41", restarts=0)  # the first start: never a resume
    assert requeued_checkpoint(runs / "new", tmp_path, "train") is None
    _slurm(monkeypatch, "41", restarts=1)  # requeued: its own, from a new run folder
    assert requeued_checkpoint(runs / "new", tmp_path, "train") == own
    _slurm(monkeypatch, "43", restarts=1)  # a requeued job that wrote nothing yet
    assert requeued_checkpoint(runs / "new", tmp_path, "train") is None


def test_outside_slurm_there_is_no_job_and_no_resume(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "3")
    assert job_record() is None
    assert requeued_checkpoint(tmp_path, tmp_path, "train") is None


def test_an_array_task_is_its_own_job(monkeypatch):
    _slurm(monkeypatch, "77", restarts=0)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "70")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert job_record()["id"] == "test:70_3"
