"""The model's sizes come from the data: filled in where unset, checked where set."""

import pytest
from omegaconf import OmegaConf

from fivestep.config.sizes import sized_from_data
from fivestep.errors import UserError
from fivestep.models.task import out_features

from ..conftest import tiny_table


def model_cfg(**net):
    return OmegaConf.create(
        {"task": "???", "num_classes": None, "loss": "auto",
         "net": {"in_features": "???", "out_features": None, **net}}
    )


@pytest.mark.parametrize(("task", "classes", "out"),
                         [("binary", 2, 1), ("multiclass", 3, 3), ("regression", None, 1)])
def test_unset_sizes_are_filled_from_the_data(task, classes, out):
    given = model_cfg()
    cfg = sized_from_data(given, tiny_table(task))
    assert OmegaConf.is_missing(given, "task")  # the config passed in is left as it was
    loss = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}[task]
    assert OmegaConf.to_container(cfg) == {
        "task": task, "num_classes": classes, "loss": loss,
        "net": {"in_features": 4, "out_features": out},
    }
    assert out_features(task, classes) == out


def test_a_set_size_that_disagrees_is_refused_with_the_fix():
    with pytest.raises(UserError, match=r"model\.net\.in_features=5 but the data needs 4 .*"
                                        r"model\.net\.in_features=null"):
        sized_from_data(model_cfg(in_features=5), tiny_table("binary"))
    cfg = sized_from_data(model_cfg(in_features=4), tiny_table("binary"))  # agreeing is fine
    assert cfg.net.in_features == 4
