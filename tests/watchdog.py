"""Processes a test starts, stopped with their stacks when they hang.

A test that starts `train.py` (and, under DDP, the ranks it starts in turn) must fail
in minutes with the Python stacks of every stuck process in its output, not wait out
CI's time limit. `run_watched` starts the command in a session of its own with
`PYTHONFAULTHANDLER=1` (inherited by every process it starts); on timeout it sends
SIGABRT to each process of the session, so each writes all of its threads' stacks to
its stderr (faulthandler writes them from its C signal handler: a process stuck in C
code, a gloo or TCPStore wait, dumps too), then SIGKILLs what is left and fails the
test with the end of that output. `stop_with_stacks` does the same for a `Popen` a
test manages itself.
"""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHOWN = 30000  # characters of output a failure shows (deep import stacks are long)
GRACE_S = 3.0  # seconds the aborted processes get to write their stacks


def watched_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with faulthandler on in every Python it starts."""
    return {**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"}


def no_core_files() -> None:
    """In the child before it starts: an aborted process writes no core file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def session_pids(sid: int) -> list[int]:
    """The live processes of session `sid` (the leader first; zombies left out), read
    from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # after the name: state, ppid, pgrp, session
            pids.append(int(stat.parent.name))
    return sorted(pids, key=lambda pid: pid != sid)


def abort_session(sid: int, grace_s: float | None = None) -> list[int]:
    """SIGABRT every process of session `sid` (each dumps its stacks), wait `grace_s`
    for the dumps, then SIGKILL whatever is left. Returns the pids signalled."""
    pids = session_pids(sid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGABRT)
        except ProcessLookupError:
            pass
    time.sleep(GRACE_S if grace_s is None else grace_s)
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def stop_with_stacks(proc: subprocess.Popen, what: str, output: str = "") -> None:
    """Fail the test: `proc` (started with `start_new_session=True`, `watched_env()` and
    `preexec_fn=no_core_files`)
    and every process it started are aborted with their stacks, then killed."""
    pids = abort_session(proc.pid)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # a grandchild outside the session holds the pipes
        out, err = "", ""
    text = output + (out or "") + (err or "")
    pytest.fail(f"{what} hung; stopped processes {pids} with their stacks "
                f"(last {SHOWN} characters of output):\n{text[-SHOWN:]}", pytrace=False)


def run_watched(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True, text=True, ...)`, but a command still
    running after `timeout` seconds fails the test with the stacks of all its processes."""
    kwargs["env"] = watched_env(kwargs.get("env"))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=no_core_files, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_with_stacks(proc, f"`{' '.join(cmd[:6])} ...` (timeout {timeout:g} s)")
        raise  # not reached: pytest.fail raises
    # The command has ended; processes it left behind (a rank whose parent died) must
    # not outlive the test: they would hold ports and CPU for the next one.
    leftovers = [pid for pid in session_pids(proc.pid) if pid != proc.pid]
    if leftovers:
        abort_session(proc.pid, grace_s=1.0)
        err += f"\n[watchdog] killed processes left behind: {leftovers}\n"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def python(*args: str) -> list[str]:
    """The command line `python *args` with this interpreter."""
    return [sys.executable, *args]
