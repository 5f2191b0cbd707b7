"""`evaluate(cfg)`: the test metrics of a checkpoint, rebuilt from the checkpoint alone."""

import json

import pytest
import torch
from sklearn.datasets import make_classification

from fivestep.data.split import split_indices
from fivestep.errors import UserError
from fivestep.evaluate import evaluate
from fivestep.models.nets import TwoLayerNet


def test_eval_reports_the_checkpoints_test_metrics_and_writes_json(
    two_layer_run, make_cfg, tmp_path
):
    ckpt = two_layer_run / "checkpoints" / "last.ckpt"
    metrics = evaluate(make_cfg(f"ckpt_path={ckpt}", config_name="eval"))
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["metrics"] == metrics and report["epoch"] == 2
    assert report["ckpt_path"] == str(ckpt.resolve())
    assert set(metrics) == {"test/acc", "test/auroc", "test/f1", "test/loss"}

    # The same accuracy by hand: the stored weights on the seed data's test split.
    x, y = make_classification(100, 5, n_informative=3, random_state=101)
    _, _, test = split_indices(y, 0.2, 0.2, seed=0, stratify=True)
    net = TwoLayerNet()
    weights = torch.load(ckpt, weights_only=True)["state_dict"]
    net.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("net.")})
    with torch.no_grad():
        predicted = net(torch.tensor(x[test], dtype=torch.float32)).squeeze(-1) > 0
    assert metrics["test/acc"] == pytest.approx((predicted.numpy() == y[test]).mean(), abs=1e-6)


def test_eval_without_or_with_a_bad_checkpoint_is_one_clear_error(make_cfg, tmp_path):
    with pytest.raises(UserError, match=r"ckpt_path is required: python eval\.py ckpt_path="):
        evaluate(make_cfg(config_name="eval"))
    with pytest.raises(UserError, match="no such file"):
        evaluate(make_cfg(f"ckpt_path={tmp_path}/missing.ckpt", config_name="eval"))
    assert not (tmp_path / "metrics.json").exists()
