"""The tables' recipe: what `data=tabular` (and each bundled table) composes to, that every
key stays overridable, and that the seed's path and the experiments do not change."""

import pytest

from fivestep.config.sizes import sized_from_data
from fivestep.train import build

TABLE = ["data=tabular", "data.path=data/csv_example.csv", "data.target=renewed"]


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("data", [TABLE, ["data=breast_cancer"], ["data=iris"],
                                  ["data=wine"], ["data=diabetes"]])
def test_a_table_brings_the_tables_recipe(make_cfg, data):
    cfg = make_cfg(*data)
    assert cfg.model.net._target_ == "fivestep.models.nets.TabularMLP"
    assert cfg.model.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.model.scheduler._target_ == "torch.optim.lr_scheduler.CosineAnnealingLR"
    assert cfg.callbacks.early_stopping.monitor == "val/loss"
    assert cfg.callbacks.model_checkpoint.monitor == "val/loss"  # the best one is tested
    assert cfg.trainer.max_epochs == cfg.model.scheduler.T_max > 10
    assert (cfg.data.batch_size, cfg.data.scaling, cfg.data.target_scaling) == (
        "auto", "robust", "standard")


def test_the_recipe_sizes_its_embedding_from_the_data(make_cfg):
    cfg = make_cfg(*TABLE)
    datamodule = build(cfg.data)
    model_cfg = sized_from_data(cfg.model, datamodule.shape())
    assert model_cfg.net.numeric == datamodule.n_numeric == 3  # numbers first, then one-hot
    assert model_cfg.net.in_features == datamodule.n_features > 3
    assert model_cfg.net.ensemble == 8  # a small table: eight members (auto_ensemble)
    model = build(model_cfg)
    assert model.net.embedding.frequencies.shape[0] == 3
    assert model.net.scale.shape[0] == model.net.head_weight.shape[0] == 8


def test_every_key_of_the_recipe_stays_overridable(make_cfg):
    cfg = make_cfg(*TABLE, "model/net=mlp", "model/optimizer=sgd", "trainer.max_epochs=7",
                   "data.batch_size=null", "~callbacks.early_stopping")
    assert cfg.model.net._target_ == "fivestep.models.nets.MLP"
    assert cfg.model.optimizer._target_ == "torch.optim.SGD"
    assert cfg.trainer.max_epochs == cfg.model.scheduler.T_max == 7
    assert cfg.data.batch_size is None and "early_stopping" not in cfg.callbacks


def test_recipe_none_gives_the_groups_own_defaults(make_cfg):
    cfg = make_cfg(*TABLE, "recipe=none")
    assert cfg.model.net._target_ == "fivestep.models.nets.TwoLayerNet"
    assert cfg.model.optimizer._target_ == "torch.optim.SGD"
    assert cfg.model.get("scheduler") is None and "early_stopping" not in cfg.callbacks
    assert cfg.trainer.max_epochs == 10


def test_the_seed_path_has_no_recipe(make_cfg):
    cfg = make_cfg("experiment=two_layer")
    assert cfg.model.net._target_ == "fivestep.models.nets.TwoLayerNet"
    assert (cfg.model.optimizer._target_, cfg.model.optimizer.lr) == ("torch.optim.SGD", 0.1)
    assert cfg.model.get("scheduler") is None and "early_stopping" not in cfg.callbacks
    assert cfg.data._target_ == "fivestep.data.synthetic.SyntheticDataModule"
    assert cfg.data.batch_size is None and cfg.trainer.max_epochs == 200


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize(("experiment", "net", "optimizer", "epochs"), [
    ("csv_example", "MLP", "Adam", 100), ("breast_cancer", "MLP", "Adam", 150),
    ("iris", "MLP", "Adam", 200)])
def test_the_table_experiments_keep_their_own_recipe(make_cfg, experiment, net, optimizer,
                                                     epochs):
    cfg = make_cfg(f"experiment={experiment}")
    assert cfg.model.net._target_ == f"fivestep.models.nets.{net}"
    assert cfg.model.optimizer._target_ == f"torch.optim.{optimizer}"
    assert cfg.model.get("scheduler") is None and "early_stopping" not in cfg.callbacks
    assert cfg.trainer.max_epochs == epochs
    assert (cfg.data.batch_size, cfg.data.scaling) == (None, "standard")


def test_the_seed_experiment_on_a_table_keeps_the_seeds_recipe(make_cfg):
    """`experiment=two_layer data=tabular` (the `tables` benchmark): the seed's net and SGD."""
    cfg = make_cfg("experiment=two_layer", *TABLE)
    assert cfg.model.net._target_ == "fivestep.models.nets.TwoLayerNet"
    assert cfg.model.optimizer._target_ == "torch.optim.SGD"
    assert "early_stopping" not in cfg.callbacks and cfg.trainer.max_epochs == 200
