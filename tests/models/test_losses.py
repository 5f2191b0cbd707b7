"""The loss registry: each loss trains its task, the custom one is the seed's formula,
and a loss that does not fit the task is refused by name."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fivestep.config.sizes import out_features
from fivestep.errors import UserError
from fivestep.models.losses import LOSSES, MeanQuarticError, build_loss, fitting
from fivestep.models.nets import MLP
from fivestep.models.system import System

from ..conftest import CONFIGS, fit_epoch_losses, tiny_table

ADAM = instantiate(OmegaConf.load(CONFIGS / "model/optimizer/adam.yaml"), lr=0.05)

# `l1` is another name for `mae`: the same module, so one fit covers both.
CASES = [(name, task) for name, spec in LOSSES.items() for task in spec.tasks if name != "l1"]


def test_every_loss_the_article_names_is_registered():
    assert {"bce", "cross_entropy", "mse", "mae", "smooth_l1", "nll", "kl_div", "quartic"} <= set(
        LOSSES
    )
    assert fitting("regression") == ["mse", "mae", "l1", "smooth_l1", "quartic"]
    assert type(build_loss("l1", "regression")) is type(build_loss("mae", "regression"))


@pytest.mark.parametrize(("name", "task"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_each_loss_trains_its_task(name, task):
    torch.manual_seed(0)
    dm = tiny_table(task)
    net = MLP(dm.n_features, hidden=[16], out_features=out_features(task, dm.num_classes))
    model = System(net, ADAM, loss=name, task=task, num_classes=dm.num_classes)
    losses = fit_epoch_losses(model, dm, epochs=8)
    assert len(losses) == 8
    assert losses[-1] < 0.8 * losses[0], losses


def test_quartic_is_mean_of_fourth_powers():
    out, target = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.0, 0.0, 0.0])
    assert MeanQuarticError()(out, target).item() == pytest.approx((1 + 16 + 0.0625) / 3)


def test_class_losses_agree_on_one_hot_targets():
    logits, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    ce = build_loss("cross_entropy", "multiclass")(logits, target)
    torch.testing.assert_close(build_loss("nll", "multiclass")(logits, target), ce)
    torch.testing.assert_close(build_loss("kl_div", "multiclass")(logits, target), ce)
    z, y = torch.randn(6), torch.tensor([0.0, 1, 1, 0, 1, 0])
    torch.testing.assert_close(build_loss("cross_entropy", "binary")(z, y),
                               build_loss("bce", "binary")(z, y))


@pytest.mark.parametrize(
    ("name", "task", "pattern"),
    [
        ("cross_entropy", "regression",
         r"model\.loss='cross_entropy'.*regression task.*\['mse', 'mae', 'l1', 'smooth_l1'"),
        ("mse", "binary", r"model\.loss='mse'.*binary task.*\['bce', 'cross_entropy'"),
        ("bce", "multiclass", r"model\.loss='bce'.*multiclass.*\['cross_entropy', 'nll', 'kl_div'"),
        ("hinge", "binary", r"model\.loss='hinge' is not a known loss"),
    ],
)
def test_a_loss_that_does_not_fit_is_refused(name, task, pattern):
    with pytest.raises(UserError, match=pattern):
        build_loss(name, task)
