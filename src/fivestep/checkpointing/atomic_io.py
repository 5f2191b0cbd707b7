"""Checkpoint files that are either the old one or the new one, never half of one.

A process killed while `torch.save` writes `last.ckpt` in place leaves a truncated
file, and the good checkpoint it was replacing is gone. `AtomicCheckpointIO` writes
the new checkpoint to a temporary file in the same folder, flushes it to disk
(`fsync`), and only then renames it over the old name with `os.replace`, which is
atomic on POSIX and Windows file systems. A kill at any moment leaves either the
complete old file or the complete new one (and at worst a stray `.tmp` file).
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj, path)` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # make the rename itself durable


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entry table; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's `TorchCheckpointIO`, but each save is a temp file + `fsync` + `os.replace`.

    Local paths only; a remote URL (`s3://...`) falls back to Lightning's own writer.
    Pass it to the Trainer as `plugins=[AtomicCheckpointIO()]` (`fivestep.train` does).
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_torch_save(checkpoint, path)
