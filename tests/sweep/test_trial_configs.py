"""`trial_configs`: a batch's job configs composed once equal Hydra's own
`load_sweep_config`, key for key (the hydra node included); a trial that chooses
another config group is composed by Hydra."""

import copy
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from fivestep.sweep.configs import trial_configs

ROOT = Path(__file__).resolve().parents[2]
FIXED = ["experiment=two_layer", "logger=[]", "callbacks.progress_bar.refresh_rate=0"]


@pytest.fixture
def loader_and_master():
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "train", ["hydra/sweeper=optuna", "hydra.sweeper.members=true", *FIXED],
            run_mode=RunMode.MULTIRUN)
        yield loader, master
    GlobalHydra.instance().clear()


def _as_dict(cfg):
    return OmegaConf.to_container(cfg, resolve=False)


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_value_trials_equal_hydras_own_configs(loader_and_master):
    loader, master = loader_and_master
    batch = [FIXED + [f"model.optimizer.lr={lr}", f"data.batch_size={bs}",
                      f"model.net.hidden1={h}"]
             for lr, bs, h in ((0.01, 8, 12), (0.3, "null", 4), (0.01, 16, 12), (0.5, 8, 32))]
    composed = [copy.deepcopy(c) for c in trial_configs(loader, master, batch)]
    expected = [loader.load_sweep_config(master, list(b)) for b in batch]
    assert [c.model.optimizer.lr for c in composed] == [0.01, 0.3, 0.01, 0.5]
    assert [c.data.batch_size for c in composed] == [8, None, 16, 8]
    for ours, hydras in zip(composed, expected, strict=True):
        assert _as_dict(ours) == _as_dict(hydras)
        assert ours.hydra.overrides.task == hydras.hydra.overrides.task
        assert ours.hydra.job.override_dirname == hydras.hydra.job.override_dirname
        assert OmegaConf.is_readonly(ours.hydra) == OmegaConf.is_readonly(hydras.hydra)
        with pytest.raises(Exception, match="not_a_key"):  # struct mode, as Hydra's
            ours.not_a_key  # noqa: B018


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_a_trial_choosing_another_group_is_composed_by_hydra(loader_and_master):
    loader, master = loader_and_master
    batch = [FIXED + ["model/optimizer=sgd", "model.optimizer.lr=0.01"],
             FIXED + ["model/optimizer=adam", "model.optimizer.lr=0.02"]]
    composed = [copy.deepcopy(c) for c in trial_configs(loader, master, batch)]
    expected = [loader.load_sweep_config(master, list(b)) for b in batch]
    assert "Adam" in composed[1].model.optimizer._target_
    for ours, hydras in zip(composed, expected, strict=True):
        assert _as_dict(ours) == _as_dict(hydras)


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_one_config_in_turn_restores_the_first_trials_values_as_written(loader_and_master):
    """Value-only trials are one config set to each trial's values in turn: a value a
    trial leaves as the first trial had it is the first's again, an interpolation
    unresolved."""
    loader, master = loader_and_master
    batch = [FIXED + ["model.optimizer.lr=0.1", "data.split_seed=${seed}"],
             FIXED + ["model.optimizer.lr=0.2", "data.split_seed=5"],
             FIXED + ["model.optimizer.lr=0.3", "data.split_seed=${seed}"]]
    seen = []
    for cfg, lines in zip(trial_configs(loader, master, batch), batch, strict=True):
        seen.append(id(cfg))
        raw = OmegaConf.to_container(cfg.data, resolve=False)["split_seed"]
        hydras = loader.load_sweep_config(master, list(lines))
        assert raw == OmegaConf.to_container(hydras.data, resolve=False)["split_seed"]
        assert _as_dict(cfg) == _as_dict(hydras)
    assert len(seen) == 3 and len(set(seen)) == 1  # one object, three trials
