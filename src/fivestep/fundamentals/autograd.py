"""Lesson 4: automatic differentiation.

A tensor created with `requires_grad=True` records every operation on it; calling
`backward()` on a scalar result fills `.grad` of each such tensor with the
derivative. This is step 4 of the five steps: Lightning's Trainer passes the loss
that `training_step` returns to the LightningModule's `backward` hook, which calls
`loss.backward()`, and every weight of the net gets its `.grad`.

The lesson saves one PNG per function, the function beside its derivative, into
`out` (matplotlib's Agg canvas: no window, no display needed).
"""

from collections.abc import Callable
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from fivestep.fundamentals.lesson import Lesson

TITLE = "autograd: automatic differentiation"

PLOTS = ("cubic.png", "square.png", "relu.png")


def cubic(x: Tensor) -> Tensor:
    """The article's `y = x**3 - 7x**2 + 11x`; `dy/dx = 3x**2 - 14x + 11`."""
    return x**3 - 7 * x**2 + 11 * x


def derivative_at(x0: float) -> float:
    """`dy/dx` of `cubic` at `x0`, by autograd (one backward pass from a scalar)."""
    x = torch.tensor(x0, requires_grad=True)
    cubic(x).backward()
    assert x.grad is not None
    return x.grad.item()


def function_and_gradient(
    fn: Callable[[Tensor], Tensor], lo: float, hi: float, steps: int
) -> tuple[Tensor, Tensor, Tensor]:
    """`x`, `fn(x)` and `d sum(fn(x)) / dx` on `torch.linspace(lo, hi, steps)`, all `(steps,)`.

    For an element-wise `fn`, the gradient of the sum is the derivative at each point.
    """
    x = torch.linspace(lo, hi, steps, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert x.grad is not None
    return x.detach(), y.detach(), x.grad


def save_plot(
    path: Path,
    x: Tensor,
    y: Tensor,
    dy: Tensor,
    title: str,
    extra: dict[str, Tensor] | None = None,
    points: dict[str, tuple[list[float], list[float]]] | None = None,
) -> None:
    """Draw `y` and its derivative `dy` against `x` into `path`.

    `extra` adds dashed curves over the same `x`; `points` adds labelled markers
    `(xs, ys)`, such as the derivative's value where the lesson computed it.
    """
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(x.numpy(), y.numpy(), label="function")
    ax.plot(x.numpy(), dy.numpy(), label="derivative (autograd)")
    for label, curve in (extra or {}).items():
        ax.plot(x.numpy(), curve.numpy(), linestyle="--", label=label)
    for label, (px, py) in (points or {}).items():
        ax.scatter(px, py, color="black", zorder=3, label=label)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_title(title)
    ax.set_xlabel("x")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def run(lesson: Lesson, out: Path) -> None:
    """Fill `lesson` with the autograd steps and save the three plots into `out`."""
    x0 = lesson.step(
        "x = torch.tensor(2.0, requires_grad=True)",
        torch.tensor(2.0, requires_grad=True),
        "autograd records every operation on x",
    )
    y0 = lesson.step("y = x**3 - 7 * x**2 + 11 * x", cubic(x0), "y remembers how it was made")
    y0.backward()
    at_two = lesson.step(
        "y.backward(); x.grad", x0.grad, "dy/dx = 3x**2 - 14x + 11 = 12 - 28 + 11 at x = 2"
    )
    at_three = lesson.step(
        "derivative_at(3.0)", derivative_at(3.0), "the same steps at x = 3: 27 - 42 + 11"
    )
    lesson.note(
        "a 'tensor variable' (torch.autograd.Variable before PyTorch 0.4)",
        "torch.tensor(2.0, requires_grad=True)",
        "Variable was merged into Tensor in 2018; Variable(t) now just returns t",
    )

    u = lesson.step(
        "u = torch.tensor(2.0, requires_grad=True)", torch.tensor(2.0, requires_grad=True)
    )
    v = lesson.step(
        "v = torch.tensor(1.0, requires_grad=True)", torch.tensor(1.0, requires_grad=True)
    )
    f = lesson.step(
        "f = 3 * u**2 * v - 4 * v**3", 3 * u**2 * v - 4 * v**3, "a function of two tensors"
    )
    f.backward()
    lesson.step("f.backward(); u.grad", u.grad, "df/du = 6uv = 12")
    lesson.step("v.grad", v.grad, "df/dv = 3u**2 - 12v**2 = 12 - 12 = 0")

    xs = torch.linspace(-10, 10, 10, requires_grad=True)
    ys = xs**2
    try:
        ys.backward()
        refused = "no error"
    except RuntimeError as err:
        refused = f"RuntimeError: {err}"
    lesson.step(
        "xs = torch.linspace(-10, 10, 10, requires_grad=True); (xs**2).backward()",
        refused,
        "backward() needs a scalar; a vector output needs a weight for each element",
    )
    lesson.note(
        "'PyTorch computes derivatives of scalar functions only but if we pass a vector "
        "... it computes derivatives element wise'",
        "(xs**2).sum().backward(), or ys.backward(torch.ones_like(ys))",
        "backward() on a vector raises; summing first gives the element-wise derivative "
        "only because each y_i depends on x_i alone",
    )
    ys.sum().backward()
    lesson.step("(xs**2).sum().backward(); xs.grad", xs.grad, "the gradient of sum(x**2) is 2x")
    lesson.step("xs.grad == 2 * xs", bool(torch.equal(xs.grad, 2 * xs.detach())))
    (xs**2).backward(torch.ones_like(xs))
    lesson.step(
        "(xs**2).backward(torch.ones_like(xs)); xs.grad",
        xs.grad,
        "gradients ADD UP across backward calls: now 4x, hence zero_grad() in the loop",
    )
    try:
        xs.numpy()
        numpy_refused = "no error"
    except RuntimeError as err:
        numpy_refused = f"RuntimeError: {err}"
    lesson.step("xs.numpy()", numpy_refused, "detach from the graph first")
    lesson.step("xs.detach().numpy()", xs.detach().numpy(), "what a plot needs")
    lesson.note(
        "x.data.numpy()",
        "x.detach().numpy()",
        "`.data` skips autograd's checks; `.detach()` is the safe way out of the graph",
    )

    r = torch.linspace(-3, 3, 7, requires_grad=True)
    torch.relu(r).sum().backward()
    lesson.step(
        "r = torch.linspace(-3, 3, 7, requires_grad=True); torch.relu(r).sum().backward(); r.grad",
        r.grad,
        "the step function: 0 for x <= 0 (PyTorch picks 0 at x = 0), 1 for x > 0",
    )

    out.mkdir(parents=True, exist_ok=True)
    x, y, dy = function_and_gradient(cubic, -1.0, 6.0, 141)
    exact = 3 * x**2 - 14 * x + 11
    lesson.step(
        "(dy - (3 * x**2 - 14 * x + 11)).abs().max().item()",
        (dy - exact).abs().max().item(),
        "over the plotted x in [-1, 6]: autograd's derivative is exact to float32 rounding",
    )
    save_plot(
        out / PLOTS[0],
        x,
        y,
        dy,
        "y = x³ − 7x² + 11x and dy/dx",
        points={"dy/dx at x = 2, 3": ([2.0, 3.0], [at_two.item(), at_three])},
    )
    lesson.wrote(out / PLOTS[0])

    x, y, dy = function_and_gradient(torch.square, -3.0, 3.0, 121)
    tangent = 2 * x - 1
    save_plot(
        out / PLOTS[1], x, y, dy, "y = x² and dy/dx = 2x", extra={"tangent at x = 1": tangent}
    )
    lesson.wrote(out / PLOTS[1])
    lesson.note(
        "'a derivative of a quadratic function is a straight-line, tangent to the parabolic "
        "curve'",
        "the derivative 2x is a straight line, but not a tangent",
        "the tangent at x = a is 2a·x − a²; the plot draws it at x = 1 for comparison",
    )

    x, y, dy = function_and_gradient(torch.relu, -3.0, 3.0, 121)
    save_plot(out / PLOTS[2], x, y, dy, "y = ReLU(x) and its derivative, the step function")
    lesson.wrote(out / PLOTS[2])
