"""`fivestep.checkpointing.run_state`: the random generators' states round-trip, the
stored config is plain and resolved without `hydra`, and what `RunState` adds to a
checkpoint loads back with `torch.load(weights_only=True)`."""

import random

import numpy as np
import torch
from omegaconf import OmegaConf

from fivestep.checkpointing.run_state import (
    KEY,
    RunState,
    capture_rng,
    plain_config,
    restore_rng,
)


def draws() -> tuple[list[float], list[float], list[float], float]:
    """A few numbers from each generator a run draws from (Python's gauss too)."""
    return (
        [random.random() for _ in range(3)],
        np.random.rand(3).tolist(),
        torch.rand(3).tolist(),
        random.gauss(0.0, 1.0),
    )


def test_draws_after_restore_equal_draws_after_capture():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0.0, 1.0)  # leaves a cached second normal in Python's state
    np.random.standard_normal()  # and in NumPy's
    state = capture_rng()
    expected = draws()
    draws()  # the generators move on
    restore_rng(state)
    assert draws() == expected


def test_the_state_is_plain_data_that_survives_a_weights_only_load(tmp_path):
    torch.manual_seed(7)
    state = capture_rng()
    assert set(state) >= {"python", "numpy", "torch"}
    expected = draws()
    torch.save(state, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)
    restore_rng(loaded)
    assert draws() == expected


def test_plain_config_resolves_and_drops_hydra():
    cfg = OmegaConf.create({
        "name": "run",
        "paths": {"root": "/data", "out": "${paths.root}/out"},
        "model": {"lr": 0.1, "copy": "${model.lr}", "hidden": [8, 4]},
        "seed": 3,
        "hydra": {"sweep": {"dir": "${hydra:runtime.output_dir}"}},  # resolves only in Hydra
    })
    plain = plain_config(cfg)
    assert plain == {
        "name": "run",
        "paths": {"root": "/data", "out": "/data/out"},
        "model": {"lr": 0.1, "copy": 0.1, "hidden": [8, 4]},
        "seed": 3,
    }
    assert type(plain["model"]) is dict and type(plain["model"]["hidden"]) is list


def test_plain_config_of_a_composed_run(make_cfg, tmp_path):
    cfg = make_cfg("experiment=two_layer")
    plain = plain_config(cfg)
    assert "hydra" not in plain
    assert plain["paths"]["output_dir"] == str(tmp_path)  # the interpolation, resolved
    assert plain["logger"]["tensorboard"]["save_dir"] == f"{tmp_path}/tensorboard"
    assert plain["model"]["optimizer"]["_target_"] == "torch.optim.SGD"
    assert OmegaConf.to_container(OmegaConf.create(plain)) == plain  # plain data only


def test_on_save_checkpoint_adds_config_choices_and_rng(make_cfg, tmp_path):
    cfg = make_cfg("experiment=two_layer")
    callback = RunState(cfg)
    cfg.seed = 999  # a later change does not leak into the stored config
    checkpoint = {"state_dict": {"w": torch.ones(2)}, "global_step": 4}
    torch.manual_seed(11)
    callback.on_save_checkpoint(None, None, checkpoint)
    expected = draws()

    torch.save(checkpoint, tmp_path / "run.ckpt")
    loaded = torch.load(tmp_path / "run.ckpt", weights_only=True)
    record = loaded[KEY]
    assert set(record) == {"config", "choices", "rng"}
    assert record["config"]["seed"] == 0  # the experiment's seed, as composed
    assert record["config"]["paths"]["output_dir"] == str(tmp_path)
    assert "hydra" not in record["config"]
    assert record["choices"]["experiment"] == "two_layer"
    assert record["choices"]["data"] == "synthetic"
    assert loaded["global_step"] == 4  # Lightning's own entries untouched

    restore_rng(record["rng"])
    assert draws() == expected


def test_on_load_checkpoint_restores_the_generators_at_the_next_epoch_start():
    callback = RunState(OmegaConf.create({"seed": 1}))
    torch.manual_seed(5)
    checkpoint: dict = {}
    callback.on_save_checkpoint(None, None, checkpoint)
    expected = draws()

    callback.on_load_checkpoint(None, None, checkpoint)
    torch.manual_seed(6)  # what the resumed process does before its first epoch
    callback.on_train_epoch_start(None, None)
    assert draws() == expected
    torch.manual_seed(6)
    callback.on_train_epoch_start(None, None)  # only once: later epochs draw on
    assert draws() != expected
