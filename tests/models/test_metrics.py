"""Metrics from the config (`model/metrics`): a metric a user adds is logged for every
split with its best, each best follows its metric's direction, and `optimized_metric`
is checked against the names a run logs before it trains."""

from functools import partial

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchmetrics import MatthewsCorrCoef, Metric

from fivestep.errors import UserError
from fivestep.models.metrics import DEFAULT, check_objective, names_from_config
from fivestep.models.nets import MLP
from fivestep.models.system import System
from fivestep.train import train

from ..conftest import CONFIGS, tiny_table
from .test_system import Recorder, trainer

EPOCHS = 3


def fit(task: str, metrics=None) -> tuple[System, Recorder]:
    torch.manual_seed(0)
    dm = tiny_table(task)
    dm.batch_size = 12
    net = MLP(dm.n_features, hidden=[8], out_features=3 if task == "multiclass" else 1)
    model = System(net, partial(torch.optim.SGD, lr=0.1), task=task,
                   num_classes={"binary": 2, "multiclass": 3}.get(task), metrics=metrics)
    recorder = Recorder()
    t = trainer(max_epochs=EPOCHS, logger=recorder)
    t.fit(model, datamodule=dm)
    t.test(model, dataloaders=dm.val_dataloader(), verbose=False)
    return model, recorder


def test_the_default_config_lists_the_python_default():
    cfg = OmegaConf.load(CONFIGS / "model" / "metrics" / "default.yaml")
    built = instantiate(cfg)
    assert {k: list(v) for k, v in built.items()} == {k: list(v) for k, v in DEFAULT.items()}
    for family, metrics in DEFAULT.items():
        for name, cls in metrics.items():
            assert built[family][name].func is cls


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_an_added_metric_is_logged_for_each_split_with_its_best(task):
    metrics = {"classification": {"acc": DEFAULT["classification"]["acc"],
                                  "mcc": partial(MatthewsCorrCoef)}}
    model, recorder = fit(task, metrics)
    assert recorder.keys() == {"epoch", *model.logged_names}
    assert {"val/mcc", "val/mcc_best", "test/mcc", "val/acc_best"} <= recorder.keys()
    assert "val/auroc" not in recorder.keys()  # the config's set, not the default one
    per_epoch = recorder.values("val/mcc")
    assert recorder.values("val/mcc_best") == pytest.approx(
        [max(per_epoch[: i + 1]) for i in range(EPOCHS)])


def test_a_best_follows_its_metrics_direction():
    model, recorder = fit("regression")
    for name, best in (("mse", min), ("mae", min), ("r2", max)):
        values = recorder.values(f"val/{name}")
        assert recorder.values(f"val/{name}_best") == pytest.approx(
            [best(values[: i + 1]) for i in range(EPOCHS)]), name


class MeanPrediction(Metric):
    """The mean predicted probability: a number with no better direction."""

    higher_is_better = None

    def __init__(self, task: str) -> None:  # classification metrics are given the task
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("rows", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.total += preds.sum()
        self.rows += len(preds)

    def compute(self) -> torch.Tensor:
        return self.total / self.rows


def test_a_metric_without_a_direction_has_no_best():
    model, recorder = fit("binary", {"classification": {"u": MeanPrediction}})
    assert "val/u" in recorder.keys() and "test/u" in recorder.keys()
    assert "val/u_best" not in model.logged_names and "val/u_best" not in recorder.keys()


def test_the_bests_are_saved_in_the_checkpoint(tmp_path):
    model, _ = fit("regression")
    saved = {k for k in model.state_dict() if k.startswith("val_best.")}
    assert saved == {"val_best.mse.min_value", "val_best.mae.min_value", "val_best.r2.max_value"}


def test_a_typo_in_optimized_metric_is_refused_listing_the_names():
    names = ["test/acc", "val/acc", "val/acc_best"]
    check_objective("val/acc_best", names)
    with pytest.raises(UserError) as err:
        check_objective("val/acc_bset", names)
    assert str(err.value).startswith(
        "optimized_metric=val/acc_bset is not a metric of this run; its metrics: "
        "test/acc, val/acc, val/acc_best; set optimized_metric to one of them")


def test_train_refuses_the_typo_before_fitting(make_cfg, tmp_path):
    cfg = make_cfg("model/metrics=mcc", "optimized_metric=val/mcc_bset", "logger=[]",
                   "callbacks=none")
    with pytest.raises(UserError, match=r"optimized_metric=val/mcc_bset .*val/mcc_best"):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()  # nothing trained


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_the_names_from_a_config_cover_its_tasks(make_cfg):
    names = names_from_config(make_cfg("model/metrics=mcc").model)
    assert {"val/mcc", "val/mcc_best", "test/mcc", "val/r2_best", "val/mse_best"} <= set(names)
    regression = names_from_config(make_cfg("model/metrics=mcc", "model.task=regression").model)
    assert "val/mcc" not in regression and "val/r2_best" in regression


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_the_mcc_option_trains_and_returns_the_metric(make_cfg):
    # docs/extending.md:
    # python train.py experiment=breast_cancer model/metrics=mcc optimized_metric=val/mcc_best
    cfg = make_cfg("experiment=breast_cancer", "model/metrics=mcc",
                   "optimized_metric=val/mcc_best", "trainer.max_epochs=2", "logger=[]",
                   "callbacks=none")
    metrics = train(cfg)
    assert {"val/mcc", "val/mcc_best", "test/mcc", "val/acc", "test/auroc"} <= set(metrics)
    assert -1 <= metrics["val/mcc_best"] <= 1
    assert metrics["val/mcc_best"] >= metrics["val/mcc"]

