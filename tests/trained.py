"""A finished two_layer run shared by the tests of what comes after training."""

from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from .conftest import compose_config


@pytest.fixture(scope="session")
def two_layer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a 3-epoch `two_layer` run in minibatches of 16 (checkpoints/ inside)."""
    from fivestep.train import train

    out = tmp_path_factory.mktemp("two_layer_run")
    cfg = compose_config(
        [
            "experiment=two_layer",
            "trainer.max_epochs=3",
            "data.batch_size=16",
            "callbacks.progress_bar.refresh_rate=0",
            "logger=[]",
        ],
        out,
    )
    train(cfg)
    GlobalHydra.instance().clear()
    return out
