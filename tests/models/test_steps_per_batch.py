"""`data.steps_per_batch=K`: K optimizer steps in one Lightning step give the same weights
as K Lightning steps (same batches, same arithmetic), and what cannot be combined with
it is refused with one message."""

import functools

import lightning as L
import pytest
import torch

from fivestep.data.batches import TensorBatches
from fivestep.data.synthetic import SyntheticDataModule
from fivestep.errors import UserError
from fivestep.models.nets import TwoLayerNet
from fivestep.models.system import System

SGD = functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9)


def fit(k: int, epochs: int = 2, scheduler=None, optimizer=SGD,
        **trainer_kwargs) -> tuple[System, L.Trainer]:
    dm = SyntheticDataModule(n_samples=1000, n_features=5, batch_size=32, steps_per_batch=k,
                             split_seed=0, seed=3)
    dm.setup()
    torch.manual_seed(0)
    model = System(TwoLayerNet(5, 8, 4, 1), optimizer, scheduler=scheduler, task="binary")
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, accelerator="cpu", devices=1, **trainer_kwargs)
    trainer.fit(model, datamodule=dm)
    return model, trainer


def test_k_steps_per_batch_give_the_weights_of_k_lightning_steps():
    one, t1 = fit(1)
    scheduler = None
    for k in (4, 7):  # 600 training rows = 18 full batches + 24 rows: a ragged tail
        many, tk = fit(k, scheduler=scheduler)
        assert tk.global_step == t1.global_step == 2 * 19  # optimizer steps
        for a, b in zip(one.parameters(), many.parameters(), strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
        assert abs(tk.callback_metrics["train/loss"] - t1.callback_metrics["train/loss"]) < 1e-6


def test_epoch_schedulers_are_stepped_as_before():
    step_lr = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    one, _ = fit(1, epochs=3, scheduler=step_lr)
    many, _ = fit(4, epochs=3, scheduler=step_lr)
    for a, b in zip(one.parameters(), many.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_stacked_groups_cover_the_same_rows_in_the_same_order():
    x = torch.arange(100).float().unsqueeze(1)
    y = torch.arange(100).float()
    plain = list(TensorBatches((x, y), batch_size=8, shuffle=True, seed=1))
    groups = list(TensorBatches((x, y), batch_size=8, shuffle=True, seed=1, steps_per_batch=5))
    assert [g[0].shape[:2] for g in groups] == [(5, 8), (5, 8), (2, 8), (1, 4)]
    flat = [b for g in groups for b in g[1]]
    assert [b.tolist() for b in flat] == [b[1].tolist() for b in plain]


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"accumulate_grad_batches": 2}, r"steps_per_batch=4 .*accumulate_grad_batches=2"),
    ({"gradient_clip_val": 1.0}, r"steps_per_batch=4 .*gradient_clip_val=1.0"),
])
def test_what_it_cannot_combine_with_is_refused(kwargs, pattern):
    with pytest.raises(UserError, match=pattern):
        fit(4, epochs=1, **kwargs)


def test_lbfgs_and_plateau_schedulers_are_refused():
    with pytest.raises(UserError, match=r"steps_per_batch=4 .*lbfgs"):
        fit(4, epochs=1, optimizer=functools.partial(torch.optim.LBFGS, lr=0.1))
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau)
    with pytest.raises(UserError, match=r"steps_per_batch=4 .*ReduceLROnPlateau"):
        fit(4, epochs=1, scheduler=plateau)
