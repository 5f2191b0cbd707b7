"""`model.step_batch_size`: several optimizer steps per Lightning step, each the same
arithmetic as one step of `data.batch_size=step_batch_size`."""

import lightning as L
import pytest
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException

from fivestep.config.instantiate import build
from fivestep.config.sizes import sized_from_data
from fivestep.errors import UserError

COMMON = ["experiment=two_layer", "data.n_samples=300", "model/net=mlp",
          "model.net.hidden=[16,8]", "model.net.dropout=0.2"]
SGD = ["model.optimizer.momentum=0.9", "model/scheduler=step", "model.scheduler.step_size=1"]


def _fit(make_cfg, *overrides: str, epochs: int = 2) -> tuple[list[float], dict, int]:
    cfg = make_cfg(*COMMON, *overrides)
    L.seed_everything(0, workers=True, verbose=False)
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    model = build(cfg.model)
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            losses.append(trainer.callback_metrics["train/loss"].item())

    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, callbacks=[Record()],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=datamodule)
    return losses, model.net.state_dict(), trainer.global_step


@pytest.mark.parametrize("steps", [4, pytest.param(7, marks=pytest.mark.slow)])  # 7: no divisor
def test_several_steps_per_batch_equal_one_step_per_batch(make_cfg, steps):
    one_losses, one_weights, one_steps = _fit(make_cfg, *SGD, "data.batch_size=16")
    many_losses, many_weights, many_steps = _fit(
        make_cfg, *SGD, f"data.batch_size={16 * steps}", "model.step_batch_size=16"
    )
    assert many_steps == one_steps == 2 * 12  # 180 rows in steps of 16: 12 per epoch
    assert many_losses == pytest.approx(one_losses, abs=1e-6)
    for name, value in one_weights.items():
        torch.testing.assert_close(many_weights[name], value, rtol=0, atol=1e-6)


@pytest.mark.slow  # two more fits
def test_full_batch_cut_into_steps_equals_minibatches(make_cfg):
    one_losses, one_weights, _ = _fit(make_cfg, *SGD, "data.batch_size=60", "+data.shuffle=false")
    many_losses, many_weights, _ = _fit(make_cfg, *SGD, "data.batch_size=null",
                                        "+data.shuffle=false", "model.step_batch_size=60")
    assert many_losses == pytest.approx(one_losses, abs=1e-6)
    for name, value in one_weights.items():
        torch.testing.assert_close(many_weights[name], value, rtol=0, atol=1e-6)


def test_what_it_cannot_combine_with_is_refused(make_cfg):
    with pytest.raises(UserError, match=r"model\.step_batch_size cannot be combined with "
                                        r"model/optimizer=lbfgs"):
        _fit(make_cfg, "model/optimizer=lbfgs", "model.step_batch_size=16")
    with pytest.raises(UserError, match=r"model\.step_batch_size=0 must be a positive"):
        _fit(make_cfg, "model.step_batch_size=0")
    # Lightning refuses gradient accumulation and clipping with manual optimization; the
    # shims print its MisconfigurationException as one `error:` line (tests/test_errors.py)
    cfg = make_cfg(*COMMON, "model.step_batch_size=16", "+trainer.accumulate_grad_batches=2")
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    trainer = build(cfg.trainer, logger=False, enable_checkpointing=False)
    with pytest.raises(MisconfigurationException, match="accumulate_grad_batches"):
        trainer.fit(build(cfg.model), datamodule=datamodule)
