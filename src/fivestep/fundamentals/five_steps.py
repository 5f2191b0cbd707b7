"""The seed's raw training loop: the five steps, in plain PyTorch.

This is the one implementation of the loop in the project. The parity test trains
the same network through Lightning and checks that every epoch's loss matches it.
"""

from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import make_classification
from torch import Tensor, nn


def seed_data(
    n_samples: int = 100, n_features: int = 5, n_informative: int = 3, random_state: int = 101
) -> tuple[Tensor, Tensor]:
    """The article's data set: `x: (100, 5)` float32 and `y: (100,)` float32 labels 0/1."""
    x, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        random_state=random_state,
    )
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


def train_five_steps(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    epochs: int = 200,
    lr: float = 0.1,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> list[float]:
    """Train `net` full-batch with SGD; return the loss of every epoch (before its step).

    `net` returns logits `(rows, 1)`; the loss defaults to `BCEWithLogitsLoss`, the
    stable form of the article's sigmoid + `BCELoss`.
    """
    loss_fn = loss_fn or nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()  # 1. reset the gradients
        output = net(x).squeeze(-1)  # 2. forward pass
        loss = loss_fn(output, y)  # 3. the loss
        loss.backward()  # 4. gradients of the loss
        optimizer.step()  # 5. one optimizer step
        losses.append(loss.item())
    return losses
