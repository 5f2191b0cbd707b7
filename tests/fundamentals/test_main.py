"""`python -m fivestep.fundamentals`: every lesson in order, plots written, bad input refused."""

import subprocess
import sys

import matplotlib.image
import pytest
import torch

from fivestep.fundamentals import autograd, five_steps, matrices, tensors, vectors
from fivestep.fundamentals.__main__ import LESSONS, main

from ..conftest import ROOT

MODULES = (tensors, vectors, matrices, autograd, five_steps)
PNGS = sorted([*autograd.PLOTS, five_steps.PLOT])


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_all_runs_every_lesson_in_order_and_writes_the_plots(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        main(["all", "--out", str(tmp_path / "plots")])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    positions = [printed.index(module.TITLE) for module in MODULES]
    assert positions == sorted(positions)
    assert LESSONS == tuple(module.__name__.rsplit(".", 1)[-1] for module in MODULES)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == PNGS
    for name in PNGS:
        assert matplotlib.image.imread(tmp_path / "plots" / name).shape[2] == 4


def test_out_that_is_a_file_is_one_error_line_and_the_file_is_kept(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["autograd", "--out", str(taken)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: --out {taken}: is a file, not a folder; give a folder path"
    ]
    assert taken.read_text() == "mine"


def test_unknown_lesson_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calculus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'calculus'" in err and "five_steps" in err


def test_help_answers_without_importing_torch():
    code = (
        "import runpy, sys; sys.argv = ['fundamentals', '--help']\n"
        "try:\n    runpy.run_module('fivestep.fundamentals', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0\n"
        "print('torch imported:', 'torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "tensors,vectors,matrices,autograd,five_steps,all" in proc.stdout
    assert proc.stdout.strip().endswith("torch imported: False")


@pytest.mark.slow
def test_the_command_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fivestep.fundamentals", "all", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all(module.TITLE in proc.stdout for module in MODULES)
    assert sorted(p.name for p in tmp_path.iterdir()) == PNGS
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
