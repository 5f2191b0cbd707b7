"""Open the MLflow UI of a local store in headless Chromium and save a screenshot.

    python scripts/check_mlflow.py                       # trains two_layer into a temp dir
    python scripts/check_mlflow.py --logdir logs --out docs/mlflow.png

Starts `scripts/mlflow_ui.sh` (what `make mlflow` runs: `mlflow server` on the SQLite
store `<logdir>/mlflow/mlflow.db`, 127.0.0.1 only) on a free port, waits until its
REST API lists the experiment's runs, opens a run's page in Chromium (by default its
Artifacts tab on the last probability chart the run logged) (Debian package
`chromium`, the same flags as `check_dashboard.py`) and writes a PNG. Exits non-zero,
naming the problem, when the server or Chromium does not answer in time. The server's
process group is always stopped.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dashboard():
    """`check_dashboard.py`: its free port and Chromium screenshot helpers."""
    spec = importlib.util.spec_from_file_location("check_dashboard",
                                                  ROOT / "scripts" / "check_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_json(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextlib.contextmanager
def mlflow_server(logdir: Path) -> Iterator[str]:
    """`scripts/mlflow_ui.sh` on `logdir` at a free loopback port, in its own process
    group; yields its base URL once `/health` answers, and always stops the group."""
    port = _dashboard().free_port()
    env = {**os.environ, "LOGDIR": str(logdir), "PORT": str(port), "HOST": "127.0.0.1"}
    server = subprocess.Popen(["bash", str(ROOT / "scripts" / "mlflow_ui.sh")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise TimeoutError(f"the MLflow server on {base} did not start") from None
                time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def wait_for_runs(base: str, experiment: str, count: int, timeout: float) -> list[dict]:
    """Poll the REST API until `experiment` has at least `count` runs; return them."""
    deadline = time.monotonic() + timeout
    name = urllib.parse.quote(experiment)
    while time.monotonic() < deadline:
        try:
            found = get_json(f"{base}/api/2.0/mlflow/experiments/get-by-name?"
                             f"experiment_name={name}")["experiment"]
            runs = get_json(f"{base}/api/2.0/mlflow/runs/search",
                            {"experiment_ids": [found["experiment_id"]]}).get("runs", [])
            if len(runs) >= count:
                return runs
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"MLflow at {base} listed fewer than {count} runs of {experiment!r}")


def last_chart(base: str, run_id: str) -> str:
    """The Artifacts tab on the run's last `plots/probabilities_epoch_NNN.png` (else the
    overview)."""
    listed = get_json(f"{base}/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=plots")
    charts = sorted(f["path"] for f in listed.get("files", [])
                    if Path(f["path"]).name.startswith("probabilities_epoch_"))
    return f"artifacts/{charts[-1]}" if charts else "overview"


def train_demo(logdir: Path, overrides: list[str]) -> None:
    """`python train.py experiment=two_layer logger=tensorboard_mlflow` into `logdir`."""
    subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "experiment=two_layer",
         "logger=tensorboard_mlflow", f"paths.log_dir={logdir}",
         "callbacks.progress_bar.refresh_rate=0", *overrides],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL, timeout=600,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, help="the logs/ holding mlflow/ (default: a demo)")
    parser.add_argument("--out", type=Path, default=Path("mlflow.png"))
    parser.add_argument("--experiment", default="two_layer")
    parser.add_argument("--page", default="auto",
                        help="the run page's tab: overview, artifacts/plots/roc.png, ...; "
                        "auto = the run's last probability chart")
    parser.add_argument("--size", default="1600x900", help="window WIDTHxHEIGHT")
    parser.add_argument("--wait-ms", type=int, default=20000, help="page load budget")
    parser.add_argument("overrides", nargs="*", help="train.py overrides for the demo run")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    dashboard = _dashboard()

    with tempfile.TemporaryDirectory() as tmp:
        logdir = args.logdir
        if logdir is None:
            logdir = Path(tmp) / "logs"
            train_demo(logdir, args.overrides)
        try:
            with mlflow_server(logdir.resolve()) as base:
                run = wait_for_runs(base, args.experiment, 1, timeout=120)[0]["info"]
                page = args.page if args.page != "auto" else last_chart(base, run["run_id"])
                url = (f"{base}/#/experiments/{run['experiment_id']}/runs/{run['run_id']}"
                       f"/{page}")
                dashboard.screenshot(url, args.out, width, height, args.wait_ms)
        except (TimeoutError, OSError, RuntimeError, subprocess.SubprocessError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    print(f"screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
