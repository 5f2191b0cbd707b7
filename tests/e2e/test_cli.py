"""The root shims as a user runs them: real processes, real run folders."""


import pytest

from ..cli import run_cli


@pytest.mark.slow  # a whole process: ~5 s of imports
def test_train_leaves_a_complete_run_folder(tmp_path):
    proc = run_cli(
        "train.py",
        "experiment=two_layer",
        "trainer.max_epochs=3",
        f"paths.log_dir={tmp_path}",
        "callbacks.progress_bar.refresh_rate=0",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / ".hydra" / "overrides.yaml").read_text().count("experiment=two_layer") == 1
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    ckpts = {p.name for p in (run / "checkpoints").iterdir()}
    assert "last.ckpt" in ckpts and len(ckpts) == 2
    log = (run / "train.log").read_text()
    assert "Final metrics:" in log and "test/acc=" in log
    assert "test/acc" in proc.stdout  # Lightning's table of test metrics


@pytest.mark.slow  # >0.6 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_unknown_experiment_lists_the_valid_ones(tmp_path):
    proc = run_cli("train.py", "experiment=nope", f"paths.log_dir={tmp_path}")
    assert proc.returncode != 0
    assert "experiment/nope" in proc.stderr and "two_layer" in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # a whole process: ~5 s of imports
def test_wrong_type_is_one_line_naming_the_key_and_leaves_no_run(tmp_path):
    proc = run_cli(
        "train.py", "experiment=two_layer", "trainer.max_epochs=abc", f"paths.log_dir={tmp_path}"
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "trainer.max_epochs='abc'" in errors[0]
    assert "Traceback" not in proc.stderr
    runs = tmp_path / "train" / "runs"
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.slow
def test_multirun_over_every_experiment_and_a_list_of_values(tmp_path):
    for overrides in (
        ["experiment=glob(*)", "logger=[]"],
        ["model.optimizer.lr=0.005,0.01"],
    ):
        proc = run_cli(
            "train.py", "-m", *overrides, "++trainer.fast_dev_run=true",
            f"paths.log_dir={tmp_path / overrides[0].split('=')[0]}",
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    (sweep,) = (tmp_path / "model.optimizer.lr" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]


@pytest.mark.slow
def test_ddp_sim_trains_with_two_processes(tmp_path):
    proc = run_cli(
        "train.py",
        "experiment=two_layer",
        "trainer=ddp_sim",
        "trainer.max_epochs=3",
        "data.batch_size=8",
        f"paths.log_dir={tmp_path}",
        "callbacks.progress_bar.refresh_rate=0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "world_size=2" in out or "distributed_backend=gloo" in out
    (run,) = (tmp_path / "train" / "runs").iterdir()  # one folder, not one per rank
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert "test/acc=" in (run / "train.log").read_text()
