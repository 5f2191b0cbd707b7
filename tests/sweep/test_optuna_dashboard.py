"""`optuna-dashboard` (the `tracking` extra) opens the study an Optuna sweep leaves:
a real sweep, then the real dashboard server on a loopback port, read through its
HTTP API (slow)."""

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fivestep.sweep.study import JOURNAL_NAME, storage_of

from ..cli import run_cli
from .test_sweeps_cli import QUIET

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@contextlib.contextmanager
def dashboard(storage: str):
    """`optuna-dashboard STORAGE --host 127.0.0.1 --port P`, as the README shows it."""
    # the `tracking` extra (make setup's default EXTRAS); missing, the server fails to start
    port = _free_port()
    exe = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen([str(exe), storage, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/meta")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise TimeoutError(f"optuna-dashboard did not answer on {base}") from None
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_optuna_dashboard_opens_the_sweeps_study(tmp_path):
    proc = run_cli(
        "train.py", "-m", "hparams_search=two_layer_optuna", "hydra.sweeper.params=null",
        "model.optimizer.lr=tag(log, interval(0.01, 1.0))", "hydra.sweeper.n_trials=3",
        "trainer.max_epochs=3", f"paths.log_dir={tmp_path}", *QUIET,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    journal = tmp_path / "train" / "sweeps" / "two_layer" / JOURNAL_NAME
    import optuna

    study = optuna.load_study(study_name="two_layer", storage=storage_of(str(journal)))
    with dashboard(str(journal)) as base:  # a file path: the dashboard reads it as a journal
        summaries = _get(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["two_layer"]
        detail = _get(f"{base}/api/studies/{summaries[0]['study_id']}")
        trials = detail["trials"]
        assert len(trials) == 3
        assert [t["state"] for t in trials] == ["Complete"] * 3
        shown = sorted(float(t["values"][0]) for t in trials)
        assert shown == pytest.approx(sorted(t.value for t in study.trials))
        assert {p["name"] for t in trials for p in t["params"]} == {"model.optimizer.lr"}
        with urllib.request.urlopen(f"{base}/dashboard", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
