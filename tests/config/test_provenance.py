"""Swapping a group under an experiment: a key the experiment set for its own net is
named with the file that set it and the `~key` overrides that drop it."""

import pytest

from fivestep.config.checks import check_types
from fivestep.errors import UserError
from fivestep.train import train

from ..cli import run_cli


def test_an_experiments_net_keys_under_another_net_name_the_file_and_the_fix(make_cfg):
    with pytest.raises(UserError) as err:
        check_types(make_cfg("experiment=breast_cancer", "model/net=two_layer"))
    assert str(err.value) == (
        "model.net.hidden is not an argument of fivestep.models.nets.TwoLayerNet (its "
        "arguments: hidden1, hidden2, in_features, out_features); model.net.hidden and "
        "model.net.dropout were set by configs/experiment/breast_cancer.yaml "
        "(experiment=breast_cancer, which assumes model/net=mlp): add '~model.net.hidden' "
        "'~model.net.dropout' to the command line to drop them"
    )


def test_a_key_the_user_typed_is_still_called_a_typo(make_cfg):
    with pytest.raises(UserError) as err:
        check_types(make_cfg("model/net=two_layer", "+model.net.hiddn=3"))
    assert str(err.value).endswith("; remove model.net.hiddn or correct its name")


def test_the_experiment_header_command_runs(make_cfg):
    # configs/experiment/breast_cancer.yaml's header (and docs/extending.md):
    # python train.py experiment=breast_cancer model/net=two_layer \
    #     '~model.net.hidden' '~model.net.dropout'
    cfg = make_cfg("experiment=breast_cancer", "model/net=two_layer", "~model.net.hidden",
                   "~model.net.dropout", "trainer.max_epochs=1", "logger=[]", "callbacks=none")
    metrics = train(cfg)
    assert cfg.model.net._target_ == "fivestep.models.nets.TwoLayerNet"
    assert cfg.model.net.in_features == 30 and "test/acc" in metrics


@pytest.mark.slow
def test_the_command_line_prints_one_error_line():
    proc = run_cli("train.py", "experiment=breast_cancer", "model/net=cnn")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: model.net.hidden is not an argument of "
                                "fivestep.models.nets.SmallCNN")
    assert "'~model.net.hidden' to the command line" in lines[-1]
    assert "Traceback" not in proc.stderr
