"""Open the TensorBoard dashboard in headless Chromium and save a screenshot.

    python scripts/check_dashboard.py                      # trains two_layer into a temp dir
    python scripts/check_dashboard.py --logdir logs --out docs/dashboard.png

Starts `tensorboard` on a free loopback port (127.0.0.1 only), waits until its
scalars API lists the run's `train/loss`, loads the page in Chromium (Debian package
`chromium`) with a fresh profile and no background networking, and writes a PNG.
Exits non-zero, naming the problem, when TensorBoard or Chromium does not answer in
time. The processes it starts are always stopped.
"""

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
# Time Series tab, three cards; SVG charts (headless Chromium without a GPU draws
# TensorBoard's default WebGL line charts blank).
PAGE = "?forceSVG=true&tagFilter=probabilities%7Ctrain%2Floss%7Cval%2Facc%24#timeseries"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_tensorboard(logdir: Path, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("tensorboard")
    return subprocess.Popen(
        [str(exe), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
         "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def tensorboard_server(logdir: Path) -> Iterator[str]:
    """A `tensorboard` on `logdir` at a free loopback port; yields its base URL and
    always stops it."""
    port = free_port()
    server = start_tensorboard(logdir, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def wait_for_tag(base: str, tag: str, timeout: float) -> dict:
    """Poll `<base>/data/plugin/scalars/tags` until some run lists `tag`; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/data/plugin/scalars/tags", timeout=5) as r:
                runs = json.load(r)
            if any(tag in tags for tags in runs.values()):
                return runs
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"TensorBoard at {base} listed no run with {tag!r} in {timeout:.0f} s")


def screenshot(url: str, out: Path, width: int, height: int, wait_ms: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise FileNotFoundError("chromium not found; install it: apt-get install -y chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", f"--virtual-time-budget={wait_ms}",
             f"--screenshot={out.resolve()}", url],
            check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {out}")


def train_demo(logdir: Path, overrides: list[str]) -> None:
    """`python train.py experiment=two_layer` into `logdir` (the `make train` run)."""
    subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "experiment=two_layer",
         f"paths.log_dir={logdir}", "callbacks.progress_bar.refresh_rate=0", *overrides],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL, timeout=600,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, help="runs to serve (default: train a demo)")
    parser.add_argument("--out", type=Path, default=Path("dashboard.png"))
    parser.add_argument("--page", default=PAGE,
                        help="query and fragment of the URL, e.g. '#hparams'")
    parser.add_argument("--size", default="1600x900", help="window WIDTHxHEIGHT")
    parser.add_argument("--wait-ms", type=int, default=15000, help="page load budget")
    parser.add_argument("overrides", nargs="*", help="train.py overrides for the demo run")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        logdir = args.logdir
        if logdir is None:
            logdir = Path(tmp) / "logs"
            train_demo(logdir, args.overrides)
        try:
            with tensorboard_server(logdir) as base:
                wait_for_tag(base, "train/loss", timeout=90)
                screenshot(f"{base}/{args.page}", args.out, width, height, args.wait_ms)
        except (TimeoutError, OSError, RuntimeError, subprocess.SubprocessError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    print(f"screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
