"""Test-only part of the resume tests: a callback that kills its own process mid-epoch."""

import os
import signal

import lightning as L


class KillAt(L.Callback):
    """Send this process `signal` (SIGKILL: no cleanup, no save; SIGTERM: what a
    scheduler sends before it kills) before batch `batch` of epoch `epoch`."""

    def __init__(self, epoch: int, batch: int = 0, signal: str = "SIGKILL") -> None:
        self.epoch, self.batch, self.signal = epoch, batch, signal

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), getattr(signal, self.signal))
