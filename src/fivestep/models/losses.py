"""The loss registry: every loss the article names, and a custom one, by name.

A loss is called as `loss(output, target)` with the system's output for its task:

| task         | output              | target                    |
|--------------|---------------------|---------------------------|
| `binary`     | logits `(batch,)`   | float 0/1 `(batch,)`      |
| `multiclass` | logits `(batch, K)` | class indices `(batch,)`  |
| `regression` | values `(batch,)`   | float values `(batch,)`   |

Losses work on logits, not probabilities, for numerical stability: `bce` is the
article's sigmoid + `BCELoss` in one stable step; `nll` and `kl_div` take the
log-softmax of the logits. A binary logit `z` counts as the two-class logits `[0, z]`
(softmax gives `[1 - sigmoid(z), sigmoid(z)]`), so the multi-class losses fit binary
targets too.

Pick one with `model.loss=NAME`; `auto` is the task's usual loss. Add your own with
`register`:

```python
@register("huber2", tasks=("regression",))
def huber2() -> nn.Module:
    return nn.HuberLoss(delta=2.0)
```
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fivestep.errors import UserError
from fivestep.models.task import TASKS

DEFAULTS = {"binary": "bce", "multiclass": "cross_entropy", "regression": "mse"}


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: how to build it and the tasks it fits."""

    build: Callable[[], nn.Module]
    tasks: tuple[str, ...]
    summary: str


LOSSES: dict[str, LossSpec] = {}


def register(
    name: str, tasks: tuple[str, ...], summary: str = ""
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Decorator: register a factory of a loss module under `name` for `tasks`."""

    def add(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        LOSSES[name] = LossSpec(build, tasks, summary or (build.__doc__ or "").strip())
        return build

    return add


def fitting(task: str) -> list[str]:
    """Names of the registered losses that fit `task`."""
    return [name for name, spec in LOSSES.items() if task in spec.tasks]


def build_loss(name: str, task: str) -> nn.Module:
    """The loss `name` for `task` (`"auto"` = the task's usual loss).

    Raises:
        UserError: unknown name, or a loss that does not fit the task; the message
            names the loss, the task and the losses that fit.
    """
    if task not in TASKS:
        raise UserError(f"model.task={task!r} is not one of {list(TASKS)}")
    if name == "auto":
        name = DEFAULTS[task]
    spec = LOSSES.get(name)
    if spec is None:
        raise UserError(
            f"model.loss={name!r} is not a known loss; for the {task} task pick one of "
            f"{fitting(task)} (all losses: {sorted(LOSSES)})"
        )
    if task not in spec.tasks:
        raise UserError(
            f"model.loss={name!r} ({spec.summary}) does not fit the {task} task; "
            f"losses that fit {task}: {fitting(task)}"
        )
    return spec.build()


def two_class_logits(z: Tensor) -> Tensor:
    """Binary logits `(batch,)` -> two-class logits `(batch, 2)` = `[0, z]`."""
    return torch.stack([torch.zeros_like(z), z], dim=-1)


class ClassLoss(nn.Module):
    """A loss on class logits that also takes a binary logit `(batch,)` as `[0, z]`."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.dim() == 1:
            logits = two_class_logits(logits)
        return self.fn(logits, target.long())


def _nll_on_log_softmax(logits: Tensor, target: Tensor) -> Tensor:
    return F.nll_loss(F.log_softmax(logits, dim=-1), target)


def _kl_to_one_hot(logits: Tensor, target: Tensor) -> Tensor:
    one_hot = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
    return F.kl_div(F.log_softmax(logits, dim=-1), one_hot, reduction="batchmean")


class MeanQuarticError(nn.Module):
    """`mean((output - target) ** 4)`: the seed's custom loss; punishes large errors
    far more than MSE and barely moves on small ones."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        return torch.mean((output - target) ** 4)


@register("bce", tasks=("binary",))
def bce() -> nn.Module:
    """binary cross-entropy on the logit"""
    return nn.BCEWithLogitsLoss()


@register("cross_entropy", tasks=("binary", "multiclass"))
def cross_entropy() -> nn.Module:
    """cross-entropy of the softmax of the logits"""
    return ClassLoss(F.cross_entropy)


@register("nll", tasks=("binary", "multiclass"))
def nll() -> nn.Module:
    """negative log-likelihood of the log-softmax"""
    return ClassLoss(_nll_on_log_softmax)


@register("kl_div", tasks=("binary", "multiclass"))
def kl_div() -> nn.Module:
    """Kullback-Leibler divergence from the one-hot target to the softmax"""
    return ClassLoss(_kl_to_one_hot)


@register("mse", tasks=("regression",))
def mse() -> nn.Module:
    """mean squared error"""
    return nn.MSELoss()


@register("mae", tasks=("regression",))
def mae() -> nn.Module:
    """mean absolute error (L1)"""
    return nn.L1Loss()


@register("l1", tasks=("regression",))
def l1() -> nn.Module:
    """mean absolute error (L1), the same as mae"""
    return nn.L1Loss()


@register("smooth_l1", tasks=("regression",))
def smooth_l1() -> nn.Module:
    """smooth L1: squared below 1, absolute above"""
    return nn.SmoothL1Loss()


@register("quartic", tasks=("regression",))
def quartic() -> nn.Module:
    """mean quartic error, mean((output - target)**4)"""
    return MeanQuarticError()
