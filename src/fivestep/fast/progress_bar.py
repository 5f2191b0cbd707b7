"""A TQDM progress bar that redraws on a clock instead of on every batch and epoch."""

import sys
import time
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class _ThrottledTqdm(Tqdm):
    """A bar whose `refresh` draws at most once per `min_interval_s`; `close` still
    draws the final state (tqdm's `close` displays without `refresh`)."""

    def __init__(self, *args: Any, min_interval_s: float = 0.1, **kwargs: Any) -> None:
        self._min_interval_s = min_interval_s
        self._last_draw = float("-inf")
        super().__init__(*args, **kwargs)

    def refresh(self, nolock: bool = False, lock_args: Any = None) -> bool:
        now = time.monotonic()
        if now - self._last_draw < self._min_interval_s:
            return False
        self._last_draw = now
        return super().refresh(nolock=nolock, lock_args=lock_args)


class ProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar, redrawn at most every `min_interval_s` seconds.

    Lightning updates the bar after every `refresh_rate` batches, rebuilding the
    logged metrics each time, and redraws several times per epoch (reset,
    description, postfix, a new validation bar): per step of a small net that costs
    as much as the step. Here the count and metrics are updated at most every
    `min_interval_s` (and on a stage's last batch), each bar draws at most that
    often, and a validation bar appears only if validation lasts longer than that.

    Args:
        refresh_rate: as in `TQDMProgressBar`; 0 disables the bar.
        min_interval_s: least seconds between two draws of one bar.
        process_position, leave: as in `TQDMProgressBar`.
    """

    def __init__(
        self,
        refresh_rate: int = 1,
        min_interval_s: float = 0.1,
        process_position: int = 0,
        leave: bool = False,
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self.min_interval_s = min_interval_s
        self._last_update = float("-inf")

    def _should_update(self, current: int, total: int) -> bool:
        """After a batch: update the count and metrics on a stage's last batch, or once
        `min_interval_s` has passed (not every batch: building the metrics is costly)."""
        if not self.is_enabled or (current % self.refresh_rate and current != total):
            return False
        now = time.monotonic()
        if current == total or now - self._last_update >= self.min_interval_s:
            self._last_update = now
            return True
        return False

    def _bar(self, desc: str, leave: bool, below: int = 0, **kwargs: Any) -> Tqdm:
        return _ThrottledTqdm(
            desc=desc,
            position=2 * self.process_position + below,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stdout,
            bar_format=self.BAR_FORMAT,
            min_interval_s=self.min_interval_s,
            **kwargs,
        )

    def init_sanity_tqdm(self) -> Tqdm:
        return self._bar(self.sanity_check_description, leave=False)

    def init_train_tqdm(self) -> Tqdm:
        return self._bar(self.train_description, leave=True, smoothing=0)

    def init_validation_tqdm(self) -> Tqdm:
        under_train = self.trainer.state.fn != "validate"  # below the training bar
        return self._bar(
            self.validation_description,
            leave=not under_train,
            below=int(under_train),
            delay=self.min_interval_s if under_train else 0.0,
        )

    def init_test_tqdm(self) -> Tqdm:
        return self._bar("Testing", leave=True)

    def init_predict_tqdm(self) -> Tqdm:
        return self._bar(self.predict_description, leave=True, smoothing=0)
