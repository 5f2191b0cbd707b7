"""What the member tests share: a bare Trainer and a callback that records each epoch's
metrics, for a run of members and for the standalone runs they must equal."""

import lightning as L


class Record(L.Callback):
    """Per-epoch `train/loss` and the validation metrics `val_keys`, as the trainer saw
    them (validation ones once the epoch's validation is over)."""

    def __init__(self, val_keys: tuple[str, ...] = ("val/loss",)) -> None:
        self.val_keys = val_keys
        self.values: dict[str, list[float]] = {"train/loss": [], **{k: [] for k in val_keys}}

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            for key in self.val_keys:
                self.values[key].append(trainer.callback_metrics[key].item())

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.values["train/loss"].append(trainer.callback_metrics["train/loss"].item())


def member_trainer(epochs: int, *callbacks: L.Callback) -> L.Trainer:
    """A CPU Trainer with no logger, checkpoints, bar, summary or sanity check."""
    return L.Trainer(accelerator="cpu", max_epochs=epochs, callbacks=list(callbacks),
                     logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0)
