"""The run config as `train.py` would compose it, for code that runs outside Hydra's
command line (the tests and the scripts under `scripts/`)."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict, read_write


def compose_run_config(
    config_dir: Path, overrides: list[str], out_dir: Path, config_name: str = "train"
) -> DictConfig:
    """Compose `<config_dir>/<config_name>.yaml` with `overrides` as a run writing into
    `out_dir` (logs under `out_dir/logs`), and register it as the current Hydra config
    (what `hydra.main` does), so code reading `HydraConfig` sees this run."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir)):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    return place_run(cfg, out_dir)


def place_run(cfg: DictConfig, out_dir: Path) -> DictConfig:
    """Set a composed run config (with its `hydra` node) to write into `out_dir` (logs
    under `out_dir/logs`) and register it as the current Hydra config; `cfg`, changed.
    Registering makes the `hydra` node read-only, so a copy of a placed config can be
    placed again."""
    with read_write(cfg), read_write(cfg.hydra), open_dict(cfg):
        cfg.paths.log_dir = str(Path(out_dir) / "logs")
        cfg.paths.output_dir = str(out_dir)
        cfg.hydra.runtime.output_dir = str(out_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg
