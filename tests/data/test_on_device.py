"""The GPU configuration's pieces, run on the CPU: tables kept on the trainer's device
(`data.on_device=true`) and bf16 mixed precision (`trainer=gpu` sets `bf16-mixed`)."""

import math

import pytest
import torch
from hydra.utils import instantiate

from fivestep.train import train


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("experiment", ["two_layer", "breast_cancer"])
def test_on_device_and_bf16_mixed_train_and_test(make_cfg, experiment):
    cfg = make_cfg(
        f"experiment={experiment}",
        "data.on_device=true",
        "+trainer.precision=bf16-mixed",
        "++trainer.fast_dev_run=true",
        "logger=[]",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["test/loss"])
    assert 0.0 <= metrics["test/acc"] <= 1.0


@pytest.mark.parametrize("experiment", ["two_layer", "breast_cancer"])
def test_on_device_moves_every_split_to_the_trainer_device(make_cfg, experiment):
    import lightning as L

    cfg = make_cfg(f"experiment={experiment}", "data.on_device=true")
    datamodule = instantiate(cfg.data)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False)
    datamodule.trainer = trainer
    datamodule.setup("fit")
    assert set(datamodule.splits) == {"train", "val", "test", "all"}
    for x, y in datamodule.splits.values():
        assert x.device == y.device == trainer.strategy.root_device == torch.device("cpu")


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("experiment", ["two_layer", "breast_cancer"])
def test_tables_read_before_the_trainer_still_move_to_its_device(make_cfg, experiment):
    # train(cfg) reads the data before the Trainer exists; Lightning's own `setup` call
    # later must still move the tables. No GPU here: the "meta" device stands in for it.
    from types import SimpleNamespace

    cfg = make_cfg(f"experiment={experiment}", "data.on_device=true")
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    assert datamodule.splits["train"][0].device.type == "cpu"
    datamodule.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("meta")))
    datamodule.setup("fit")
    for x, y in datamodule.splits.values():
        assert x.device.type == y.device.type == "meta"
