"""`StackedMetrics` gives each member the value its own torchmetrics collection gives,
batch by batch, on data with tied scores, one-class members and logits."""

import pytest
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    MulticlassAccuracy,
)
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from fivestep.models.member_metrics import StackedMetrics, binary_auroc


def _collections(make, members):
    return [MetricCollection(make(), prefix="val/") for _ in range(members)]


def _compare(collections, batches):
    stacked = StackedMetrics.of(collections)
    assert stacked is not None
    for preds, target in batches:
        stacked.update(preds, target)
        for k, collection in enumerate(collections):
            collection.update(preds[k], target if target.dim() == 1 else target[k])
    ours = stacked.compute()
    assert set(ours) == set(collections[0].compute())
    for k, collection in enumerate(collections):
        for key, value in collection.compute().items():
            assert ours[key][k].item() == pytest.approx(value.item(), abs=1e-6), (k, key)
    return ours


def test_binary_metrics_equal_torchmetrics_per_member():
    g = torch.Generator().manual_seed(0)
    members = 6

    def make():
        return {"acc": BinaryAccuracy(), "auroc": BinaryAUROC(), "f1": BinaryF1Score()}

    batches = []
    for rows in (17, 32, 5):
        preds = torch.rand(members, rows, generator=g)
        preds[0] = (preds[0] * 4).round() / 4  # member 0: many tied scores
        preds[1] = 0.5  # member 1: every score tied, on the threshold
        preds[2] = torch.randn(rows, generator=g) * 3  # member 2: logits (sigmoid first)
        batches.append((preds, torch.randint(0, 2, (rows,), generator=g)))
    ours = _compare(_collections(make, members), batches)
    assert ours["val/auroc"][1].item() == pytest.approx(0.5)


@pytest.mark.filterwarnings("ignore:No (negative|positive) samples")
def test_auroc_of_a_member_whose_targets_hold_one_class_is_torchmetrics_zero():
    preds = torch.tensor([[0.1, 0.4, 0.35, 0.8], [0.3, 0.3, 0.2, 0.9]])
    for target in (torch.ones(2, 4), torch.zeros(2, 4)):
        expected = [BinaryAUROC()(p, t.long()).item() for p, t in zip(preds, target, strict=True)]
        assert binary_auroc(preds, target).tolist() == pytest.approx(expected)
        assert expected == [0.0, 0.0]


def test_regression_metrics_equal_torchmetrics_per_member():
    g = torch.Generator().manual_seed(1)
    members = 5

    def make():
        return {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score()}

    batches = []
    for rows in (20, 9):
        target = torch.randn(rows, generator=g) * 50 + 300  # target units, not standardised
        preds = target + torch.randn(members, rows, generator=g) * torch.arange(1, 6)[:, None]
        preds[4] = target  # a perfect member: R^2 = 1
        batches.append((preds, target))
    ours = _compare(_collections(make, members), batches)
    assert ours["val/r2"][4].item() == 1.0


def test_other_metrics_and_settings_keep_the_per_member_collections():
    assert StackedMetrics.of(_collections(
        lambda: {"acc": MulticlassAccuracy(num_classes=3)}, 2)) is None
    assert StackedMetrics.of(_collections(
        lambda: {"acc": BinaryAccuracy(threshold=0.3)}, 2)) is None
    assert StackedMetrics.of(_collections(lambda: {"auroc": BinaryAUROC(max_fpr=0.5)}, 2)) is None
    mixed = [MetricCollection({"acc": BinaryAccuracy()}), MetricCollection({"f1": BinaryF1Score()})]
    assert StackedMetrics.of(mixed) is None
