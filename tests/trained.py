"""Finished runs shared by the tests of what comes after training."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra

from .conftest import compose_config


def train_into(out: Path, overrides: list[str]) -> Path:
    """Train with the real configs and `overrides`, writing the run into `out`."""
    from fivestep.train import train

    train(compose_config(overrides, out))
    GlobalHydra.instance().clear()
    return out


@pytest.fixture(scope="session")
def two_layer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a 3-epoch `two_layer` run in minibatches of 16 (checkpoints/ inside)."""
    return train_into(
        tmp_path_factory.mktemp("two_layer_run"),
        [
            "experiment=two_layer",
            "trainer.max_epochs=3",
            "data.batch_size=16",
            "callbacks.progress_bar.refresh_rate=0",
            "logger=[]",
        ],
    )


def table_frame(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """A table with numeric and categorical features and a text label."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], size=rows)
    score = 1.5 * a - b + np.where(color == "red", 1.0, -0.5)
    label = np.where(score > 0, "yes", "no")
    return pd.DataFrame({"a": a, "b": b, "color": color, "label": label})


@pytest.fixture(scope="session")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a 3-epoch run on a CSV table (`table.csv` beside it)."""
    out = tmp_path_factory.mktemp("table_run")
    table_frame().to_csv(out / "table.csv", index=False)
    return train_into(
        out,
        [
            "data=tabular",
            f"data.path={out / 'table.csv'}",
            "data.target=label",
            "data.batch_size=32",
            "model/optimizer=adam",
            "model.optimizer.lr=0.05",
            "trainer.max_epochs=3",
            "callbacks.progress_bar.refresh_rate=0",
            "logger=[]",
        ],
    )
