"""A checkpoint write is all-or-nothing: a save that dies leaves the old file intact."""

import subprocess
import sys
import time

import pytest
import torch

from fivestep.checkpointing.atomic_io import AtomicCheckpointIO

from ..conftest import ROOT


class DiesWhilePickled:
    """Raises while `torch.save` is writing the file: a crash in the middle of a save."""

    def __reduce__(self):
        raise RuntimeError("died mid-save")


def _checkpoint(epoch: int, *extra: object) -> dict:
    return {"epoch": epoch, "state_dict": {"w": torch.full((1000,), float(epoch))}, "x": extra}


def test_a_save_that_dies_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(_checkpoint(1), path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="died mid-save"):
        AtomicCheckpointIO().save_checkpoint(_checkpoint(2, DiesWhilePickled()), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left
    assert torch.load(path, weights_only=True)["epoch"] == 1

    # The same failure through a plain torch.save destroys the good file: the case
    # the atomic write exists for.
    with pytest.raises(RuntimeError, match="died mid-save"):
        torch.save(_checkpoint(2, DiesWhilePickled()), path)
    with pytest.raises(RuntimeError):
        torch.load(path, weights_only=True)


def test_a_successful_save_replaces_the_file(tmp_path):
    path = tmp_path / "sub" / "last.ckpt"
    for epoch in (1, 2):
        AtomicCheckpointIO().save_checkpoint(_checkpoint(epoch), path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 2 and torch.equal(loaded["state_dict"]["w"], torch.full((1000,), 2.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


SAVER = """
import sys, torch
from fivestep.checkpointing.atomic_io import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), sys.argv[1]
for epoch in range(1, 10_000):
    io.save_checkpoint({"epoch": epoch, "w": torch.full((2_000_000,), float(epoch))}, path)
    print(epoch, flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_saves_never_leaves_a_broken_file(tmp_path):
    """Kill a process that rewrites a 8 MB checkpoint in a loop, at several moments."""
    path = tmp_path / "last.ckpt"
    for delay in (0.0, 0.07, 0.2):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()  # one complete save exists
        time.sleep(delay)
        proc.kill()
        proc.wait()
        loaded = torch.load(path, weights_only=True)
        assert torch.equal(loaded["w"], torch.full((2_000_000,), float(loaded["epoch"])))
