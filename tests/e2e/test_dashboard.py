"""The dashboard as a person opens it: a real `tensorboard` server on a loopback port
(slow), and the page in headless Chromium (browser: needs Debian's `chromium`)."""

import contextlib
import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from fivestep.train import train

from ..conftest import ROOT, compose_config

PER_EPOCH = ["train/loss", "train/lr", "val/loss", "val/acc", "val/auroc", "val/f1",
             "val/acc_best"]
TEST = ["test/loss", "test/acc", "test/auroc", "test/f1"]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """A `logs/` folder holding one 4-epoch two_layer run."""
    logs = tmp_path_factory.mktemp("logs")
    run = logs / "train" / "runs" / "short"
    cfg = compose_config(
        ["experiment=two_layer", "trainer.max_epochs=4",
         "callbacks.probability_chart.every_n_epochs=2", "callbacks.progress_bar.refresh_rate=0"],
        run,
    )
    train(cfg)
    return logs


def _get(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _dashboard_script():
    """`scripts/check_dashboard.py` as a module: its server helpers serve the tests too."""
    spec = importlib.util.spec_from_file_location(
        "check_dashboard", ROOT / "scripts" / "check_dashboard.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _tensorboard(logdir: Path) -> Iterator[str]:
    """A real `tensorboard` server on `logdir` (its default data loader); yields its URL
    once its scalars API lists a run with `train/loss`."""
    script = _dashboard_script()
    with script.tensorboard_server(logdir) as base:
        script.wait_for_tag(base, "train/loss", timeout=90)
        yield base


@pytest.mark.slow
def test_tensorboard_serves_the_runs_scalars_images_and_hparams(logdir):
    with _tensorboard(logdir) as base:
        runs = _get(f"{base}/data/plugin/scalars/tags")
        run = "train/runs/short/tensorboard"
        assert list(runs) == [run]
        assert set(runs[run]) >= set(PER_EPOCH + TEST)
        images = _get(f"{base}/data/plugin/images/tags")[run]
        assert set(images) == {"figures/probabilities", "figures/loss_curves", "figures/roc",
                               "figures/confusion_matrix"}
        points = _get(f"{base}/data/plugin/scalars/scalars?run={run}&tag=val/acc_best")
        assert [p[1] for p in points] == [0, 1, 2, 3]  # (wall time, step, value)
        experiment = _get(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
        hparams = {h["name"] for h in experiment["hparamInfos"]}
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"model/optimizer", "model/optimizer/lr", "trainer/max_epochs"} <= hparams
        assert set(PER_EPOCH + TEST) <= metrics


@pytest.mark.slow
def test_tensorboard_drops_what_a_killed_run_logged_after_its_checkpoint(tmp_path):
    """A resumed run restarts at its checkpoint's step; the real server shows each step
    once, the resumed values from there on."""
    from lightning.pytorch.loggers import TensorBoardLogger

    killed = TensorBoardLogger(str(tmp_path / "run"), name="", version="")
    for step in range(6):
        killed.log_metrics({"train/loss": float(step)}, step=step)
    killed.finalize("failed")
    time.sleep(1.1)  # event file names carry the second they were made
    # the checkpoint was at step 3: the writer's purge_step, as prepare_resume sets it
    resumed = TensorBoardLogger(str(tmp_path / "run"), name="", version="", purge_step=3)
    for step in range(3, 5):
        resumed.log_metrics({"train/loss": 10.0 + step}, step=step)
    resumed.finalize("success")
    with _tensorboard(tmp_path) as base:
        points = _get(f"{base}/data/plugin/scalars/scalars?run=run&tag=train/loss")
    assert [(p[1], p[2]) for p in points] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 13.0),
                                              (4, 14.0)]


@pytest.mark.browser
def test_headless_chromium_renders_the_dashboard(logdir, tmp_path):
    shot = tmp_path / "dashboard.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_dashboard.py"), "--logdir", str(logdir),
         "--out", str(shot), "--size", "1200x800", "--wait-ms", "20000"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 800)
        rgb = image.convert("RGB")
        red, green, blue = rgb.getpixel((600, 10))  # TensorBoard's orange header bar
        assert red > 200 and 80 < green < 160 and blue < 60
        assert len(rgb.getcolors(maxcolors=1 << 20)) > 500  # a rendered page, not a blank
