"""`fivestep.train.train(cfg)` end to end on the real configs, in process."""

import json
from pathlib import Path

import pytest
import torch

from fivestep.errors import UserError
from fivestep.train import train


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_fast_dev_run_trains_validates_and_tests(make_cfg, tmp_path):
    cfg = make_cfg("experiment=two_layer", "++trainer.fast_dev_run=true", "logger=[]")
    metrics = train(cfg)
    for key in ("train/loss", "val/loss", "val/acc", "val/auroc", "val/f1", "val/acc_best"):
        assert key in metrics
    for key in ("test/loss", "test/acc", "test/auroc", "test/f1"):
        assert key in metrics


def test_short_run_leaves_checkpoints_events_and_learns(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=two_layer",
        "trainer.max_epochs=30",
        "callbacks.progress_bar.refresh_rate=0",
    )
    metrics = train(cfg)
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and len(ckpts) == 2
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 29
    assert metrics["val/acc_best"] >= metrics["val/acc"]
    assert 0.0 <= metrics["test/acc"] <= 1.0
    written = json.loads((tmp_path / "metrics.json").read_text())  # what sweeps read back
    assert written["metrics"] == metrics
    assert Path(written["best_checkpoint"]).name in ckpts


def test_wrong_value_type_is_refused_by_name_before_training(make_cfg, tmp_path):
    cfg = make_cfg("experiment=two_layer", "trainer.max_epochs=abc")
    with pytest.raises(UserError, match=r"trainer\.max_epochs='abc'.*int"):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()


def test_wrong_type_inside_a_nested_target_is_named(make_cfg):
    cfg = make_cfg("experiment=two_layer", "model.net.hidden1=wide")
    with pytest.raises(UserError, match=r"model\.net\.hidden1='wide'"):
        train(cfg)


def test_output_dir_is_the_tmp_run_folder(make_cfg, tmp_path):
    cfg = make_cfg()
    assert Path(cfg.paths.output_dir) == tmp_path


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_train_false_tests_the_weights_of_ckpt_path(make_cfg, tmp_path):
    """`train=false ckpt_path=X` evaluates X's weights: the same test metrics as the
    trained run's own test of X (not freshly initialised weights)."""
    common = ["experiment=two_layer", "trainer.max_epochs=40", "logger=[]",
              "callbacks.progress_bar.refresh_rate=0"]
    trained_cfg = make_cfg(*common)
    trained = train(trained_cfg)
    best = json.loads((tmp_path / "metrics.json").read_text())["best_checkpoint"]
    fresh = train(make_cfg(*common, "train=false"))  # the initial weights, untrained
    tested = train(make_cfg(*common, "train=false", f"ckpt_path={best}"))
    for key in ("test/loss", "test/acc", "test/auroc"):
        assert tested[key] == pytest.approx(trained[key], abs=1e-6)
    assert fresh["test/loss"] != pytest.approx(trained["test/loss"], abs=1e-3)
    assert json.loads((tmp_path / "metrics.json").read_text())["best_checkpoint"] == best


def test_train_false_with_a_missing_ckpt_path_is_refused(make_cfg, tmp_path):
    missing = tmp_path / "nope.ckpt"
    cfg = make_cfg("experiment=two_layer", "train=false", f"ckpt_path={missing}", "logger=[]")
    with pytest.raises(UserError, match=r"ckpt_path='.*nope\.ckpt': no such file"):
        train(cfg)
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_a_table_run_scores_its_baselines_everywhere(make_cfg, tmp_path, caplog):
    """The tables' recipe on a CSV: the baselines sit beside the net's scores in the
    returned metrics, metrics.json and TensorBoard, and the log says what they cost."""
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.trained import table_frame

    table_frame(rows=200).to_csv(tmp_path / "t.csv", index=False)
    cfg = make_cfg("data=tabular", f"data.path={tmp_path / 't.csv'}", "data.target=label",
                   "trainer.max_epochs=2", "callbacks.progress_bar.refresh_rate=0")
    with caplog.at_level(logging.INFO, logger="fivestep.monitoring.baselines"):
        metrics = train(cfg)
    for name in ("majority", "linear"):
        for split in ("val", "test"):
            assert 0.0 <= metrics[f"baseline/{name}/{split}/acc"] <= 1.0
    assert metrics["baseline/linear/test/acc"] > metrics["baseline/majority/test/acc"]
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == metrics
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    scalar = events.Scalars("baseline/linear/test/acc")
    assert scalar[-1].value == pytest.approx(metrics["baseline/linear/test/acc"], abs=1e-6)
    assert "Baselines majority, linear fitted on 120 training rows in" in caplog.text
