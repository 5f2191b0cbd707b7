"""A normal run, as a user starts it with its output going to a file: no warning on
stderr, and progress as a few log lines instead of thousands of bar redraws."""

import re

import pytest

from ..cli import run_cli


@pytest.mark.slow  # the whole 200-epoch run: about 20 s alone, a minute on a busy machine
def test_two_layer_piped_to_a_file_is_quiet_and_short(tmp_path):
    proc = run_cli("train.py", "experiment=two_layer", f"paths.log_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""  # no warning, no notice: everything else is on stdout
    lines = proc.stdout.splitlines()
    assert len(lines) < 300, f"{len(lines)} lines"
    assert not re.search(r"warn|TPU available|Tip:|Skipping setting", proc.stdout, re.I)
    progress = [line for line in lines if "[fivestep.monitoring.progress_log]" in line]
    assert 10 <= len(progress) <= 12 and "epoch 200/200 (100%" in progress[-1]
    assert "Final metrics:" in lines[-1]


@pytest.mark.slow  # a process importing torch, onnx and onnxruntime
def test_export_prints_its_own_two_lines_only(two_layer_run, tmp_path):
    ckpt = next((two_layer_run / "checkpoints").glob("epoch_*.ckpt"))
    proc = run_cli("export.py", f"ckpt_path={ckpt}", f"paths.log_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""  # no onnxscript INFO, no torchvision notice, no FutureWarning
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all("[fivestep.export]" in line for line in lines), lines
