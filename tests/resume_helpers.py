"""Test-only part of the resume tests: a callback that kills its own process mid-epoch."""

import os
import signal

import lightning as L


class KillAt(L.Callback):
    """SIGKILL this process before batch `batch` of epoch `epoch` (no cleanup, no save)."""

    def __init__(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
