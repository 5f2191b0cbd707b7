"""`PacedCheckpointIO` writes few files, yet what reaches the disk is what the callbacks saved."""

import io
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from fivestep.checkpointing import atomic_io
from fivestep.checkpointing.paced_io import PacedCheckpointIO, snapshot
from fivestep.train import train

HOUR = 3600.0


def _checkpoint(epoch: int, weights: torch.Tensor) -> dict:
    return {"epoch": epoch, "global_step": epoch + 1, "state_dict": {"w": weights},
            "rng": [3, list(range(5)), None]}


def _epoch(path) -> int:
    return torch.load(path, weights_only=True)["epoch"]


def _bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_a_snapshot_is_written_as_the_original_and_later_changes_do_not_reach_it():
    weights = torch.arange(6.0).reshape(2, 3)
    checkpoint = {
        "epoch": 3, "state_dict": OrderedDict(w=weights, b=torch.zeros(2)),
        "optimizer_states": [{"state": {0: {"momentum_buffer": torch.ones(3)}},
                              "param_groups": [{"lr": 0.1, "params": [0, 1]}]}],
        "callbacks": {"best": {"best_k_models": {"a.ckpt": torch.tensor(0.5)}}},
        "rng": [3, tuple(range(625)), None], "pair": (1, [2.0, "x"]),
    }
    expected = _bytes(checkpoint)
    copy = snapshot(checkpoint)
    assert _bytes(copy) == expected  # the file a held copy makes is the file of the save
    assert type(copy["state_dict"]) is OrderedDict and type(copy["pair"]) is tuple
    weights.add_(1)  # what later steps and callbacks do to the live objects
    checkpoint["optimizer_states"][0]["state"][0]["momentum_buffer"].mul_(3)
    checkpoint["callbacks"]["best"]["best_k_models"]["b.ckpt"] = torch.tensor(0.1)
    checkpoint["pair"][1].append(3)
    assert _bytes(copy) == expected


def test_the_first_moment_is_written_then_later_ones_wait_for_the_clock(tmp_path):
    io = PacedCheckpointIO(write_interval_s=HOUR)
    best, last = tmp_path / "epoch_000.ckpt", tmp_path / "last.ckpt"
    io.save_checkpoint(_checkpoint(0, torch.zeros(3)), best)
    io.save_checkpoint(_checkpoint(0, torch.zeros(3)), last)  # same moment: written too
    assert _epoch(best) == _epoch(last) == 0 and io.writes == 2

    weights = torch.ones(3)
    io.save_checkpoint(_checkpoint(1, weights), last)  # held in memory
    assert _epoch(last) == 0 and io.writes == 2
    weights.add_(100)  # a later step changes the live tensor: the held copy must not move
    io.teardown()  # end of fit, an exception, SIGTERM
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] == 1 and torch.equal(saved["state_dict"]["w"], torch.ones(3))
    assert saved["rng"] == [3, list(range(5)), None]
    assert io.writes == 3


def test_a_replaced_best_file_goes_only_once_its_successor_is_on_disk(tmp_path):
    io = PacedCheckpointIO(write_interval_s=HOUR)
    old, new, newer = (tmp_path / f"epoch_00{i}.ckpt" for i in range(3))
    io.save_checkpoint(_checkpoint(0, torch.zeros(1)), old)
    io.save_checkpoint(_checkpoint(1, torch.ones(1)), new)  # held
    io.remove_checkpoint(old)  # what ModelCheckpoint does right after a new best
    assert old.exists() and not new.exists()  # a kill now still finds a best file
    io.save_checkpoint(_checkpoint(2, torch.ones(1)), newer)  # held
    io.remove_checkpoint(new)  # never written: nothing to delete, nothing to write later
    io.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_002.ckpt"]
    assert io.writes == 2


def test_zero_interval_writes_every_save_at_once(tmp_path):
    io = PacedCheckpointIO(write_interval_s=0)
    for epoch in range(3):
        io.save_checkpoint(_checkpoint(epoch, torch.zeros(1)), tmp_path / "last.ckpt")
        assert _epoch(tmp_path / "last.ckpt") == epoch
    assert io.writes == 3


def _fit(make_cfg, monkeypatch, interval: float) -> dict:
    """Train; return the metrics, the checkpoint files and how many files were written."""
    cfg = make_cfg(
        "experiment=two_layer", "trainer.max_epochs=25", "model/optimizer=adam",
        "model.optimizer.lr=0.1",  # fast enough that val/loss turns: not every epoch improves
        "callbacks=checkpoints", "logger=[]", "test=false",
        f"checkpoint_io.write_interval_s={interval}",
    )
    writes: list[str] = []
    original = atomic_io.atomic_torch_save
    monkeypatch.setattr(atomic_io, "atomic_torch_save",
                        lambda obj, path: (writes.append(str(path)), original(obj, path)))
    metrics = train(cfg)
    folder = Path(cfg.paths.output_dir, "checkpoints")
    files = {p.name: torch.load(p, weights_only=True) for p in sorted(folder.iterdir())}
    for path in folder.iterdir():
        path.unlink()
    return {"metrics": metrics, "files": files, "writes": len(writes)}


@pytest.mark.slow  # two whole fits
def test_paced_run_leaves_the_files_of_a_run_that_writes_every_save(make_cfg, monkeypatch):
    at_once = _fit(make_cfg, monkeypatch, 0)
    paced = _fit(make_cfg, monkeypatch, HOUR)
    assert paced["metrics"] == at_once["metrics"]
    assert paced["files"].keys() == at_once["files"].keys()
    assert len(paced["files"]) == 2 and "last.ckpt" in paced["files"]  # the best and last
    best = next(name for name in paced["files"] if name != "last.ckpt")
    assert paced["files"][best]["epoch"] < 24, "the run needs epochs after its best one"
    for name, reference in at_once["files"].items():
        got = paced["files"][name]
        assert got["epoch"] == reference["epoch"] and got["global_step"] == reference["global_step"]
        for key, value in reference["state_dict"].items():
            assert torch.equal(got["state_dict"][key], value), (name, key)
    assert paced["files"]["last.ckpt"]["epoch"] == 24
    # every epoch saves last.ckpt, improving ones the best file too; paced: the first
    # epoch's two, then the two files once at the end of fit
    assert paced["writes"] == 4 < 25 < at_once["writes"]
