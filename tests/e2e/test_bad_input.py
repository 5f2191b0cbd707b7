"""Every bad input of the tabular issue ends before training, through the real entry
point, with one message naming the thing and the fix, and leaves no run behind."""

import pytest

from fivestep.errors import UserError
from fivestep.train import train

from ..cli import run_cli

GOOD = "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))

CASES = {
    # name: (file content or None for no file, extra overrides, expected message)
    "missing-file": (None, [], r"data\.path='.*nope\.csv' does not exist"),
    "empty-file": ("", [], r"is empty; give a file with a header"),
    "unreadable": ("\x00\x01\x02", ["data.path={dir}/t.parquet"], r"cannot be read as parquet"),
    "no-target-column": (GOOD, ["data.target=label"],
                         r"data\.target='label' is not a column.*\[a, b, y\]"),
    "non-numeric-column": (GOOD.replace("\n3,0,1", "\nthree,0,1"), [],
                           r"column 'a'.*'three'.*data\.categorical"),
    "target-gap": (GOOD.replace("\n3,0,1", "\n3,0,"), [], r"target column 'y'.*1 missing"),
    "one-class": (GOOD.replace(",1\n", ",0\n"), [], r"only one class \('0'\)"),
    "too-few-rows": ("a,y\n1,0\n2,1\n3,0\n4,1\n", [], r"4 rows.*cannot split"),
    "loss-for-another-task": (GOOD, ["model.loss=mse"],
                              r"model\.loss='mse'.*binary task.*\['bce', 'cross_entropy'"),
    "sparse-adam": (GOOD, ["model/optimizer=sparse_adam"], r"SparseAdam.*model/optimizer=adam"),
    "net-size-mismatch": (GOOD, ["model.net.in_features=7"],
                          r"model\.net\.in_features=7 but the data needs 2"),
}


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("case", CASES)
def test_bad_input_stops_before_training(make_cfg, tmp_path, case):
    content, extra, pattern = CASES[case]
    name = "nope.csv" if content is None else "t.csv"
    if content is not None:
        data = tmp_path / ("t.parquet" if "parquet" in str(extra) else name)
        data.write_text(content)
    overrides = [o.format(dir=tmp_path) for o in extra]
    cfg = make_cfg("data=tabular", f"data.path={tmp_path / name}", "data.target=y", *overrides)
    with pytest.raises(UserError, match=pattern):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "tensorboard").exists()


@pytest.mark.slow  # a whole process: ~5 s of imports
def test_cli_bad_column_is_one_line_exit_2_and_no_run_folder(tmp_path):
    (tmp_path / "t.csv").write_text(GOOD)
    logs = tmp_path / "logs"
    proc = run_cli("train.py", "data=tabular", f"data.path={tmp_path / 't.csv'}",
                   "data.target=label", f"paths.log_dir={logs}")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "data.target='label'" in errors[0] and "[a, b, y]" in errors[0]
    assert "Traceback" not in proc.stderr
    runs = logs / "train" / "runs"
    assert not runs.exists() or not any(runs.iterdir())
