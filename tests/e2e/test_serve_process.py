"""`python serve.py` as a user runs it: the docs' curl example on a csv_example checkpoint
answers as `predict.py` does, and SIGTERM lets the requests in flight finish, exit 0."""

import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pandas as pd
import pytest

from ..conftest import ROOT
from ..trained import train_into

pytestmark = pytest.mark.slow  # a trained checkpoint and a server process: ~1 min


def docs_curl() -> str:
    """The curl command of docs/serving.md that the page says this test runs."""
    text = (ROOT / "docs" / "serving.md").read_text()
    block = text.split("tests/e2e/test_serve_process.py runs this command", 1)[1]
    return re.search(r"```bash\n(.*?)```", block, re.S).group(1).replace("\\\n", " ").strip()


@pytest.fixture(scope="module")
def csv_checkpoint(tmp_path_factory) -> Path:
    out = train_into(tmp_path_factory.mktemp("csv_example"), [
        "experiment=csv_example", f"data.path={ROOT / 'data' / 'csv_example.csv'}",
        "trainer.max_epochs=3", "callbacks.progress_bar.refresh_rate=0", "logger=[]",
    ])
    return out / "checkpoints" / "last.ckpt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, *overrides: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "serve.py", f"port={port}", f"paths.log_dir={tmp_path}", *overrides],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("serve.py did not answer /health within 300 s")


def test_docs_curl_answers_as_predict_py_and_sigterm_drains(csv_checkpoint, tmp_path, make_cfg):
    from fivestep.predict import predict

    command = docs_curl()
    body = json.loads(shlex.split(command)[shlex.split(command).index("-d") + 1])
    pd.DataFrame(body["rows"]).to_csv(tmp_path / "rows.csv", index=False)
    written = pd.read_csv(predict(make_cfg(
        f"ckpt_path={csv_checkpoint}", f"input={tmp_path / 'rows.csv'}",
        f"output={tmp_path / 'out.csv'}", config_name="predict")))

    # max_wait_ms=2000: a request waits that long for company, so they are in flight at SIGTERM
    process, url = _start(tmp_path, f"ckpt_path={csv_checkpoint}", "max_wait_ms=2000")
    try:
        if shutil.which("curl"):
            run = subprocess.run(shlex.split(command.replace("127.0.0.1:8000", url[7:])),
                                 capture_output=True, text=True, timeout=60)
            answer = json.loads(run.stdout)
        else:  # the same request without curl
            answer = httpx.post(f"{url}/predict", json=body, timeout=60).json()
        got = answer["predictions"]
        assert [a["prediction"] for a in got] == written["prediction"].tolist()
        for name in ("no", "yes"):
            np.testing.assert_array_equal(
                np.array([a["probabilities"][name] for a in got], dtype=np.float32),
                written[f"probability_{name}"].to_numpy(np.float32))
        assert got[1]["unseen"] == {"plan": "gold"}

        replies: list[int] = []
        connected = threading.Barrier(7)

        def ask() -> None:
            with httpx.Client(timeout=60) as client:
                client.get(f"{url}/health")  # connected before the clock starts
                connected.wait()
                replies.append(client.post(f"{url}/predict", json=body).status_code)

        clients = [threading.Thread(target=ask) for _ in range(6)]
        for c in clients:
            c.start()
        connected.wait(timeout=60)
        time.sleep(0.5)  # the requests are sent and wait in the batcher (up to 2 s)
        process.send_signal(signal.SIGTERM)
        for c in clients:
            c.join(timeout=60)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = process.stdout.read()
    assert replies == [200] * 6, log
    assert "Stopped by SIGTERM after the requests in flight" in log


def test_an_open_address_without_a_token_does_not_start(csv_checkpoint, tmp_path):
    run = subprocess.run(
        [sys.executable, "serve.py", f"ckpt_path={csv_checkpoint}", "host=0.0.0.0",
         f"paths.log_dir={tmp_path}", "token_env=FIVESTEP_TEST_NO_SUCH_TOKEN"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert run.stderr.startswith("error: host=0.0.0.0 accepts connections from other machines")
