"""Run a root shim (`train.py`, `predict.py`, ...) as a user would: a real process."""

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python *args` in `cwd`, its output captured as text."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
