"""Checkpoints are self-contained plain data, and every bad one gets a clear error."""

import os
import shutil
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fivestep.checkpointing.reading import check_fits, config_of, find_last, load_checkpoint
from fivestep.errors import UserError

PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _walk(node, path=""):
    """Yield `(path, value)` for every leaf of nested dicts, lists and tuples."""
    if isinstance(node, dict):
        for key, value in node.items():
            assert isinstance(key, str | int), f"{path}: key {key!r} is {type(key)}"
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")
    else:
        yield path, node


def test_checkpoint_loads_without_pickle_and_carries_the_config(two_layer_run):
    last = two_layer_run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)  # raises if anything needs pickle
    leaves = dict(_walk(checkpoint))
    odd = {p: type(v) for p, v in leaves.items() if not isinstance(v, PLAIN)}
    assert not odd, odd
    record = checkpoint["fivestep"]
    assert record["choices"]["experiment"] == "two_layer"
    config = record["config"]
    assert "hydra" not in config
    assert config["model"]["net"]["hidden1"] == 8 and config["data"]["batch_size"] == 16
    assert config["paths"]["output_dir"] == str(two_layer_run)  # resolved, not ${hydra:...}
    assert config["data"]["split_seed"] == 0  # ${seed} resolved
    assert set(record["rng"]) >= {"python", "numpy", "torch"}
    assert checkpoint["epoch"] == 2 and checkpoint["optimizer_states"]


def test_config_rebuilds_the_model_that_fits_the_weights(two_layer_run):
    path = two_layer_run / "checkpoints" / "last.ckpt"
    checkpoint = load_checkpoint(path)
    model = instantiate(config_of(checkpoint, path).model)
    check_fits(model, checkpoint, path)
    model.load_state_dict(checkpoint["state_dict"])
    assert torch.equal(model.net.output.weight, checkpoint["state_dict"]["net.output.weight"])


def test_missing_truncated_and_corrupt_files_are_named(two_layer_run, tmp_path):
    good = (two_layer_run / "checkpoints" / "last.ckpt").read_bytes()
    with pytest.raises(UserError, match=r"nope\.ckpt'?: no such file"):
        load_checkpoint(tmp_path / "nope.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match=r"truncated\.ckpt' cannot be read: it is truncated"):
        load_checkpoint(truncated)
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(os.urandom(4096))
    with pytest.raises(UserError, match=r"corrupt\.ckpt' cannot be read"):
        load_checkpoint(corrupt)
    not_lightning = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, not_lightning)
    with pytest.raises(UserError, match="not a Lightning checkpoint"):
        load_checkpoint(not_lightning)


class Pickled:  # a class only pickle can rebuild
    def __init__(self) -> None:
        self.value = 1


def test_a_checkpoint_needing_pickle_is_refused(two_layer_run, tmp_path):
    checkpoint = torch.load(two_layer_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"] = Pickled()
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save(checkpoint, unsafe)
    with pytest.raises(UserError, match="only pickle could load"):
        load_checkpoint(unsafe)


def test_other_model_and_missing_config_are_refused(two_layer_run):
    path = two_layer_run / "checkpoints" / "last.ckpt"
    checkpoint = load_checkpoint(path)
    config = OmegaConf.merge(config_of(checkpoint, path), {"model": {"net": {"hidden1": 16}}})
    wider = instantiate(config.model)
    with pytest.raises(UserError, match=r"different model \(net\.hidden1\.weight is \(8, 5\)"):
        check_fits(wider, checkpoint, path)
    del checkpoint["fivestep"]
    with pytest.raises(UserError, match="holds no fivestep config"):
        config_of(checkpoint, path)


def _copy_run(src: Path, dst: Path, experiment: str | None, mtime: float) -> Path:
    checkpoint = torch.load(src, weights_only=True)
    checkpoint["fivestep"]["choices"]["experiment"] = experiment
    path = dst / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    os.utime(path, (mtime, mtime))
    return path


def test_find_last_picks_the_newest_of_the_same_experiment(two_layer_run, tmp_path):
    src = two_layer_run / "checkpoints" / "last.ckpt"
    runs = tmp_path / "logs" / "train"
    old = _copy_run(src, runs / "runs" / "a", "two_layer", 1_000)
    new = _copy_run(src, runs / "multiruns" / "b" / "0", "two_layer", 2_000)
    _copy_run(src, runs / "runs" / "c", "other", 3_000)  # newer, another experiment
    (runs / "runs" / "d" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(src, runs / "runs" / "d" / "checkpoints" / "last.ckpt.tmp")
    assert find_last(tmp_path / "logs", "train", "two_layer") == new
    os.utime(old, (4_000, 4_000))
    assert find_last(tmp_path / "logs", "train", "two_layer") == old
    with pytest.raises(UserError, match=r"ckpt_path=last: no last\.ckpt of experiment=nope"):
        find_last(tmp_path / "logs", "train", "nope")


def test_a_checkpoint_with_the_old_single_best_still_evaluates(two_layer_run):
    """Before `model/metrics`, a checkpoint held one `val_best.max_val`; its weights
    still evaluate and predict (`weights_only`), while resuming needs today's states."""
    path = two_layer_run / "checkpoints" / "last.ckpt"
    checkpoint = load_checkpoint(path)
    state = checkpoint["state_dict"]
    for key in [k for k in state if k.startswith("val_best.")]:
        del state[key]
    state["val_best.max_val"] = torch.tensor(0.9)
    model = instantiate(config_of(checkpoint, path).model)
    check_fits(model, checkpoint, path, weights_only=True)
    with pytest.raises(UserError, match="unexpected val_best.max_val"):
        check_fits(model, checkpoint, path)
