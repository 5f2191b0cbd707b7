"""Checkpoint files written at most once every few seconds, all-or-nothing, none lost.

With a small model an epoch takes milliseconds and `val/loss` improves on most epochs,
so Lightning's `ModelCheckpoint`s (the best one and `last.ckpt`) ask for two files per
epoch: the seed's 200 epochs wrote 400 fsynced files, a third of the run's time.
`PacedCheckpointIO` is the Trainer's checkpoint writer (Lightning's public
`CheckpointIO` plugin): the callbacks still decide, as ever, which file holds which
epoch and which file goes; this decides when the bytes reach the disk.

- The saves of one moment (the same `epoch` and `global_step`: the best checkpoint and
  `last.ckpt` of one epoch) are written together, or held together.
- A moment at least `write_interval_s` after the last write is written at once (so an
  epoch longer than that is written every epoch, as before, with no copy kept).
- Otherwise its checkpoints are held in memory, as CPU copies, newest per file, and
  written with the next moment that is due; an old file the callbacks replace is
  deleted only once its successor is on disk.
- Everything held is written when the Trainer tears down: at the end of `fit` (before
  `test` loads the best checkpoint), on an exception, on Ctrl+C, and on SIGTERM (which
  Lightning turns into an exception after the current step: what a SLURM requeue or a
  preemption sends before it kills).

Every write is `AtomicCheckpointIO`'s: temporary file, `fsync`, atomic rename. So a
process killed outright (`kill -9`, the OOM killer, a power cut) leaves, for each file,
a complete checkpoint of an epoch boundary at most `write_interval_s` old, the best
file and `last.ckpt` from the same write; resuming from that `last.ckpt` is exact
(the run state and random generators come with it). `write_interval_s=0` writes every
save at once, as Lightning's own writer does.
"""

import os
import time
from typing import Any

from torch import Tensor

from fivestep.checkpointing.atomic_io import AtomicCheckpointIO
from fivestep.config.types import NonNegativeFloat

_ATOMS = frozenset((int, float, str, bool, type(None)))


def snapshot(obj: Any) -> Any:
    """A copy of a checkpoint that later training steps cannot change: every tensor
    copied to the CPU, the dicts, lists and tuples around them rebuilt.

    Called on nearly every save of a small run (a checkpoint of a few hundred dicts,
    lists and numbers), so plain dicts, lists and tuples, the bulk of a checkpoint, take
    exact-type paths with their atoms copied inline: a third less time than one
    `isinstance` chain per value, with the same result."""
    cls = type(obj)
    if cls in _ATOMS:
        return obj
    if cls is dict:
        return {k: v if type(v) in _ATOMS else snapshot(v) for k, v in obj.items()}
    if cls is list or cls is tuple:  # e.g. the RNG state: 625 ints, each kept as is
        items = [v if type(v) in _ATOMS else snapshot(v) for v in obj]
        return items if cls is list else tuple(items)
    if isinstance(obj, Tensor):
        obj = obj.detach()
        return obj.clone() if obj.device.type == "cpu" else obj.to("cpu", copy=True)
    if isinstance(obj, dict):  # OrderedDict (a state_dict), other dict subclasses
        return cls((k, v if type(v) in _ATOMS else snapshot(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple) and not hasattr(obj, "_fields"):
        return cls(v if type(v) in _ATOMS else snapshot(v) for v in obj)
    return obj


class PacedCheckpointIO(AtomicCheckpointIO):
    """`AtomicCheckpointIO` that writes at most once per `write_interval_s` (see the
    module docstring for what is written when, and what a kill leaves).

    Args:
        write_interval_s: least seconds between two writes; 0 = every save at once.
    """

    def __init__(self, write_interval_s: NonNegativeFloat = 5.0) -> None:
        super().__init__()
        if write_interval_s < 0:
            raise ValueError(f"write_interval_s={write_interval_s} must be >= 0")
        self.write_interval_s = write_interval_s
        self._pending: dict[str, dict[str, Any]] = {}  # path -> checkpoint not yet written
        self._doomed: list[str] = []  # files on disk to delete once the pending are written
        self._written: set[str] = set()
        self._moment: tuple[Any, Any] | None = None
        self._due = True
        self._last_write = float("-inf")
        self.writes = 0  # files written so far (tests and the benchmark read it)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        path = str(path)
        if storage_options is not None or "://" in path:  # remote: Lightning's writer, now
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        moment = (checkpoint.get("epoch"), checkpoint.get("global_step"))
        if moment != self._moment:  # the first save of a moment decides for all of its saves
            self._moment = moment
            self._due = time.monotonic() - self._last_write >= self.write_interval_s
        if path in self._doomed:  # saved again under the same name: not to be deleted
            self._doomed.remove(path)
        if self._due:
            self._pending[path] = checkpoint  # written now: no copy needed
            self.flush()
        else:
            self._pending[path] = snapshot(checkpoint)

    def remove_checkpoint(self, path: str | os.PathLike) -> None:
        path = str(path)
        held = self._pending.pop(path, None) is not None
        if held and path not in self._written:
            return  # it never reached the disk
        if self._pending:
            self._doomed.append(path)  # its successor is still in memory
        else:
            self._written.discard(path)
            super().remove_checkpoint(path)

    def flush(self) -> None:
        """Write every held checkpoint, then delete the files they replace."""
        if not self._pending and not self._doomed:
            return
        written = set(self._pending)
        for path, checkpoint in self._pending.items():
            super().save_checkpoint(checkpoint, path)
            self._written.add(path)
            self.writes += 1
        self._pending = {}
        for path in self._doomed:
            if path not in written:
                self._written.discard(path)
                super().remove_checkpoint(path)
        self._doomed = []
        self._last_write = time.monotonic()

    def teardown(self) -> None:
        # The Trainer tears its strategy down at the end of fit/validate/test and after
        # any exception (SIGTERM and Ctrl+C included): nothing held is lost then.
        self.flush()
        super().teardown()
