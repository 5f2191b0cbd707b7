"""`fivestep.checkpointing.resume.prepare_resume` on the checkpoints of a real run:
which checkpoint continues its own run in place, what the returned config changes
(a copy; the caller's config is untouched), and the refusal of a missing file."""

import copy
import shutil

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from fivestep.checkpointing.resume import prepare_resume
from fivestep.errors import UserError

from ..conftest import compose_config


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """`experiment=two_layer` as composed for a new run (composing once for the file)."""
    cfg = compose_config(["experiment=two_layer"], tmp_path_factory.mktemp("new_run"))
    GlobalHydra.instance().clear()
    return cfg


@pytest.fixture
def make_cfg(composed):
    """`make_cfg(ckpt_path=..., train=...)`: a copy of the composed run with those set,
    as `ckpt_path=... train=...` on the command line would."""

    def make(**values):
        cfg = copy.deepcopy(composed)
        for key, value in values.items():
            cfg[key] = value
        return cfg

    return make


def test_without_ckpt_path_the_config_is_returned_as_is(make_cfg):
    cfg = make_cfg()
    out, resume = prepare_resume(cfg)
    assert out is cfg
    assert resume is None


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_a_runs_own_last_ckpt_continues_in_its_folder(two_layer_run, make_cfg, composed):
    last = two_layer_run / "checkpoints" / "last.ckpt"
    cfg = make_cfg(ckpt_path=str(last))
    before = OmegaConf.to_yaml(cfg)
    out, resume = prepare_resume(cfg)

    assert resume.in_place
    assert resume.path == last
    step = torch.load(last, weights_only=True)["global_step"]
    assert step == 3 * 4  # 3 epochs of 60 training rows in batches of 16
    assert resume.checkpoint["global_step"] == step
    assert out is not cfg
    assert out.paths.output_dir == str(two_layer_run.resolve())
    assert out.logger.tensorboard.purge_step == step
    # everything below the run folder follows it
    assert out.logger.tensorboard.save_dir == f"{two_layer_run.resolve()}/tensorboard"
    assert out.callbacks.last_checkpoint.dirpath == f"{two_layer_run.resolve()}/checkpoints"
    # the caller's config is as it was
    assert OmegaConf.to_yaml(cfg) == before
    assert cfg.paths.output_dir == composed.paths.output_dir
    assert "purge_step" not in cfg.logger.tensorboard


def test_a_best_epoch_checkpoint_starts_a_new_run_folder(two_layer_run, make_cfg, composed):
    (best,) = (two_layer_run / "checkpoints").glob("epoch_*.ckpt")
    cfg = make_cfg(ckpt_path=str(best))
    out, resume = prepare_resume(cfg)
    assert not resume.in_place
    assert resume.path == best
    assert out.paths.output_dir == composed.paths.output_dir
    assert "purge_step" not in out.logger.tensorboard


def test_a_copied_last_ckpt_starts_a_new_run_folder(two_layer_run, make_cfg, composed,
                                                    tmp_path):
    copied = tmp_path / "elsewhere" / "checkpoints" / "last.ckpt"
    copied.parent.mkdir(parents=True)
    shutil.copy(two_layer_run / "checkpoints" / "last.ckpt", copied)
    cfg = make_cfg(ckpt_path=str(copied))
    out, resume = prepare_resume(cfg)
    assert not resume.in_place
    assert out.paths.output_dir == composed.paths.output_dir


def test_train_false_tests_the_weights_without_moving_the_run(two_layer_run, make_cfg,
                                                              composed):
    last = two_layer_run / "checkpoints" / "last.ckpt"
    cfg = make_cfg(ckpt_path=str(last), train=False)
    out, resume = prepare_resume(cfg)
    assert not resume.in_place
    assert resume.path == last
    assert "state_dict" in resume.checkpoint
    assert out.paths.output_dir == composed.paths.output_dir
    assert "purge_step" not in out.logger.tensorboard


@pytest.mark.parametrize("train", [True, False])
def test_a_missing_checkpoint_is_refused_naming_it(make_cfg, tmp_path, train):
    missing = tmp_path / "nowhere" / "last.ckpt"
    cfg = make_cfg(ckpt_path=str(missing), train=train)
    with pytest.raises(UserError) as err:
        prepare_resume(cfg)
    assert str(err.value).startswith(f"ckpt_path={str(missing)!r}: no such file")


def test_a_logger_switched_off_with_null_does_not_stop_an_in_place_resume(
    two_layer_run, make_cfg
):
    """`logger=many_loggers logger.csv=null`: a fresh run builds only TensorBoard
    (`instantiate_all` skips the null entry); resuming it in place must too."""
    last = two_layer_run / "checkpoints" / "last.ckpt"
    cfg = make_cfg(ckpt_path=str(last))
    with open_dict(cfg):
        cfg.logger.csv = None
    out, resume = prepare_resume(cfg)
    assert resume.in_place
    assert out.logger.csv is None
    assert out.logger.tensorboard.purge_step == 3 * 4
