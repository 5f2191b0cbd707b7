"""Shared fixtures: the real configs from `configs/`, composed as `train.py` would."""

import copy
import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# One torch thread, here and in the processes tests start: the nets are tiny, and on a
# busy 2-core machine a second OpenMP thread waiting for a core costs more than it gives.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from fivestep.config.compose import compose_run_config, place_run

if TYPE_CHECKING:
    import lightning as L

# Collecting the tests imports torch, Lightning, Hydra and the rest (~8 s a worker): with
# the collector off, as the entry points load them (`fivestep.startup`), and what they
# loaded frozen once the tests are collected, out of every later pass.
gc.disable()


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.enable()
    gc.freeze()


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        gc.enable()  # pytest-xdist's controller: it collects nothing, its workers do


ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


_COMPOSED: dict[tuple[str, tuple[str, ...], str], DictConfig] = {}


def compose_config(
    overrides: list[str], out_dir: Path, config_name: str = "train"
) -> DictConfig:
    """Compose `configs/<config_name>.yaml` with `overrides`, writing into `out_dir`.

    A composition costs ~0.25 s, so one asked for again in this process is a copy of
    the first, placed in `out_dir` as `compose_run_config` places it."""
    key = (config_name, tuple(overrides), os.getcwd())  # Hydra records the cwd
    if key not in _COMPOSED:
        cfg = compose_run_config(CONFIGS, overrides, out_dir, config_name)
        _COMPOSED[key] = copy.deepcopy(cfg)
        return cfg
    return place_run(copy.deepcopy(_COMPOSED[key]), out_dir)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`make_cfg("experiment=two_layer", ...)` -> a composed config writing under tmp_path."""

    def make(*overrides: str, config_name: str = "train") -> DictConfig:
        return compose_config(list(overrides), tmp_path, config_name)

    yield make
    GlobalHydra.instance().clear()


def tiny_table(task: str, rows: int = 48, seed: int = 0) -> "L.LightningDataModule":
    """A small, learnable table for `task`, as a set-up `TabularDataModule`."""
    import numpy as np
    import pandas as pd

    from fivestep.data.tabular import TabularDataModule

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    score = x @ np.array([1.5, -1.0, 0.5, 0.0])
    y = {
        "binary": (score > 0).astype(int),
        "multiclass": np.digitize(score, [-0.7, 0.7]),
        "regression": score,
    }[task]
    frame = pd.DataFrame(x, columns=list("abcd")).assign(y=y)
    dm = TabularDataModule(frame=frame, target="y", task=task, val_fraction=0.25,
                           test_fraction=0.0)
    dm.setup("fit")
    return dm


def fit_epoch_losses(model: "L.LightningModule", datamodule, epochs: int) -> list[float]:
    """`trainer.fit` in process (no logger, checkpoints or progress bar); the
    `train/loss` of every epoch."""
    import lightning as L

    losses: list[float] = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            losses.append(trainer.callback_metrics["train/loss"].item())

    trainer = L.Trainer(
        accelerator="cpu", max_epochs=epochs, callbacks=[Record()], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,  # the train loss is all we read
    )
    trainer.fit(model, datamodule=datamodule)
    return losses


# A session fixture shared by the tests of eval, predict, export and checkpoints.
from .trained import table_run, two_layer_run  # noqa: E402, F401
