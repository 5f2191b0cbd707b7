"""Test-only parts for resume tests: a net that draws random numbers while training
(dropout), and a callback that kills its own process mid-epoch with SIGKILL."""

import os
import signal

import lightning as L
from torch import Tensor, nn

from fivestep.nets import TwoLayerNet


class DropoutNet(TwoLayerNet):
    """`TwoLayerNet` with dropout after each hidden layer, so training consumes the RNG."""

    def __init__(
        self,
        in_features: int = 5,
        hidden1: int = 8,
        hidden2: int = 4,
        out_features: int = 1,
        p: float = 0.3,
    ) -> None:
        super().__init__(in_features, hidden1, hidden2, out_features)
        self.dropout = nn.Dropout(p)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.relu(self.hidden1(x)))
        x = self.dropout(self.relu(self.hidden2(x)))
        return self.output(x)


class KillAt(L.Callback):
    """SIGKILL this process before batch `batch` of epoch `epoch` (no cleanup, no save)."""

    def __init__(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
