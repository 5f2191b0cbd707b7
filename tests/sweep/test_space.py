"""Hydra sweep syntax -> Optuna distributions, and values back to overrides."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from fivestep.errors import UserError
from fivestep.sweep.space import as_override, search_space


def test_each_sweep_form_becomes_its_distribution_and_the_rest_stays_fixed():
    space, fixed = search_space([
        "model.optimizer.lr=tag(log, interval(0.001, 1.0))",
        "model.net.hidden1=range(4, 17, 4)",
        "model.net.hidden2=int(interval(2, 9))",
        "data.batch_size=16,null",
        "model/optimizer=choice(sgd, adam)",
        "experiment=two_layer",
    ])
    assert space["model.optimizer.lr"] == FloatDistribution(0.001, 1.0, log=True)
    assert space["model.net.hidden1"] == IntDistribution(4, 16, step=4)
    assert space["model.net.hidden2"] == IntDistribution(2, 9)
    assert space["data.batch_size"] == CategoricalDistribution([16, None])
    assert space["model/optimizer"] == CategoricalDistribution(["sgd", "adam"])
    assert fixed == ["experiment=two_layer"]


def test_a_later_line_replaces_an_earlier_one_for_the_same_key():
    space, fixed = search_space(["model.optimizer.lr=interval(0.01, 1)", "model.optimizer.lr=0.5"])
    assert space == {} and fixed == ["model.optimizer.lr=0.5"]
    space, fixed = search_space(["data.batch_size=8", "data.batch_size=8,16"])
    assert fixed == [] and space["data.batch_size"] == CategoricalDistribution([8, 16])


def test_a_choice_of_lists_keeps_them_as_hydra_text():
    space, _ = search_space(["model.net.hidden=choice([16],[64,32])"])
    assert space["model.net.hidden"] == CategoricalDistribution(["[16]", "[64,32]"])
    assert as_override("model.net.hidden", "[64,32]") == "model.net.hidden=[64,32]"


def test_a_float_range_is_a_choice_of_its_values():
    space, _ = search_space(["x=range(0.5, 2.0, 0.5)"])
    assert space["x"] == CategoricalDistribution([0.5, 1.0, 1.5])


def test_a_sweep_optuna_cannot_sample_is_refused_by_name():
    with pytest.raises(UserError, match=r"x=glob\(\*\).*interval"):
        search_space(["x=glob(*)"])


@pytest.mark.parametrize(
    ("value", "line"), [(None, "k=null"), (True, "k=true"), (0.25, "k=0.25"), ("adam", "k=adam")]
)
def test_values_go_back_in_hydra_syntax(value, line):
    assert as_override("k", value) == line
