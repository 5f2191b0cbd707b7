"""`ProgressLog`: training progress as a log line every tenth of the run or every 30 s,
for output that is not a terminal; `progress_bar()` picks it or Lightning's bar.

A terminal redraws a bar in place; a file or a pipe (a SLURM log, `| tee`, CI) keeps
every redraw. Lightning's TQDM bar wrote 3,244 lines (250 KB) for the 200 one-batch
epochs of `experiment=two_layer` piped to a file; these lines are eleven, each with
the epoch, the share of the run done, the time so far and the metrics the system puts
on the bar (`prog_bar=True`), and they go through `logging`, so they also land in the
run's log file. `configs/callbacks/progress_bar.yaml` builds the callback through
`progress_bar()`.
"""

import logging
import math
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar

log = logging.getLogger(__name__)


def progress_bar(
    refresh_rate: int = 20, every_fraction: float = 0.1, every_s: float = 30.0
) -> ProgressBar:
    """Lightning's TQDM bar when stdout is a terminal (redrawn every `refresh_rate`
    batches; 0 = no progress at all), else a `ProgressLog`."""
    if refresh_rate == 0 or sys.stdout.isatty():
        return TQDMProgressBar(refresh_rate=refresh_rate)
    return ProgressLog(every_fraction=every_fraction, every_s=every_s)


class ProgressLog(ProgressBar):
    """Logs `epoch E/N (P%, T s): metrics` when the run passes the next `every_fraction`
    of its batches, or `every_s` seconds after the last line, and once at the end.

    Args:
        every_fraction: a line each time this share of the run's batches is done.
        every_s: and a line at the end of any batch this many seconds after the last.
    """

    def __init__(self, every_fraction: float = 0.1, every_s: float = 30.0) -> None:
        super().__init__()
        if not 0 < every_fraction <= 1 or every_s <= 0:
            raise ValueError("every_fraction must be in (0, 1] and every_s > 0, got "
                             f"{every_fraction} and {every_s}")
        self.every_fraction = every_fraction
        self.every_s = every_s
        self._enabled = True
        self._start = self._last = 0.0
        self._next = every_fraction

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._last = time.monotonic()
        self._next = self._done(trainer, 0) + self.every_fraction  # a resumed run: from there

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx + 1 >= self.total_train_batches:
            return  # the epoch's last batch: on_train_epoch_end reports it, with validation
        done = self._done(trainer, batch_idx + 1)
        if done >= self._next - 1e-9 or time.monotonic() - self._last >= self.every_s:
            self._report(trainer, pl_module, done)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = self._done(trainer, self.total_train_batches)
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0) > 0
        if done >= self._next - 1e-9 or last or time.monotonic() - self._last >= self.every_s:
            self._report(trainer, pl_module, done)

    def _done(self, trainer: L.Trainer, batches_this_epoch: int | float) -> float:
        """The share of the run done, by epochs (or by steps under `max_steps`)."""
        shares = []
        per_epoch = self.total_train_batches
        if trainer.max_epochs and trainer.max_epochs > 0 and per_epoch and math.isfinite(per_epoch):
            shares.append((trainer.current_epoch + batches_this_epoch / per_epoch)
                          / trainer.max_epochs)
        if trainer.max_steps and trainer.max_steps > 0:
            shares.append(trainer.global_step / trainer.max_steps)
        return min(max(shares, default=0.0), 1.0)

    def _report(self, trainer: L.Trainer, pl_module: L.LightningModule, done: float) -> None:
        self._last = time.monotonic()
        while self._next <= done + 1e-9:  # (the tolerance: 0.1 added thrice is 0.3000...04)
            self._next += self.every_fraction
        if not self._enabled:
            return
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in metrics.items())
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        log.info("epoch %d%s (%.0f%%, %.1f s) %s", trainer.current_epoch + 1, epochs,
                 100 * done, self._last - self._start, shown)
