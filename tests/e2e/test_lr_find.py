"""`lr_find=true`: Lightning's finder before fit, on the real configs, in process."""

import logging
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from fivestep.train import train
from fivestep.tuning import unusable


@pytest.mark.slow  # a finder run and a fit: seconds
def test_breast_cancer_trains_with_the_suggestion_everywhere_it_is_recorded(make_cfg, tmp_path):
    cfg = make_cfg("experiment=breast_cancer", "lr_find=true", "trainer.max_epochs=3",
                   "callbacks.progress_bar.refresh_rate=0",
)
    train(cfg)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    lr = last["fivestep"]["config"]["model"]["optimizer"]["lr"]  # the config the run used
    assert lr != 0.01 and 1e-5 < lr < 1.0  # the experiment's 0.01 replaced by the finder's
    assert (tmp_path / "plots" / "lr_find.png").stat().st_size > 1000
    assert last["epoch"] == 2  # the range test took none of the run's 3 epochs
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(lr)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert [e.step for e in events.Images("figures/lr_find")] == [0]
    content = events.PluginTagToContent("hparams")[metadata.SESSION_START_INFO_TAG]
    hp = metadata.parse_session_start_info_plugin_data(content).hparams
    assert hp["model/optimizer/lr"].number_value == pytest.approx(lr)


@pytest.mark.slow  # the default tier's breast_cancer run is full-batch too
def test_full_batch_two_layer_says_its_flat_curve_gives_no_suggestion(make_cfg, tmp_path,
                                                                       caplog):
    cfg = make_cfg("experiment=two_layer", "lr_find=true", "trainer.max_epochs=1",
                   "logger=[]", "callbacks=none", "test=false")
    with caplog.at_level(logging.WARNING, logger="fivestep.tuning"):
        train(cfg)
    assert cfg.model.optimizer.lr == 0.1  # unchanged
    (record,) = [r for r in caplog.records if r.name == "fivestep.tuning"]
    assert "no usable suggestion" in record.getMessage()
    assert "flat curve" in record.getMessage()
    assert (tmp_path / "plots" / "lr_find.png").is_file()  # the curve, to see why


def test_unusable_names_the_reason():
    falling = [1.0 - i / 200 for i in range(100)]
    assert unusable(falling, 1e-3) is None
    assert "no steepest descent" in unusable(falling, None)
    assert "no steepest descent" in unusable(falling, math.nan)
    flat = [0.69] * 60 + [0.69 - i / 10_000 for i in range(40)]
    assert "flat curve" in unusable(flat, 0.5)
    assert "finite points" in unusable([0.5] * 10 + [math.inf] * 5, 0.1)


def test_a_resumed_run_does_not_search_again(make_cfg):
    from fivestep.tuning import find_lr

    cfg = make_cfg("experiment=two_layer", "lr_find=true")
    assert find_lr(cfg, trainer=None, model=None, datamodule=None, resuming=True) is cfg
    assert cfg.model.optimizer.lr == 0.1


@pytest.mark.slow  # a finder run and a fit: seconds
def test_manual_optimization_is_said_and_left_alone(make_cfg, caplog):
    from fivestep.config.instantiate import build
    from fivestep.config.sizes import sized_from_data
    from fivestep.tuning import find_lr

    cfg = make_cfg("experiment=breast_cancer", "lr_find=true", "model.step_batch_size=64")
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    model = build(cfg.model)
    assert not model.automatic_optimization
    with caplog.at_level(logging.WARNING, logger="fivestep.tuning"):
        assert find_lr(cfg, trainer=None, model=model, datamodule=datamodule) is cfg
    assert "only drives automatic optimization" in caplog.text
    assert cfg.model.optimizer.lr == 0.01
