"""`fivestep.models.task`: the task from a class count, the net's output width, and the
one rule from raw outputs to predictions (sigmoid, softmax, identity)."""

import math

import pytest
import torch

from fivestep.models.task import (
    TASKS,
    class_probabilities,
    out_features,
    predictions,
    task_for_classes,
)


def test_the_three_tasks():
    assert TASKS == ("binary", "multiclass", "regression")


@pytest.mark.parametrize(("k", "task"), [(2, "binary"), (3, "multiclass"), (10, "multiclass")])
def test_task_for_classes(k, task):
    assert task_for_classes(k) == task


@pytest.mark.parametrize(
    ("task", "k", "width"),
    [("binary", 2, 1), ("binary", None, 1), ("regression", None, 1),
     ("multiclass", 3, 3), ("multiclass", 7, 7)],
)
def test_out_features(task, k, width):
    assert out_features(task, k) == width


def test_binary_is_the_sigmoid_of_one_logit_squeezed():
    logits = torch.tensor([[0.0], [math.log(3.0)], [-math.log(3.0)]])  # (batch, 1)
    p = predictions(logits, "binary")
    assert p.shape == (3,)
    assert p.tolist() == pytest.approx([0.5, 0.75, 0.25], abs=1e-6)
    # the already-squeezed output gives the same probabilities
    assert torch.equal(predictions(logits.reshape(3), "binary"), p)


def test_multiclass_is_the_softmax_over_classes():
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0], [5.0, -1.0, 2.0]])
    p = predictions(logits, "multiclass")
    assert p.shape == (3, 3)
    assert p[0].tolist() == pytest.approx([1 / 3] * 3)
    assert p[1].tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert p.sum(dim=1).tolist() == pytest.approx([1.0] * 3)
    assert p.argmax(dim=1).tolist() == [0, 0, 0]


def test_regression_is_the_value_itself_squeezed():
    values = torch.tensor([[-2.5], [0.0], [7.25]])
    out = predictions(values, "regression")
    assert out.shape == (3,)
    assert out.tolist() == [-2.5, 0.0, 7.25]
    assert torch.equal(predictions(values.reshape(3), "regression"), out)


def test_a_single_row_keeps_its_batch_dimension():
    assert predictions(torch.tensor([[2.0]]), "binary").shape == (1,)
    assert predictions(torch.tensor([[2.0]]), "regression").shape == (1,)
    assert predictions(torch.tensor([[2.0, 1.0]]), "multiclass").shape == (1, 2)


def test_binary_class_probabilities_are_one_minus_p_and_p():
    p = torch.tensor([0.1, 0.5, 0.9])
    table = class_probabilities(p, "binary")
    assert table.shape == (3, 2)
    assert torch.allclose(table, torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]))
    assert table.sum(dim=1).tolist() == pytest.approx([1.0] * 3)


def test_multiclass_class_probabilities_are_the_softmax_rows():
    torch.manual_seed(0)
    p = predictions(torch.randn(5, 4), "multiclass")
    table = class_probabilities(p, "multiclass")
    assert table.shape == (5, 4)
    assert torch.allclose(table.sum(dim=1), torch.ones(5))
    assert torch.equal(table, p)
