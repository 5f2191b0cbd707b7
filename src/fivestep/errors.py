"""`UserError`, the project's error for a person to fix, and `run`, which turns it into
one line.

A `UserError` names the thing (a config value, a data file, a column, a checkpoint)
and the fix. The entry-point shims call `run(task, cfg)`: on a bad input the task
stops before any work, prints `error: <message>` alone, exits with status 2, and
removes the run folder Hydra had just made for it (only when it holds nothing but
Hydra's own files), so no half-written run folder is left looking like a real run.
"""

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig


class UserError(Exception):
    """A problem with the user's input; the message names the thing and the fix."""


def _remove_if_empty_run(folder: Path) -> None:
    """Delete `folder` if every file in it is Hydra's (`.hydra/`, the job's log)."""
    if not folder.is_dir():
        return
    for path in folder.rglob("*"):
        if path.is_file() and ".hydra" not in path.parts and path.suffix != ".log":
            return
    shutil.rmtree(folder, ignore_errors=True)


def run(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Call `task(cfg)`; on a user error, clean up and exit 2 with its message."""
    if logging.getLogger().handlers:
        # `import lightning` adds a console handler of its own; Hydra's handlers (console
        # and the run's log file) already get every record, so drop it to print once.
        logging.getLogger("lightning").handlers.clear()
    try:
        return task(cfg)
    except (UserError, InstantiationException) as err:
        message = str(err).strip().splitlines()[0] if isinstance(err, UserError) else str(err)
        if HydraConfig.initialized():
            _remove_if_empty_run(Path(HydraConfig.get().runtime.output_dir))
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
