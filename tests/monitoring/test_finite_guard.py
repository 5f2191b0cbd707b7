"""FiniteGuard: a run whose loss or weights go NaN/inf stops at once, says where and why,
keeps only checkpoints of finite epochs and is marked failed in its metrics.json."""

import json
import math
import re

import lightning as L
import pytest
import torch

from fivestep.monitoring.finite_guard import NonFiniteTraining
from fivestep.train import train

POISONED_EPOCH = 3


class Poison(L.Callback):
    """From `epoch` on, makes training non-finite: a NaN weight (the loss goes NaN) or a
    NaN learning rate (the step makes the weights NaN, the loss before it is finite)."""

    def __init__(self, epoch: int, how: str) -> None:
        self.epoch, self.how = epoch, how

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch < self.epoch:
            return
        if self.how == "weight":
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = math.nan
        else:
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = math.nan


def _finite(checkpoint) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in checkpoint["state_dict"].values()
               if v.is_floating_point())


@pytest.mark.parametrize(
    ("how", "extra", "said"),
    [
        ("weight", [], r"the training loss is nan"),
        # a checkpoint callback asked to save on an exception must not save the NaN state
        ("lr", ["+callbacks.model_checkpoint.save_on_exception=true"],
         r"the weights net\.hidden1\.weight.* are not finite"),
    ],
)
@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_non_finite_training_stops_keeps_good_checkpoints_and_marks_failed(
    make_cfg, tmp_path, how, extra, said
):
    cfg = make_cfg(
        "experiment=two_layer", "trainer.max_epochs=8", "callbacks.progress_bar.refresh_rate=0",
        "+callbacks.poison._target_=tests.monitoring.test_finite_guard.Poison",
        f"+callbacks.poison.epoch={POISONED_EPOCH}", f"+callbacks.poison.how={how}", *extra,
    )
    with pytest.raises(NonFiniteTraining) as stop:
        train(cfg)
    message = str(stop.value)
    assert "\n" not in message
    assert f"epoch {POISONED_EPOCH}, step {POISONED_EPOCH}:" in message  # full batch: 1 step/epoch
    assert re.search(said, message)
    assert "learning rate" in message and "scales" in message

    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert "last.ckpt" in files and len(files) == 2, files  # the best and last, nothing more
    for name in files:
        checkpoint = torch.load(tmp_path / "checkpoints" / name, weights_only=True)
        assert checkpoint["epoch"] < POISONED_EPOCH and _finite(checkpoint), name
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == POISONED_EPOCH - 1  # the last good epoch

    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["status"] == "failed" and summary["metrics"] == {}
    assert summary["error"] == message
    assert summary["best_checkpoint"].endswith(".ckpt")


def test_finite_training_is_untouched(make_cfg, tmp_path):
    cfg = make_cfg("experiment=two_layer", "trainer.max_epochs=2", "logger=[]",
                   "callbacks=none")
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss"])
    assert "status" not in json.loads((tmp_path / "metrics.json").read_text())
