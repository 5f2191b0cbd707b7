"""Every config group option and every experiment composes, and its objects build."""

import lightning as L
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fivestep.config.sizes import sized_from_data
from fivestep.errors import UserError
from fivestep.train import build, instantiate_all

from ..conftest import CONFIGS


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def build_data_and_model(cfg) -> tuple[L.LightningDataModule, L.LightningModule]:
    """The datamodule, set up, and the model sized from it, as `fivestep.train` does."""
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    return datamodule, build(cfg.model)


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("experiment", _options("experiment"))
def test_experiment_composes_and_instantiates(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}")
    datamodule, model = build_data_and_model(cfg)
    assert isinstance(datamodule, L.LightningDataModule)
    assert isinstance(model, L.LightningModule)
    assert model.task == datamodule.task
    assert all(isinstance(c, L.Callback) for c in instantiate_all(cfg.callbacks))


# Options that need more than the defaults: the fix their refusal names.
NEEDS = {
    ("data", "tabular"): "give exactly one source",
    ("model/optimizer", "sparse_adam"): "SparseAdam updates only parameters with sparse",
    ("model/net", "cnn"): r"takes images x: \(rows, channels, height, width\), but this "
                          r"data's x is a table \(rows, 5\); pick a net for tables",
}


@pytest.mark.parametrize(
    "group",
    ["data", "model/net", "model/optimizer", "model/scheduler", "model/metrics", "callbacks",
     "logger", "debug"],
)
@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_every_option_of_a_group_composes(make_cfg, group):
    options = _options(group)
    assert options, f"configs/{group} is empty"
    for option in options:
        cfg = make_cfg(f"{group}={option}")
        if group == "logger" and "mlflow" in option:
            # importing mlflow and creating its store take seconds: the MLflow logger is
            # built and read back in the slow tier (tests/e2e/test_mlflow.py)
            targets = [node._target_ for node in cfg.logger.values()]
            assert "lightning.pytorch.loggers.MLFlowLogger" in targets
        elif group in ("callbacks", "logger"):
            instantiate_all(cfg.get(group))
        elif (group, option) in NEEDS:
            with pytest.raises(UserError, match=NEEDS[group, option]):
                build_data_and_model(cfg)
        elif group != "debug":
            _, model = build_data_and_model(cfg)
            if group.startswith("model/"):
                model.configure_optimizers()


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("option", _options("trainer"))
def test_every_trainer_composes(make_cfg, option):
    cfg = make_cfg(f"trainer={option}")
    expected = {"gpu": "gpu", "ddp": "gpu", "mps": "mps"}.get(option, "cpu")
    assert cfg.trainer.accelerator == expected
    if expected == "cpu":  # the others need their hardware to instantiate
        trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert trainer.num_devices == (2 if option == "ddp_sim" else 1)


def test_known_override_names_exist(make_cfg):
    cfg = make_cfg(
        "experiment=two_layer",
        "model.optimizer.lr=0.005",
        "data.batch_size=16",
        "trainer.max_epochs=3",
        "seed=7",
        "ckpt_path=null",
        "tags=[a,b]",
        "train=false",
        "test=false",
        "logger=csv",
        "++trainer.fast_dev_run=true",
    )
    assert cfg.model.optimizer.lr == 0.005
    assert cfg.data.batch_size == 16
    assert cfg.trainer.max_epochs == 3 and cfg.trainer.fast_dev_run is True
    assert list(cfg.logger) == ["csv"]


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("name", ["train", "eval", "predict", "export", "serve"])
def test_hydra_part_of_every_entry_config_resolves(make_cfg, name):
    # Hydra resolves its own callbacks at start-up; a key missing from one entry's
    # config (e.g. `optimized_metric` outside train.yaml) would stop that command.
    cfg = make_cfg(config_name=name)
    callbacks = OmegaConf.to_container(cfg.hydra.callbacks, resolve=True)
    assert callbacks["sweep_summary"]["metric"] == cfg.get("optimized_metric")
