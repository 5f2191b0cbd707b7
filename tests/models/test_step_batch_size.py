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


@pytest.mark.slow  # >1 s a case on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("steps", [4, 7])  # 7: no divisor
def test_several_steps_per_batch_equal_one_step_per_batch(make_cfg, steps):
    one_losses, one_weights, one_steps = _fit(make_cfg, *SGD, "data.batch_size=16")
    many_losses, many_weights, many_steps = _fit(
        make_cfg, *SGD, f"data.batch_size={16 * steps}", "model.step_batch_size=16"
    )
    assert many_steps == one_steps == 2 * 12  # 180 rows in steps of 16: 12 per epoch
    assert many_losses == pytest.approx(one_losses, abs=1e-6)
    for name, value in one_weights.items():
        torch.testing.assert_close(many_weights[name], value, rtol=0, atol=1e-6)


@pytest.mark.slow  # four more fits
@pytest.mark.parametrize("shuffle", ["true", "false"])
def test_full_batch_cut_into_steps_equals_minibatches(make_cfg, shuffle):
    # shuffled, the one full batch must be reshuffled every epoch too, or its steps
    # would see the same rows in the same order each epoch, unlike the minibatches'
    order = f"+data.shuffle={shuffle}"
    one_losses, one_weights, _ = _fit(make_cfg, *SGD, "data.batch_size=60", order)
    many_losses, many_weights, _ = _fit(make_cfg, *SGD, "data.batch_size=null", order,
                                        "model.step_batch_size=60")
    assert many_losses == pytest.approx(one_losses, abs=1e-6)
    for name, value in one_weights.items():
        torch.testing.assert_close(many_weights[name], value, rtol=0, atol=1e-6)


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
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


def test_hooks_run_once_per_lightning_step_and_steps_are_all_counted(make_cfg):
    """On one device the steps before a batch's last call `loss.backward()` directly:
    the backward hooks (the FiniteGuard's loss check among them) run once per batch,
    `on_before_optimizer_step` and `global_step` once per optimizer step."""
    cfg = make_cfg(*COMMON, "data.batch_size=64", "model.step_batch_size=16")
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    model = build(cfg.model)
    calls = {"on_before_backward": 0, "on_after_backward": 0, "on_before_optimizer_step": 0}

    class Count(L.Callback):
        def on_before_backward(self, *_) -> None:
            calls["on_before_backward"] += 1

        def on_after_backward(self, *_) -> None:
            calls["on_after_backward"] += 1

        def on_before_optimizer_step(self, *_) -> None:
            calls["on_before_optimizer_step"] += 1

    trainer = L.Trainer(accelerator="cpu", max_epochs=2, callbacks=[Count()], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=datamodule)
    # 180 training rows: batches of 64, 64, 52 cut into 4, 4 and 4 steps (the last of 4 rows)
    assert trainer.num_training_batches == 3
    assert calls == {"on_before_backward": 2 * 3, "on_after_backward": 2 * 3,
                     "on_before_optimizer_step": 2 * 12}
    assert trainer.global_step == 2 * 12
