"""Lesson 5 and the seed's raw training loop: the five steps, in plain PyTorch.

`train_five_steps` is the one implementation of the loop in the project. The parity
test (`tests/test_parity.py`) trains the same network through Lightning and checks
that every epoch's loss matches it; the lesson (`run`) trains the article's network
with it and shows the probabilities before and after. In Lightning, `training_step`
is steps 2-3, `configure_optimizers` supplies the optimizer, and the Trainer does
steps 1, 4 and 5 (`fivestep.models.system.Classifier`).
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.datasets import make_classification
from torch import Tensor, nn

from fivestep.fundamentals.lesson import Lesson
from fivestep.models.nets import TwoLayerNet


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


TITLE = "five steps: the raw training loop"
SEED = 0
EPOCHS = 200
LR = 0.1
PLOT = "five_steps.png"


def probabilities(net: nn.Module, x: Tensor) -> Tensor:
    """The net's probability of class 1 for each row: `x: (rows, 5)` -> `(rows,)`."""
    with torch.no_grad():
        return torch.sigmoid(net(x)).squeeze(-1)


def save_plot(path: Path, losses: list[float], before: Tensor, after: Tensor, y: Tensor) -> None:
    """The loss curve, and the predicted probabilities before and after, split by label."""
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    curve, hist = fig.subplots(1, 2)
    curve.plot(range(len(losses)), losses)
    curve.set_xlabel("epoch")
    curve.set_ylabel("binary cross-entropy")
    curve.set_title("loss, one five-step pass per epoch")
    bins = np.linspace(0.0, 1.0, 21)
    for probs, when, alpha in ((before, "before", 0.4), (after, "after", 0.8)):
        for label in (0, 1):
            hist.hist(
                probs[y == label].numpy(), bins=bins, alpha=alpha, label=f"{when}, y = {label}"
            )
    hist.set_xlabel("predicted probability of class 1")
    hist.set_title("probabilities before and after training")
    hist.legend()
    fig.tight_layout()
    fig.savefig(path)


def run(lesson: Lesson, out: Path) -> None:
    """Train the seed's network with `train_five_steps` and show what changes; plot into `out`."""
    x, y = seed_data()
    lesson.step("x, y = seed_data(); x.shape", x.shape, "make_classification(100, 5, ...)")
    lesson.step("y.mean()", y.mean(), "the share of class 1")

    torch.manual_seed(SEED)
    net = TwoLayerNet()
    lesson.step(
        f"torch.manual_seed({SEED}); net = TwoLayerNet()",
        net,
        "the article's step 1: a class derived from nn.Module",
    )
    lesson.step(
        "sum(p.numel() for p in net.parameters())",
        sum(p.numel() for p in net.parameters()),
        "(5*8 + 8) + (8*4 + 4) + (4*1 + 1) weights and biases",
    )
    before = lesson.step(
        "p0 = torch.sigmoid(net(x)).squeeze(-1)",
        probabilities(net, x),
        "untrained: random weights give probabilities near 0.5",
    )
    losses = lesson.step(
        f"losses = train_five_steps(net, x, y, epochs={EPOCHS}, lr={LR})",
        train_five_steps(net, x, y, epochs=EPOCHS, lr=LR),
        "per epoch: zero_grad, forward, loss, backward, step (see five_steps.py)",
    )
    lesson.step("losses[0]", losses[0], "the loss of the untrained net")
    lesson.step("losses[-1]", losses[-1], "the loss before the last step")
    lesson.step(
        "[round(loss, 3) for loss in losses[::40]]",
        [round(loss, 3) for loss in losses[::40]],
        "every 40th epoch: the loss curve going down",
    )
    after = lesson.step(
        "p1 = torch.sigmoid(net(x)).squeeze(-1)",
        probabilities(net, x),
        "trained: probabilities pushed towards 0 and 1",
    )
    lesson.step("p0.std(), p1.std()", (before.std().item(), after.std().item()))
    lesson.step(
        "((p1 > 0.5) == y).float().mean()",
        ((after > 0.5) == y).float().mean(),
        "accuracy on the training rows",
    )
    lesson.note(
        "a final nn.Sigmoid layer + nn.BCELoss",
        "logits + nn.BCEWithLogitsLoss; torch.sigmoid(logits) for probabilities",
        "the same value, computed without the log(0) overflow of a saturated sigmoid",
    )
    lesson.note(
        "'This five-step process constitutes one complete epoch of training'",
        "one pass is one optimizer step; an epoch only when the batch is the whole data",
        "in batches of 16, an epoch of 100 rows is 7 passes (7 steps)",
    )
    out.mkdir(parents=True, exist_ok=True)
    save_plot(out / PLOT, losses, before, after, y)
    lesson.wrote(out / PLOT)
