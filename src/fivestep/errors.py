"""`UserError`, the project's error for a person to fix, and `run`, which turns it into
one line.

A `UserError` names the thing (a config value, a data file, a column, a checkpoint)
and the fix. The entry-point shims call `run(task, cfg)`: on a bad input the task
stops before any work, prints `error: <message>` alone, exits with status 2, and
removes the run folder Hydra had just made for it (only when it holds nothing but
Hydra's own files), so no half-written run folder is left looking like a real run.
"""

import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
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
    _composed()
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from fivestep.console import quiet_upstream_notices

    quiet_upstream_notices()  # Lightning's and the exporters' notices a user cannot act on
    if logging.getLogger().handlers:
        # `import lightning` adds a console handler of its own; Hydra's handlers (console
        # and the run's log file) already get every record, so drop it to print once.
        logging.getLogger("lightning").handlers.clear()

    try:
        from fivestep.config.checks import check_entry  # here: it imports this module

        check_entry(cfg)  # a top-level key the command does not read, or of a wrong type
        return task(cfg)
    except (UserError, InstantiationException, MisconfigurationException) as err:
        # Lightning's MisconfigurationException is its word for a setting that cannot work
        # (e.g. gradient clipping with manual optimization): a user's to fix, in one line
        message = _one_line(err)
        if HydraConfig.initialized():
            _remove_if_empty_run(Path(HydraConfig.get().runtime.output_dir))
        print(f"error: {message}", file=sys.stderr)
        if _sweeper_records_failures():
            raise  # the Optuna sweeper records this trial as FAIL and goes on
        raise SystemExit(2) from None


def check_command_line(task_name: str, config_dir: Path, argv: list[str] | None = None) -> None:
    """Before Hydra composes: a plain `key=value` whose top-level key the command does not
    read (`input=` given to train.py) stops with one `error:` line and status 2, instead
    of Hydra's seven-line "Could not override" report. Keys of the entry config, its
    config groups (the folders of `config_dir`) and `hydra` pass, as does anything with a
    `+`/`++`/`~` prefix (`check_entry` judges those once composed)."""
    args = sys.argv[1:] if argv is None else argv
    plain = [a.split("=", 1)[0] for a in args if "=" in a and a[0] not in "-+~"]
    tops = {re.split(r"[./@]", key, maxsplit=1)[0] for key in plain}
    if not tops:
        return
    from fivestep.config.checks import ENTRY_KEYS, unknown_key_message

    known = set(ENTRY_KEYS.get(task_name, {})) | {"hydra"}
    known |= {p.name for p in config_dir.iterdir() if p.is_dir()}
    for top in sorted(tops - known):
        print(f"error: {unknown_key_message(task_name, top)}", file=sys.stderr)
        raise SystemExit(2)


_FULL_ERROR = "HYDRA_FULL_ERROR"
_WE_SET_FULL_ERROR = False  # whether composition_errors_as_one_line set it, for _composed


@contextmanager
def composition_errors_as_one_line() -> Iterator[None]:
    """Around a shim's `main()`: a command line Hydra cannot compose (a nested key that
    does not exist, a config group option that does not exist, an override it cannot
    parse) stops with one `error:` line, Hydra's own words joined, and status 2, instead
    of Hydra's report over several lines and status 1.

    Hydra prints that report unless `HYDRA_FULL_ERROR=1`, when it raises the error
    instead (its documented switch); so the switch is set here until the task starts
    (`run` takes it back off, and tasks report their own errors as before), and the
    errors of composition that come out are caught. A user who set the switch gets
    Hydra's full trace, as asked; any other exception goes on as raised."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    global _WE_SET_FULL_ERROR
    if os.environ.get(_FULL_ERROR) is None:
        os.environ[_FULL_ERROR] = "1"
        _WE_SET_FULL_ERROR = True
    try:
        yield
    except (HydraException, OmegaConfBaseException) as err:
        if not _WE_SET_FULL_ERROR:
            raise
        print(f"error: {_composition_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        _composed()


def _composed() -> None:
    """The config is composed: Hydra reports what goes wrong from here its own way again."""
    global _WE_SET_FULL_ERROR
    if _WE_SET_FULL_ERROR:
        os.environ.pop(_FULL_ERROR, None)
        _WE_SET_FULL_ERROR = False


def _composition_line(err: BaseException) -> str:
    """Hydra's words for a config it could not compose, as one line: its first line, the
    cause's first line (OmegaConf's), then its other lines, a line that ends with `:`
    followed by the items under it (`Available options in 'model/optimizer': adam, ...`),
    up to the config search path."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    head = lines[0].rstrip(".")
    if isinstance(getattr(err, "override", None), str):  # an override Hydra cannot parse
        head = f"cannot parse the override '{err.override}': {head}"  # type: ignore[attr-defined]
    cause = str(err.__cause__ or "").strip().splitlines()
    if cause and cause[0].strip() not in head:
        head += f": {cause[0].strip()}"
    parts: list[str] = []
    listing = False  # under a line that ends with ":", one word a line
    for line in lines[1:]:
        if line.startswith("Config search path"):  # where Hydra looked: not the user's fix
            break
        if listing and " " not in line:
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + line
            continue
        listing = line.endswith(":")
        parts.append(line)
    return "; ".join([head, *parts])


def _one_line(err: Exception) -> str:
    """The error as one line: a `UserError`'s first line; for an exception a target's
    constructor raised (Hydra wraps it, over three lines), the key, the target and the
    constructor's own first line."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, UserError):
        cause = cause.__cause__
    if cause is not None:  # a UserError, maybe raised inside a target Hydra built
        text = str(cause).strip()
        return text.splitlines()[0] if text else type(cause).__name__
    text = str(err).strip()
    if not isinstance(err, InstantiationException):
        return text.splitlines()[0] if text else type(err).__name__
    key = re.search(r"^full_key: (\S+)", text, re.MULTILINE)
    target = re.search(r"target '([^']+)'", text)
    cause = err.__cause__
    if cause is not None:
        said = str(cause).strip().splitlines()
        reason = f"{type(cause).__name__}: {said[0]}" if said else type(cause).__name__
    else:
        reason = text.splitlines()[0] if text else type(err).__name__
    if key is None:  # Hydra named no key (e.g. a _target_ it cannot import): its own line
        return reason
    built = f" building {target.group(1)}" if target else ""
    return f"{key.group(1)}: {reason} (raised{built}); check the values under {key.group(1)}"


def _sweeper_records_failures() -> bool:
    """Whether this job is a trial of fivestep's Optuna sweeper, which records a job that
    raised as a failed trial and goes on (Hydra's basic sweeper stops at one)."""
    if not HydraConfig.initialized():
        return False
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.mode == RunMode.MULTIRUN and "optuna" in str(
        hydra_cfg.sweeper.get("_target_", "")
    )
