"""Shared fixtures: the real configs from `configs/`, composed as `train.py` would."""

import os
from collections.abc import Callable
from pathlib import Path

# One torch thread, here and in the processes tests start: the nets are tiny, and on a
# busy 2-core machine a second OpenMP thread waiting for a core costs more than it gives.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict, read_write

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def compose_config(
    overrides: list[str], out_dir: Path, config_name: str = "train"
) -> DictConfig:
    """Compose `configs/<config_name>.yaml` with `overrides`, writing into `out_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    with read_write(cfg), open_dict(cfg):
        cfg.paths.log_dir = str(out_dir / "logs")
        cfg.paths.output_dir = str(out_dir)
        cfg.hydra.runtime.output_dir = str(out_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`make_cfg("experiment=two_layer", ...)` -> a composed config writing under tmp_path."""

    def make(*overrides: str, config_name: str = "train") -> DictConfig:
        return compose_config(list(overrides), tmp_path, config_name)

    yield make
    GlobalHydra.instance().clear()
