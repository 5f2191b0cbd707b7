"""The Lightning path does the seed's arithmetic: same data, same initial weights,
full-batch SGD lr 0.1 for 200 epochs -> the same loss at every epoch (to 1e-5)."""

import copy

import lightning as L
import torch
from hydra.utils import instantiate

from fivestep.config.sizes import sized_from_data
from fivestep.fundamentals.five_steps import seed_data, train_five_steps


class EpochLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.losses.append(trainer.callback_metrics["train/loss"].item())


def test_lightning_matches_the_raw_five_step_loop(make_cfg):
    cfg = make_cfg("experiment=two_layer", "data.val_fraction=0", "data.test_fraction=0")
    datamodule = instantiate(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())  # as fivestep.train does
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    raw_net = copy.deepcopy(model.net)

    x, y = seed_data()
    raw_losses = train_five_steps(raw_net, x, y, epochs=200, lr=0.1)

    recorder = EpochLosses()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=200,
        callbacks=[recorder],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)

    assert len(recorder.losses) == 200
    assert raw_losses[-1] < raw_losses[0] * 0.7  # it did train
    torch.testing.assert_close(
        torch.tensor(recorder.losses), torch.tensor(raw_losses), atol=1e-5, rtol=0
    )
    for p_raw, p_lit in zip(raw_net.parameters(), model.net.parameters(), strict=True):
        torch.testing.assert_close(p_raw, p_lit, atol=1e-5, rtol=0)
