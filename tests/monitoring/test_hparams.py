"""`fivestep.monitoring.hparams`: the flat hyperparameters of a composed config, and
what `log_hparams` leaves for a reader: TensorBoard's own event reader finds the
HParams session-start record with the same values, and each logger's hparams.yaml."""

import pytest
import yaml
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from fivestep.monitoring.hparams import flat_hparams, log_hparams

PARAMS = {"model/optimizer": "SGD", "model/optimizer/lr": 0.1, "model/net/hidden1": 8,
          "train": True, "tags": "['a', 'b']", "ckpt_path": "None"}


def test_flat_hparams_of_a_composed_run(make_cfg):
    flat = flat_hparams(make_cfg("experiment=two_layer", "model.optimizer.lr=0.05"))
    assert flat["model"] == "System"  # a _target_ as its class name, at its node's key
    assert flat["model/optimizer"] == "SGD"
    assert flat["model/optimizer/lr"] == 0.05
    assert flat["model/net"] == "TwoLayerNet"
    assert flat["model/net/hidden1"] == 8 and flat["model/net/hidden2"] == 4
    assert flat["data"] == "SyntheticDataModule"
    assert flat["data/split_seed"] == 0  # `${seed}`, resolved
    assert flat["data/batch_size"] == "None"  # None as a string
    assert flat["tags"] == "['two_layer', 'seed']"  # a list as a string
    assert flat["train"] is True
    assert flat["trainer/max_epochs"] == 200
    assert not [k for k in flat if k.split("/")[0] in ("paths", "callbacks", "logger", "hydra")]
    assert "trainer/default_root_dir" not in flat
    assert not [k for k in flat if k.endswith(("_target_", "_partial_"))]
    assert all(isinstance(v, bool | int | float | str) for v in flat.values())


def test_flat_hparams_walks_nested_nodes():
    cfg = OmegaConf.create({
        "seed": 1,
        "model": {"_target_": "pkg.mod.Model", "width": "${seed}",
                  "opt": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01,
                          "betas": [0.9, 0.99]}},
        "plain": {"a": {"b": None}},
        "paths": {"output_dir": "/x"},
        "logger": {"tb": {"_target_": "T"}},
        "trainer": {"max_epochs": 2, "default_root_dir": "/x"},
    })
    assert flat_hparams(cfg) == {
        "seed": 1,
        "model": "Model",
        "model/width": 1,
        "model/opt": "Adam",
        "model/opt/lr": 0.01,
        "model/opt/betas": "[0.9, 0.99]",
        "plain/a/b": "None",
        "trainer/max_epochs": 2,
    }


def test_flat_hparams_does_not_read_the_hydra_node():
    # `hydra` holds values that only resolve inside a Hydra run
    cfg = OmegaConf.create({"seed": 1, "hydra": {"dir": "${hydra:runtime.output_dir}"}})
    assert flat_hparams(cfg) == {"seed": 1}


def session_start_values(log_dir) -> dict:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    assert metadata.SESSION_START_INFO_TAG in content
    info = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG]
    )
    return {
        name: (value.WhichOneof("kind"), getattr(value, value.WhichOneof("kind")))
        for name, value in info.hparams.items()
    }


def test_log_hparams_opens_a_tensorboard_session_with_the_values(tmp_path):
    tensorboard = TensorBoardLogger(tmp_path / "tb", name=None, version="",
                                    default_hp_metric=False)
    csv = CSVLogger(tmp_path / "csv", name=None, version="")
    log_hparams([tensorboard, csv], PARAMS)
    tensorboard.save()
    tensorboard.experiment.flush()
    csv.save()

    values = session_start_values(tensorboard.log_dir)
    assert values == {
        "model/optimizer": ("string_value", "SGD"),
        "model/optimizer/lr": ("number_value", pytest.approx(0.1)),
        "model/net/hidden1": ("number_value", 8.0),
        "train": ("bool_value", True),
        "tags": ("string_value", "['a', 'b']"),
        "ckpt_path": ("string_value", "None"),
    }
    # every logger also keeps the values as hparams.yaml
    for logger in (tensorboard, csv):
        with open(f"{logger.log_dir}/hparams.yaml") as f:
            assert yaml.safe_load(f) == PARAMS


def test_log_hparams_without_a_tensorboard_logger_writes_no_event_file(tmp_path):
    csv = CSVLogger(tmp_path, name=None, version="")
    log_hparams([csv], {"seed": 3})
    csv.save()
    assert not list(tmp_path.rglob("events.out.tfevents.*"))
    assert yaml.safe_load((tmp_path / "hparams.yaml").read_text()) == {"seed": 3}
