"""`logger=tensorboard_mlflow` end to end on a real local MLflow store (SQLite + an
artifact folder), read back through `MlflowClient` (slow: creating the store's tables
alone takes seconds); the real MLflow UI server on a loopback port (slow) and in
headless Chromium (browser). MLflow comes with the `tracking` extra, in `make setup`'s
default EXTRAS; it is imported inside the tests, not at collection, where it cost every
default-tier worker ~1.3 s for tests the default tier deselects."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fivestep.train import train

from ..conftest import ROOT, compose_config

PER_EPOCH = ["train/loss", "val/loss", "val/acc", "val/auroc", "val/f1", "val/acc_best"]


def _run(logs: Path, name: str, *overrides: str) -> tuple[Path, dict]:
    """`python train.py experiment=two_layer logger=tensorboard_mlflow ...`, in process,
    with every run of this module under one `logs/`."""
    out = logs / "train" / "runs" / name
    cfg = compose_config(
        ["experiment=two_layer", "logger=tensorboard_mlflow", "data.batch_size=20",
         "callbacks.probability_chart.every_n_epochs=2", "callbacks.progress_bar.refresh_rate=0",
         *overrides],
        out,
    )
    cfg.paths.log_dir = str(logs)
    return out, train(cfg)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """Two runs: `first` (3 epochs, resumed to 5 by `ckpt_path=last`) and `other` (2)."""
    logs = tmp_path_factory.mktemp("logs")
    first, _ = _run(logs, "first", "trainer.max_epochs=3")
    resumed_in, metrics = _run(logs, "resume", "trainer.max_epochs=5", "ckpt_path=last")
    other, _ = _run(logs, "other", "trainer.max_epochs=2", "model.optimizer.lr=0.05")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{logs}/mlflow/mlflow.db"
    return {"logs": logs, "first": first, "other": other, "metrics": metrics,
            "client": MlflowClient(tracking_uri=uri)}


def _runs(store: dict) -> dict:
    client = store["client"]
    experiment = client.get_experiment_by_name("two_layer")  # the experiment= choice
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    return {Path(r.data.tags["fivestep.run_dir"]).name: r for r in runs}


@pytest.mark.slow
def test_one_mlflow_run_per_training_run_and_the_resume_continues_it(store):
    runs = _runs(store)
    assert sorted(runs) == ["first", "other"]  # the resume added no third run
    assert all(r.info.status == "FINISHED" for r in runs.values())
    assert (store["logs"] / "mlflow" / "mlflow.db").is_file()


@pytest.mark.slow
def test_params_are_the_flat_config(store):
    runs = _runs(store)
    params = runs["first"].data.params
    assert params["model/optimizer"] == "SGD"
    assert float(params["model/optimizer/lr"]) == 0.1
    assert params["model/net/hidden1"] == "8"
    assert params["trainer/max_epochs"] == "3"  # the first value stays: params are write-once
    assert not any(k.startswith(("callbacks", "logger", "paths")) for k in params)
    assert float(runs["other"].data.params["model/optimizer/lr"]) == 0.05


@pytest.mark.slow
def test_every_metric_is_logged_once_per_epoch_across_the_resume(store):
    client, runs = store["client"], _runs(store)
    run_id = runs["first"].info.run_id
    for key in PER_EPOCH:
        history = client.get_metric_history(run_id, key)
        assert [m.step for m in history] == [2, 5, 8, 11, 14], key  # 3 steps an epoch, the last one
    acc = [m.value for m in client.get_metric_history(run_id, "val/acc")]
    assert all(0.0 <= v <= 1.0 for v in acc)
    assert runs["first"].data.metrics["test/acc"] == pytest.approx(store["metrics"]["test/acc"])
    other = runs["other"].info.run_id
    assert len(client.get_metric_history(other, "val/loss")) == 2


@pytest.mark.slow
def test_figures_are_artifacts_and_the_best_checkpoint_a_tag(store):
    client, runs = store["client"], _runs(store)
    run = runs["first"]
    names = sorted(Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots"))
    assert names == sorted(p.name for p in (store["first"] / "plots").glob("*.png"))
    assert {"loss_curves.png", "roc.png", "confusion_matrix.png",
            "probabilities_epoch_005.png"} <= set(names)
    local = Path(client.download_artifacts(run.info.run_id, "plots/roc.png", str(store["logs"])))
    assert local.read_bytes() == (store["first"] / "plots" / "roc.png").read_bytes()
    best = json.loads((store["first"] / "metrics.json").read_text())["best_checkpoint"]
    assert run.data.tags["best_checkpoint"] == str(Path(best).resolve())
    assert Path(run.data.tags["best_checkpoint"]).is_file()


def _ui_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_mlflow", ROOT / "scripts" /
                                                  "check_mlflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_mlflow_ui_server_serves_the_runs_on_loopback(store):
    script = _ui_script()
    with script.mlflow_server(store["logs"]) as base:
        assert base.startswith("http://127.0.0.1:")
        runs = script.wait_for_runs(base, "two_layer", 2, timeout=120)
        assert len(runs) == 2
        run_id = _runs(store)["first"].info.run_id
        history = script.get_json(
            f"{base}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=val/acc")
        assert [int(m["step"]) for m in history["metrics"]] == [2, 5, 8, 11, 14]
        listed = script.get_json(
            f"{base}/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=plots")
        assert any(f["path"] == "plots/roc.png" for f in listed["files"])


@pytest.mark.browser
def test_headless_chromium_renders_the_mlflow_ui(store, tmp_path):
    from PIL import Image

    shot = tmp_path / "mlflow.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_mlflow.py"), "--logdir",
         str(store["logs"]), "--out", str(shot), "--size", "1200x800"],
        capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 800)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 300  # not a blank page
