"""A net whose output does not fit the data stops before training, in one line."""

import pytest
import torch
from torch import nn

from fivestep.data.digits import DigitsDataModule
from fivestep.errors import UserError
from fivestep.models.dry_forward import check_output
from fivestep.models.system import System
from fivestep.train import train

from ..conftest import tiny_table


def test_a_table_net_on_images_is_refused_before_training(make_cfg, tmp_path):
    cfg = make_cfg("data=digits", "model/net=mlp", "logger=[]", "callbacks=none")
    with pytest.raises(UserError) as err:
        train(cfg)
    assert str(err.value).startswith(
        "model.net (MLP) cannot take this data's input x: (2, 1, 8, 8): mat1 and mat2 shapes "
        "cannot be multiplied")
    assert not (tmp_path / "checkpoints").exists()


def test_an_output_of_the_wrong_width_is_refused():
    dm = tiny_table("binary")
    model = System(nn.Linear(dm.n_features, 2), torch.optim.SGD, task="binary")
    with pytest.raises(UserError, match=r"model.net \(Linear\) returns \(2, 2\) for x: \(2, 4\), "
                                        r"but this binary data needs \(2, 1\)"):
        check_output(model, dm)


def test_the_dry_forward_leaves_the_net_as_it_was():
    dm = DigitsDataModule()
    dm.shape()
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 10))
    model = System(net, torch.optim.SGD, task="multiclass", num_classes=10)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    check_output(model, dm)
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN stats too
    assert torch.equal(torch.get_rng_state(), rng)  # no dropout draw
