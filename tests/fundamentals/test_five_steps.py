"""The five-step lesson trains with THE loop (`train_five_steps`) and shows its effect."""

import math

import matplotlib.image
import pytest
import torch

from fivestep.fundamentals import five_steps
from fivestep.fundamentals.five_steps import EPOCHS, LR, PLOT, SEED, seed_data, train_five_steps
from fivestep.models.nets import TwoLayerNet

from .conftest import assert_every_step_printed, shown_by

shown = shown_by(five_steps)
TRAIN = f"losses = train_five_steps(net, x, y, epochs={EPOCHS}, lr={LR})"


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_the_seed_data_and_network(shown):
    assert shown["x, y = seed_data(); x.shape"] == torch.Size([100, 5])
    assert round(shown["y.mean()"].item() * 100) == 49  # 49 of the 100 rows are class 1
    assert shown["sum(p.numel() for p in net.parameters())"] == (5 * 8 + 8) + (8 * 4 + 4) + 5


def test_the_lesson_trains_with_the_one_loop(shown):
    torch.manual_seed(SEED)
    net = TwoLayerNet()
    x, y = seed_data()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the lesson ran: the same arithmetic, bit for bit
    try:
        losses = train_five_steps(net, x, y, epochs=EPOCHS, lr=LR)
    finally:
        torch.set_num_threads(threads)
    assert shown[TRAIN] == losses
    assert len(shown[TRAIN]) == 200
    assert shown["losses[0]"] == shown[TRAIN][0] and shown["losses[-1]"] == shown[TRAIN][-1]


def test_the_loss_goes_down(shown):
    losses = shown[TRAIN]
    assert abs(losses[0] - math.log(2)) < 0.01  # an untrained net guesses ~0.5 everywhere
    every_40 = shown["[round(loss, 3) for loss in losses[::40]]"]
    assert every_40 == [round(loss, 3) for loss in losses[::40]] and len(every_40) == 5
    assert all(a > b for a, b in zip(every_40, every_40[1:], strict=False))
    assert losses[-1] < 0.5 * losses[0]


def test_probabilities_near_half_before_and_spread_after(shown):
    before = shown["p0 = torch.sigmoid(net(x)).squeeze(-1)"]
    after = shown["p1 = torch.sigmoid(net(x)).squeeze(-1)"]
    assert before.shape == after.shape == (100,)
    assert ((before - 0.5).abs() < 0.1).all()
    assert shown["p0.std(), p1.std()"] == (before.std().item(), after.std().item())
    assert after.std() > 0.3 > 0.01 > before.std()
    _, y = seed_data()
    assert after[y == 1].mean() > 0.7 and after[y == 0].mean() < 0.3
    accuracy = shown["((p1 > 0.5) == y).float().mean()"].item()
    assert accuracy == ((after > 0.5) == y.bool()).float().mean().item() >= 0.85


def test_the_plot_is_saved(shown):
    path = shown.out / PLOT
    assert shown.lesson.files == [path]
    image = matplotlib.image.imread(path)
    assert image.shape == (400, 1000, 4)


def test_every_step_is_printed(shown):
    assert_every_step_printed(shown)
    assert "BCEWithLogitsLoss" in shown.printed
