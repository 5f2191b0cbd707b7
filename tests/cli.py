"""Run a root shim (`train.py`, `predict.py`, ...) as a user would: a real process."""

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT
from .watchdog import run_watched


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python *args` in `cwd`, its output captured as text; still running after
    `timeout` seconds, it and every process it started are stopped with their stacks
    in the test's failure (`tests/watchdog.py`)."""
    return run_watched([sys.executable, *args], timeout, cwd=cwd)
