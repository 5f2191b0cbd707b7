"""A test whose processes hang fails within its timeout, with every process's stack."""

import textwrap

import pytest

from . import watchdog

# A parent that starts a child, then both wait forever in functions named for the test.
HANGS = textwrap.dedent("""
    import subprocess, sys, time
    child = "import time\\ndef stuck_child():\\n    time.sleep(600)\\nstuck_child()"
    subprocess.Popen([sys.executable, "-c", child])
    def stuck_parent():
        time.sleep(600)
    stuck_parent()
""")


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_a_hung_command_fails_fast_with_the_stacks_of_all_its_processes(monkeypatch):
    monkeypatch.setattr(watchdog, "GRACE_S", 0.5)
    with pytest.raises(pytest.fail.Exception) as failed:
        watchdog.run_watched(watchdog.python("-c", HANGS), timeout=1.5)
    message = str(failed.value)
    assert "hung; stopped processes" in message
    assert "stuck_parent" in message and "stuck_child" in message  # both stacks
    listed = message.split("stopped processes [", 1)[1].split("]", 1)[0]
    pids = [int(p) for p in listed.split(", ")]
    assert len(pids) == 2
    assert watchdog.session_pids(pids[0]) == []  # and both are gone (or zombies)


def test_a_finished_command_returns_its_output():
    done = watchdog.run_watched(watchdog.python("-c", "print('out')"), timeout=30)
    assert done.returncode == 0 and done.stdout == "out\n"
