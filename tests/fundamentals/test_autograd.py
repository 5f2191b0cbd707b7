"""The autograd lesson's derivatives against calculus done by hand, and its plots."""

import matplotlib.image
import torch

from fivestep.fundamentals import autograd
from fivestep.fundamentals.autograd import PLOTS, derivative_at

from .conftest import assert_every_step_printed, shown_by

shown = shown_by(autograd)


def test_cubic_derivative_at_two_and_three(shown):
    # y = x^3 - 7x^2 + 11x  ->  dy/dx = 3x^2 - 14x + 11
    assert shown["y = x**3 - 7 * x**2 + 11 * x"].item() == 8 - 28 + 22
    assert shown["y.backward(); x.grad"].item() == 3 * 4 - 14 * 2 + 11 == -5
    assert shown["derivative_at(3.0)"] == 3 * 9 - 14 * 3 + 11 == -4
    assert derivative_at(0.0) == 11.0
    assert shown["(dy - (3 * x**2 - 14 * x + 11)).abs().max().item()"] < 1e-4


def test_partial_derivatives_at_two_one(shown):
    # f = 3u^2 v - 4v^3  ->  df/du = 6uv, df/dv = 3u^2 - 12v^2
    assert shown["u = torch.tensor(2.0, requires_grad=True)"].item() == 2
    assert shown["v = torch.tensor(1.0, requires_grad=True)"].item() == 1
    assert shown["f = 3 * u**2 * v - 4 * v**3"].item() == 3 * 4 * 1 - 4 * 1 == 8
    assert shown["f.backward(); u.grad"].item() == 6 * 2 * 1 == 12
    assert shown["v.grad"].item() == 3 * 4 - 12 * 1 == 0


def test_gradient_of_a_sum_of_squares_is_two_x(shown):
    xs = torch.linspace(-10, 10, 10)
    refused = shown["xs = torch.linspace(-10, 10, 10, requires_grad=True); (xs**2).backward()"]
    assert refused == "RuntimeError: grad can be implicitly created only for scalar outputs"
    torch.testing.assert_close(shown["(xs**2).sum().backward(); xs.grad"], 2 * xs)
    assert shown["xs.grad == 2 * xs"] is True
    # a second backward adds to .grad instead of replacing it: the reason for zero_grad()
    torch.testing.assert_close(shown["(xs**2).backward(torch.ones_like(xs)); xs.grad"], 4 * xs)
    assert shown["xs.numpy()"].startswith("RuntimeError: Can't call numpy() on Tensor")
    assert shown["xs.detach().numpy()"].tolist() == xs.tolist()


def test_gradient_of_sum_relu_is_the_step_function(shown):
    key = "r = torch.linspace(-3, 3, 7, requires_grad=True); torch.relu(r).sum().backward(); r.grad"
    assert shown[key].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]  # x = -3..3; 0 at x = 0
    x, y, dy = autograd.function_and_gradient(torch.relu, -3.0, 3.0, 121)
    assert torch.equal(dy, (x > 0).float()) and torch.equal(y, x.clamp(min=0))


def test_each_function_is_saved_as_a_png_with_its_derivative(shown):
    assert [p.name for p in shown.lesson.files] == list(PLOTS)
    for name in PLOTS:
        path = shown.out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.shape == (400, 600, 4)  # 6 x 4 inches at 100 dpi
        assert image[..., :3].std() > 0.05  # not a blank canvas
        assert f"saved {path}" in shown.printed


def test_every_step_is_printed(shown):
    assert_every_step_printed(shown)
    assert "x.detach().numpy()" in shown.printed and "Variable" in shown.printed
