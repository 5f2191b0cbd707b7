"""A few cases of the bad-input matrix (tests/config/test_bad_input_matrix.py) through the
real command line: exit status 2, exactly one `error:` line on stderr, no traceback and
no Hydra hint, no run folder left (or, for a run that trained and then went
non-finite, its folder marked failed), and the user's files unchanged."""

import json

import pytest
import torch

from ..cli import run_cli

pytestmark = pytest.mark.slow

GOOD = "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr
    return errors[0]


def no_runs(logs) -> bool:
    runs = logs / "train" / "runs"
    return not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (["model.optimizer.lr=nan"], "model.optimizer.lr=nan is not a finite number > 0"),
        (["model.optimizer.lr=-1"], "model.optimizer.lr=-1 is not a finite number > 0"),
        (["data.val_fraction=1.5"], "data.val_fraction=1.5 is not a number >= 0 and < 1"),
        (["data.batch_size=0"], "data.batch_size=0 is not an integer > 0 or 'auto' or null"),
        (["+input=rows.csv"], "input is not a setting of train.py"),
        (["input=rows.csv"], "input is not a setting of train.py"),  # before Hydra composes
        (["trainer.accelerator=tpu"], "raised building lightning.pytorch.trainer"),
        # what Hydra cannot compose, before any task starts
        (["trainer.max_epoch=3"], "To append to your config use +trainer.max_epoch=3"),
        (["model/optimizer=adamm"], "Could not find 'model/optimizer/adamm'"),
    ],
)
def test_a_bad_config_value_is_one_line_and_leaves_no_run(tmp_path, overrides, said):
    logs = tmp_path / "logs"
    proc = run_cli("train.py", "experiment=two_layer", f"paths.log_dir={logs}", *overrides)
    assert said in one_error_line(proc)
    assert no_runs(logs)


def test_a_bad_data_file_is_one_line_and_leaves_no_run(tmp_path):
    (tmp_path / "t.csv").write_text(GOOD.replace("\n3,0,1", "\nthree,0,1"))
    before = (tmp_path / "t.csv").read_bytes()
    logs = tmp_path / "logs"
    proc = run_cli("train.py", "data=tabular", f"data.path={tmp_path / 't.csv'}",
                   "data.target=y", f"paths.log_dir={logs}")
    assert "column 'a'" in one_error_line(proc)
    assert no_runs(logs) and (tmp_path / "t.csv").read_bytes() == before


def test_an_infinite_column_is_refused_at_read_time(tmp_path):
    (tmp_path / "t.csv").write_text(GOOD.replace("\n3,0,1", "\ninf,0,1"))
    logs = tmp_path / "logs"
    proc = run_cli("train.py", "data=tabular", f"data.path={tmp_path / 't.csv'}",
                   "data.target=y", f"paths.log_dir={logs}")
    line = one_error_line(proc)
    assert "column 'a'" in line and "inf" in line
    assert no_runs(logs)


def test_training_that_goes_non_finite_stops_with_one_line_and_keeps_the_last_good_epoch(
    tmp_path,
):
    # lr 1e30: the first step leaves huge but finite weights, the next loss is NaN
    logs = tmp_path / "logs"
    proc = run_cli("train.py", "experiment=two_layer", "model.optimizer.lr=1e30",
                   "trainer.max_epochs=5", "callbacks.progress_bar.refresh_rate=0",
                   f"paths.log_dir={logs}")
    line = one_error_line(proc)
    assert line.startswith("error: training stopped at epoch 1, step 1: the training loss is nan")
    assert "model.optimizer.lr=1e+30" in line and "scales" in line
    (run,) = (logs / "train" / "runs").iterdir()
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["status"] == "failed" and summary["metrics"] == {}
    for ckpt in (run / "checkpoints").iterdir():  # only epoch 0 was saved
        assert torch.load(ckpt, weights_only=True)["epoch"] == 0, ckpt.name
    assert "Final metrics" not in (run / "train.log").read_text()  # nothing after: no test


def test_predict_keeps_an_existing_output(tmp_path):
    logs = tmp_path / "logs"
    (tmp_path / "t.csv").write_text(GOOD)
    proc = run_cli("train.py", "data=tabular", f"data.path={tmp_path / 't.csv'}",
                   "data.target=y", "trainer.max_epochs=2", "logger=[]",
                   "callbacks.progress_bar.refresh_rate=0", f"paths.log_dir={logs}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ckpt,) = (logs / "train" / "runs").glob("*/checkpoints/last.ckpt")
    (tmp_path / "out.csv").write_text("mine\n")
    proc = run_cli("predict.py", f"ckpt_path={ckpt}", f"input={tmp_path / 't.csv'}",
                   f"output={tmp_path / 'out.csv'}", f"paths.log_dir={logs}")
    assert "exists; choose another output or add overwrite=true" in one_error_line(proc)
    assert (tmp_path / "out.csv").read_text() == "mine\n"
    assert not (logs / "predict").exists() or not any((logs / "predict" / "runs").iterdir())
