"""Each optimizer of `configs/model/optimizer/` trains (L-BFGS through Lightning's
closure), and SparseAdam on a dense net is refused before training."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fivestep.errors import UserError
from fivestep.models.nets import MLP
from fivestep.models.system import System

from ..conftest import CONFIGS, fit_epoch_losses, tiny_table

DENSE = sorted(
    p.stem for p in (CONFIGS / "model/optimizer").glob("*.yaml") if p.stem != "sparse_adam"
)


def optimizer(name: str, **overrides):
    return instantiate(OmegaConf.load(CONFIGS / f"model/optimizer/{name}.yaml"), **overrides)


# Adam's default lr (0.001) needs more than the few steps of a test to show.
LR = {"adam": 0.01, "adamw": 0.01}


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("name", DENSE)
def test_each_optimizer_lowers_the_loss(name):
    assert len(DENSE) == 7  # sgd adam adamw adadelta adagrad lbfgs rmsprop
    torch.manual_seed(0)
    dm = tiny_table("binary")
    if name != "lbfgs":  # L-BFGS: full batch, its natural setting
        dm.batch_size = 8  # 5 steps an epoch
    opt = optimizer(name, lr=LR[name]) if name in LR else optimizer(name)
    model = System(MLP(dm.n_features, hidden=[16]), opt, task="binary")
    losses = fit_epoch_losses(model, dm, epochs=6)
    assert losses[-1] < 0.9 * losses[0], losses


def test_lbfgs_evaluates_the_closure_many_times_per_step():
    torch.manual_seed(0)
    dm = tiny_table("regression")
    model = System(MLP(dm.n_features, hidden=[8]), optimizer("lbfgs"), task="regression")
    calls = []
    step = model.training_step
    model.training_step = lambda *a: calls.append(1) or step(*a)
    fit_epoch_losses(model, dm, epochs=2)
    assert len(calls) > 2 * 2  # full batch: one optimizer step per epoch, many closures
    assert model.trainer.global_step == 2


def test_sparse_adam_on_a_dense_net_is_refused_with_the_fix():
    net = MLP(4, hidden=[8])
    with pytest.raises(UserError, match=r"sparse_adam.*dense.*model/optimizer=adam"):
        System(net, optimizer("sparse_adam"), task="binary")


def test_sparse_adam_is_accepted_for_sparse_embeddings():
    net = torch.nn.Sequential(torch.nn.EmbeddingBag(10, 1, mode="sum", sparse=True))
    model = System(net, optimizer("sparse_adam"), task="regression")
    assert isinstance(model.configure_optimizers(), torch.optim.SparseAdam)


def test_a_scheduler_steps_once_per_epoch():
    scheduler = instantiate(OmegaConf.load(CONFIGS / "model/scheduler/step.yaml"),
                            step_size=1, gamma=0.5)
    dm = tiny_table("binary")
    model = System(MLP(dm.n_features, hidden=[4]), optimizer("sgd", lr=0.1), task="binary",
                   scheduler=scheduler)
    fit_epoch_losses(model, dm, epochs=3)
    assert model.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
