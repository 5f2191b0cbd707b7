"""The tabular experiments end to end, in process: the regression keys, and the
fitted preprocessing saved in the checkpoint for a later predict."""

import shutil
import statistics

import pandas as pd
import pytest
import torch

from fivestep.data.tabular import TabularDataModule
from fivestep.train import train

from ..conftest import ROOT

REGRESSION_KEYS = {"train/loss", "val/loss", "val/mse", "val/mae", "val/r2", "val/r2_best",
                   "test/loss", "test/mse", "test/mae", "test/r2"}


@pytest.mark.slow  # >0.6 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_quartic_regression_logs_the_regression_keys(make_cfg):
    cfg = make_cfg("experiment=quartic_regression", "trainer.max_epochs=2", "logger=[]",
                   "callbacks=none")
    metrics = train(cfg)
    assert REGRESSION_KEYS <= set(metrics)
    assert cfg.model.task == "regression" and cfg.model.net.in_features == 20


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_csv_example_checkpoint_holds_the_preprocessing(make_cfg, tmp_path):
    cfg = make_cfg("experiment=csv_example", "trainer.max_epochs=2", "logger=[]",
                   "callbacks.progress_bar.refresh_rate=0")
    train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    state = ckpt["TabularDataModule"]
    assert state["label_names"] == ["no", "yes"] and state["target"] == "renewed"
    assert state["categorical"]["plan"] == ["basic", "plus", "pro"]
    restored = TabularDataModule(path="unused.csv")  # never set up: the checkpoint suffices
    restored.load_state_dict(state)
    raw = pd.read_csv(ROOT / "data" / "csv_example.csv")
    x = restored.transform(raw.drop(columns="renewed"))
    assert x.shape == (300, 10) and not torch.isnan(x).any()
    fresh = TabularDataModule(path=str(ROOT / "data" / "csv_example.csv"), target="renewed",
                              split_seed=cfg.seed)
    fresh.setup()
    order = torch.from_numpy(fresh.source_rows.astype("int64"))  # "all" is ordered by split
    torch.testing.assert_close(x[order], fresh.splits["all"][0])


@pytest.mark.slow
def test_breast_cancer_reaches_097_test_accuracy_over_five_seeds(make_cfg, tmp_path):
    accs = []
    for seed in range(5):
        cfg = make_cfg("experiment=breast_cancer", f"seed={seed}", "logger=[]",
                       "callbacks.progress_bar.refresh_rate=0")
        accs.append(train(cfg)["test/acc"])
        shutil.rmtree(tmp_path / "checkpoints")  # each seed tests its own best checkpoint
    assert statistics.mean(accs) >= 0.97, accs
