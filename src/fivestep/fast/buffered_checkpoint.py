"""A `ModelCheckpoint` that keeps new checkpoints in memory and writes them on a clock."""

import copy
import time
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor

from fivestep.checkpointing.paced_io import snapshot
from fivestep.config.types import NonNegativeFloat


@dataclass
class _Shared:
    """What the `BufferedCheckpoint`s of one trainer share: the write clock, and the
    newest dump with the moment it was taken (so the best and `last.ckpt` of one epoch
    come from one dump)."""

    last_write: float = float("-inf")
    moment: tuple | None = None
    checkpoint: dict[str, Any] | None = None
    flushing_moment: tuple | None = None  # a moment whose saves are written at once


_SHARED: "WeakKeyDictionary[L.Trainer, _Shared]" = WeakKeyDictionary()


def _shared(trainer: L.Trainer) -> _Shared:
    if trainer not in _SHARED:
        _SHARED[trainer] = _Shared()
    return _SHARED[trainer]


class BufferedCheckpoint(ModelCheckpoint):
    """Lightning's `ModelCheckpoint`, writing files at most once per `write_interval_s`.

    With a small model an epoch takes milliseconds and the monitored `val/loss` improves
    on most epochs, so the stock callback writes the best checkpoint and `last.ckpt`
    nearly every epoch: 400 `torch.save` calls in the seed's 200 epochs. This subclass
    makes the same decisions (which epoch is best, which file goes) but holds the
    checkpoints it would have written in memory, as CPU copies, and writes the newest
    of each file once `write_interval_s` has passed since the last write, at the end of
    `fit`, and on an exception. An old best file is deleted only once its successor is
    on disk. A killed run (`kill -9`, power loss) therefore loses at most
    `write_interval_s` of progress, never the best checkpoint, and resuming from the
    `last.ckpt` it left is as exact as from any other epoch. Epochs longer than
    `write_interval_s` are written at every epoch, as by the stock callback.

    The callbacks of one trainer share one clock (best and last are written together)
    and one dump per moment (the best and `last.ckpt` of an epoch are one
    `dump_checkpoint`, not two).

    `last.ckpt` (with `save_last=True`) is refreshed after every epoch, in memory, so
    that it always ends as the final epoch's state; the stock callback refreshes it
    only on epochs that also save a best checkpoint.

    Args:
        write_interval_s: least seconds between two writes; 0 writes at once, as
            `ModelCheckpoint` does.
        **kwargs: `ModelCheckpoint`'s arguments (`dirpath`, `monitor`, `save_last`, ...).
    """

    def __init__(self, write_interval_s: NonNegativeFloat = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if write_interval_s < 0:
            raise ValueError(f"write_interval_s={write_interval_s} must be >= 0")
        self.write_interval_s = write_interval_s
        self._pending: dict[str, dict[str, Any]] = {}  # path -> checkpoint not yet written
        self._doomed: list[str] = []  # files to delete once the pending ones are written
        self._written: set[str] = set()
        self.writes = 0  # files written so far (the benchmark and tests read it)

    @property
    def state_key(self) -> str:
        # Lightning formats this key (a repr of five settings) on every hook call, six
        # times per training step; the settings are fixed once built, so format it once.
        key = self.__dict__.get("_state_key")
        if key is None:
            key = self.__dict__["_state_key"] = super().state_key
        return key

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           *args: Any, **kwargs: Any) -> None:
        # Without `every_n_train_steps` or `train_time_interval` Lightning's check after
        # every step always ends in "no save"; skip it (a few microseconds per step)
        if self._every_n_train_steps < 1 and self._train_time_interval is None:
            return
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)

    def _monitor_candidates(self, trainer: L.Trainer) -> dict[str, Tensor]:
        # As Lightning's, which deep-copies every logged metric (half a millisecond per
        # callback per epoch here); a clone of each value gives the same protection.
        candidates = {
            k: v.detach().clone() if isinstance(v, Tensor) else copy.deepcopy(v)
            for k, v in trainer.callback_metrics.items()
        }
        epoch, step = candidates.get("epoch"), candidates.get("step")
        candidates["epoch"] = (
            epoch.int() if isinstance(epoch, Tensor) else torch.tensor(trainer.current_epoch)
        )
        candidates["step"] = (
            step.int() if isinstance(step, Tensor) else torch.tensor(trainer.global_step)
        )
        return candidates

    def _moment(self, trainer: L.Trainer) -> tuple:
        """Where training is: saves at one moment (Lightning runs the checkpoint
        callbacks one after the other, after all others) see the same state."""
        module = trainer.lightning_module
        return (trainer.global_step, trainer.current_epoch,
                getattr(module, "_current_fx_name", None), self.save_weights_only)

    def _dump(self, trainer: L.Trainer, moment: tuple, held: bool) -> dict[str, Any]:
        """The trainer's checkpoint at `moment`, dumped once for every callback saving
        then. `held`: it waits in memory, so it is a snapshot later steps cannot change."""
        shared = _shared(trainer)
        key = (*moment, held)
        if shared.moment != key or shared.checkpoint is None:
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only)
            shared.moment, shared.checkpoint = key, snapshot(checkpoint) if held else checkpoint
        return shared.checkpoint

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        moment, shared = self._moment(trainer), _shared(trainer)
        if self.write_interval_s == 0:  # what ModelCheckpoint does, minus repeated dumps
            trainer.strategy.save_checkpoint(self._dump(trainer, moment, held=False), filepath)
            trainer.strategy.barrier("BufferedCheckpoint.save")
            self.writes += 1
            if trainer.is_global_zero:
                for logger in trainer.loggers:
                    logger.after_save_checkpoint(self)
            return
        due = shared.flushing_moment == moment or (
            time.monotonic() - shared.last_write >= self.write_interval_s
        )
        due = trainer.strategy.broadcast(due, src=0)  # rank 0's clock decides for all
        self._pending[filepath] = self._dump(trainer, moment, held=not due)
        if due:
            shared.flushing_moment = moment  # the other saves of this moment follow suit
            self.flush(trainer)

    def _remove_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        if self.write_interval_s == 0:
            super()._remove_checkpoint(trainer, filepath)
            return
        was_pending = self._pending.pop(filepath, None) is not None
        if filepath in self._written or not was_pending:  # it is on disk
            self._doomed.append(filepath)

    def flush(self, trainer: L.Trainer) -> None:
        """Write what every `BufferedCheckpoint` of the trainer holds (best and last
        together, so the files on disk always agree), then delete replaced files."""
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, BufferedCheckpoint):
                callback._write_pending(trainer)

    def _write_pending(self, trainer: L.Trainer) -> None:
        if not self._pending and not self._doomed:
            return
        for path, checkpoint in self._pending.items():
            trainer.strategy.save_checkpoint(checkpoint, path)
            self._written.add(path)
            self.writes += 1
        current, self._pending = set(self._pending), {}
        for path in self._doomed:
            if path not in current:
                self._written.discard(path)
                trainer.strategy.remove_checkpoint(path)
        self._doomed.clear()
        trainer.strategy.barrier("BufferedCheckpoint.flush")
        _shared(trainer).last_write = time.monotonic()
        if current and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(self)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)  # validation has run by now
        if (
            self.write_interval_s > 0
            and self.save_last
            and not self._should_skip_saving_checkpoint(trainer)
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.flush(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        super().on_exception(trainer, pl_module, exception)
        self.flush(trainer)
