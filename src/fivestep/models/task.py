"""The task a model learns, and the one rule that turns a net's output into predictions.

Every part of the project that needs a probability or a value from a net's raw output
(the system's metrics and `predict_step`, the figures, `predict.py`, the exported
graph) calls `predictions`; the output activation is written here and nowhere else.
"""

from typing import Literal, get_args

import torch
from torch import Tensor

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = get_args(Task)


def task_for_classes(num_classes: int) -> Task:
    """"binary" for two classes, "multiclass" for more."""
    return "binary" if num_classes == 2 else "multiclass"


def out_features(task: Task, num_classes: int | None) -> int:
    """Width of the net's output: one logit or value, or one logit per class."""
    return num_classes if task == "multiclass" and num_classes else 1


def squeeze_output(output: Tensor, task: Task) -> Tensor:
    """The net's output as losses and metrics take it: `(batch, K)` logits for
    multi-class, else `(batch,)` (one logit or value per row)."""
    return output if task == "multiclass" else output.reshape(output.shape[0])


def loss_inputs(output: Tensor, y: Tensor, task: Task) -> tuple[Tensor, Tensor]:
    """A net's raw output and the targets `y: (batch,)` as the task's loss takes them:
    `(batch,)` (or `(batch, K)` logits) and `y` as long class indices or float values.

    A net that trains several members on the same rows returns `(batch, k, out)` in
    training (`TabularMLP(ensemble=k)`): each member's row is then a row of its own,
    `y` repeated for each, so a mean loss is the members' mean loss."""
    if output.dim() == 3:
        y = y.repeat_interleave(output.shape[1], dim=0)
        output = output.flatten(0, 1)
    output = squeeze_output(output, task)
    return output, (y.long() if task == "multiclass" else y.to(output.dtype))


def predictions(output: Tensor, task: Task) -> Tensor:
    """A net's raw output `(batch, 1)` / `(batch, K)` (or already squeezed) -> binary
    `(batch,)` probability of class 1, multi-class `(batch, K)` probabilities,
    regression `(batch,)` values."""
    output = squeeze_output(output, task)
    if task == "binary":
        return torch.sigmoid(output)
    if task == "multiclass":
        return torch.softmax(output, dim=-1)
    return output


def class_probabilities(predicted: Tensor, task: Task) -> Tensor:
    """`predictions` of a classifier as a `(batch, K)` table, one column per class
    (binary: `[1 - p, p]`)."""
    if task == "binary":
        return torch.stack([1 - predicted, predicted], dim=1)
    return predicted
