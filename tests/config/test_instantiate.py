"""`fivestep.config.instantiate`: `build` gives back a target's own `UserError` (not
Hydra's wrapper around it), lets other errors through, and `instantiate_all` builds a
config group's entries in order."""

import collections

import pytest
import torch
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from fivestep.config.instantiate import build, instantiate_all
from fivestep.errors import UserError


def test_build_makes_the_object_with_extra_arguments():
    layer = build(OmegaConf.create({"_target_": "torch.nn.Linear", "in_features": 3}),
                  out_features=2)
    assert isinstance(layer, torch.nn.Linear)
    assert layer.weight.shape == (2, 3)


def test_a_user_error_raised_by_the_target_comes_out_as_itself():
    # MLP refuses an unknown activation with a UserError
    node = OmegaConf.create({"_target_": "fivestep.models.nets.MLP", "in_features": 4,
                             "activation": "sparkle"})
    with pytest.raises(UserError) as err:
        build(node)
    assert type(err.value) is UserError
    assert str(err.value).startswith("model.net.activation='sparkle' is not known")
    assert err.value.__suppress_context__  # shown alone, not under Hydra's wrapper


def test_a_user_error_deeper_in_a_nested_node_comes_out_too():
    node = OmegaConf.create({
        "_target_": "torch.nn.Sequential",
        "_args_": [{"_target_": "fivestep.models.nets.MLP", "in_features": 4,
                    "activation": "sparkle"}],
    })
    with pytest.raises(UserError, match=r"^model.net.activation='sparkle'"):
        build(node)


def test_other_errors_propagate_as_hydras():
    node = OmegaConf.create({"_target_": "torch.nn.Linear", "in_features": "three",
                             "out_features": 2})
    with pytest.raises(InstantiationException, match=r"torch.nn.modules.linear.Linear"):
        build(node)
    with pytest.raises(InstantiationException, match=r"nowhere.Thing"):
        build(OmegaConf.create({"_target_": "nowhere.Thing"}))


def test_instantiate_all_builds_the_entries_in_order_and_skips_the_rest():
    group = OmegaConf.create({
        "second": {"_target_": "collections.OrderedDict", "b": 2},
        "off": None,  # an entry switched off with `~` or null
        "note": "not a node",
        "first": {"_target_": "collections.Counter", "a": 1},
    })
    built = instantiate_all(group)
    assert [type(o) for o in built] == [collections.OrderedDict, collections.Counter]
    assert built == [{"b": 2}, {"a": 1}]


@pytest.mark.parametrize("group", [None, {}])
def test_instantiate_all_of_nothing_is_an_empty_list(group):
    assert instantiate_all(None if group is None else OmegaConf.create(group)) == []


def test_instantiate_all_surfaces_a_user_error():
    group = OmegaConf.create({"net": {"_target_": "fivestep.models.nets.MLP",
                                      "in_features": 4, "activation": "sparkle"}})
    with pytest.raises(UserError, match="sparkle"):
        instantiate_all(group)
