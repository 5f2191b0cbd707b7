"""Baselines on the run's own split: scored like the net, equal to scikit-learn's own
scores, named by split, sampled above `max_rows`, and a warning when the net loses."""

import logging

import numpy as np
import pytest
import torch
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fivestep.errors import UserError
from fivestep.models.nets import MLP
from fivestep.models.system import System
from fivestep.monitoring.baselines import fit_baselines, verdict

from ..conftest import tiny_table


def system_for(dm) -> System:
    return System(MLP(dm.n_features, hidden=[4], out_features=dm.num_classes or 1
                      if dm.task == "multiclass" else 1),
                  torch.optim.SGD, task=dm.task, num_classes=dm.num_classes)


def numpy(split):
    x, y = split
    return x.numpy(), y.numpy()


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_classification_baselines_equal_scikit_learns_scores(task):
    dm = tiny_table(task, rows=120)
    out = fit_baselines({"models": ["majority", "linear"]}, dm, system_for(dm))
    x, y = numpy(dm.splits["train"])
    xv, yv = numpy(dm.splits["val"])
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    majority = DummyClassifier(strategy="most_frequent").fit(x, y)
    assert out["baseline/linear/val/acc"] == pytest.approx(
        accuracy_score(yv, linear.predict(xv)), abs=1e-6)
    assert out["baseline/majority/val/acc"] == pytest.approx(
        accuracy_score(yv, majority.predict(xv)), abs=1e-6)
    # the run's own metric set, per split; no test split in tiny_table, so no test keys
    assert {k.rsplit("/", 1)[1] for k in out} == {"acc", "auroc", "f1"}
    assert not [k for k in out if "/test/" in k]


def test_regression_baselines_are_in_the_targets_units():
    """Trained on the standardized target, scored in its own units: the MAE equals
    scikit-learn's on the raw target."""
    dm = tiny_table("regression", rows=120)
    assert dm.state_dict()["target_scale"] != 1.0  # standardized by default
    out = fit_baselines({"models": ["linear"]}, dm, system_for(dm))
    x, y = numpy(dm.splits["train"])
    xv, yv = numpy(dm.splits["val"])
    raw = lambda v: dm.inverse_target(torch.as_tensor(v)).numpy()  # noqa: E731
    ridge = make_pipeline(StandardScaler(), Ridge()).fit(x, y)
    assert out["baseline/linear/val/mae"] == pytest.approx(
        mean_absolute_error(raw(yv), raw(ridge.predict(xv).astype(np.float32))), rel=1e-5)


def test_above_max_rows_the_fit_uses_a_logged_sample(caplog):
    dm = tiny_table("binary", rows=200)
    with caplog.at_level(logging.INFO, logger="fivestep.monitoring.baselines"):
        fit_baselines({"models": ["majority"], "max_rows": 50}, dm, system_for(dm))
    assert "a sample of 50 training rows" in caplog.text
    assert f"(of {len(dm.splits['train'][0])}; baselines.max_rows)" in caplog.text


def test_lightgbm_and_sklearn_mlp_score_on_the_same_rows():
    dm = tiny_table("binary", rows=160)
    out = fit_baselines({"models": ["lightgbm", "mlp"]}, dm, system_for(dm))
    assert 0.5 <= out["baseline/lightgbm/val/acc"] <= 1.0
    assert 0.5 <= out["baseline/mlp/val/acc"] <= 1.0


def test_an_unknown_baseline_is_refused_with_the_names():
    dm = tiny_table("binary")
    with pytest.raises(UserError, match=r"baselines.models names \['xgb'\]; pick from"):
        fit_baselines({"models": ["xgb"]}, dm, system_for(dm))


def test_no_models_means_no_baselines():
    dm = tiny_table("binary")
    assert fit_baselines({"models": []}, dm, system_for(dm)) == {}


def test_verdict_warns_only_below_the_trivial_baseline():
    worse = {"test/acc": 0.60, "baseline/majority/test/acc": 0.70,
             "baseline/linear/test/acc": 0.80}
    message = verdict(worse, "binary")
    assert message is not None and "test/acc=0.6" in message and "majority class (0.7" in message
    assert verdict({**worse, "test/acc": 0.70}, "binary") is None  # a tie is no loss
    assert verdict({"test/mse": 5.0, "baseline/majority/test/mse": 4.0}, "regression")
    assert verdict({"test/mse": 3.0, "baseline/majority/test/mse": 4.0}, "regression") is None
    # without a test split the validation scores are judged
    assert verdict({"val/acc": 0.5, "baseline/majority/val/acc": 0.6}, "binary")
