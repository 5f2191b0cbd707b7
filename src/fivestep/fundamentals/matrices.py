"""Lesson 3: matrix mathematics with 2-D tensors.

A matrix from a list of lists, slicing rows, columns and elements, matrix
multiplication (checked against the sum it stands for), the transpose, the inverse
and the determinant, and what happens with a singular matrix. A batch through a
`nn.Linear` layer is one matrix product: `x @ W.T + b` with `x: (batch, in)` and
`W: (out, in)`.
"""

from pathlib import Path

import torch
from torch import Tensor

from fivestep.errors import UserError
from fivestep.fundamentals.lesson import Lesson

TITLE = "matrices: 2-D tensor mathematics"


def invert(m: Tensor) -> Tensor:
    """The inverse of the square matrix `m: (n, n)`, or a `UserError` saying why not.

    A matrix whose determinant is zero, or so close to zero that its condition number
    is beyond what its dtype can resolve, has no usable inverse; `torch.linalg.inv`
    would raise (exact zero pivot) or return huge, meaningless numbers (nearly zero).
    """
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise UserError(
            f"matrix of shape {tuple(m.shape)}: only a square matrix has an inverse; "
            "use torch.linalg.pinv for a least-squares pseudo-inverse"
        )
    inverse, info = torch.linalg.inv_ex(m)
    ill_conditioned = torch.linalg.cond(m) * torch.finfo(m.dtype).eps > 1
    if info.item() != 0 or ill_conditioned:
        det = torch.linalg.det(m).item()
        raise UserError(
            f"matrix {m.tolist()}: singular (determinant {det:.3g}, its rows are linearly "
            "dependent), so it has no inverse; use torch.linalg.pinv for a pseudo-inverse "
            "or torch.linalg.lstsq to solve a system with it"
        )
    return inverse


def matmul_by_hand(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """`(a @ b)[i][j] = sum_k a[i][k] * b[k][j]`, in plain Python loops."""
    rows, inner, cols = len(a), len(b), len(b[0])
    return [
        [sum(a[i][k] * b[k][j] for k in range(inner)) for j in range(cols)] for i in range(rows)
    ]


def run(lesson: Lesson, out: Path) -> None:
    """Fill `lesson` with the matrix steps (`out` is unused: this lesson draws nothing)."""
    m = lesson.step(
        "m = torch.tensor([[11, 12, 13], [21, 22, 23], [31, 32, 33]])",
        torch.tensor([[11, 12, 13], [21, 22, 23], [31, 32, 33]]),
        "a 3 x 3 matrix from a list of lists: element (i, j) reads i+1, j+1",
    )
    lesson.step("m.shape", m.shape)
    lesson.step("m[1]", m[1], "the second row")
    lesson.step("m[:, 1]", m[:, 1], "the second column")
    lesson.step("m[1, 2]", m[1, 2], "row 2, column 3")
    lesson.step("m[1:, :2]", m[1:, :2], "a block: rows 2-3, columns 1-2")

    a = lesson.step(
        "a = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])",
        torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]),
    )
    b = lesson.step(
        "b = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])",
        torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
    )
    product = lesson.step("a @ b", a @ b, "(2 x 3) @ (3 x 2) -> 2 x 2")
    lesson.step("torch.mm(a, b)", torch.mm(a, b), "the same product, for 2-D only")
    by_hand = matmul_by_hand(a.tolist(), b.tolist())
    lesson.step(
        "sum(a[i][k] * b[k][j] for k in range(3))",
        by_hand,
        "each entry is a row of a dot a column of b",
    )
    lesson.step("(a @ b).tolist() == by_hand", product.tolist() == by_hand)
    lesson.step("a.T", a.T, "rows become columns")
    lesson.step("a.T.shape", a.T.shape)

    s = lesson.step(
        "s = torch.tensor([[2.0, 1.0], [1.0, 3.0]])", torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    )
    s_inv = lesson.step(
        "s_inv = torch.linalg.inv(s)", torch.linalg.inv(s), "[[3, -1], [-1, 2]] / 5"
    )
    lesson.step(
        "s @ s_inv",
        s @ s_inv,
        "the identity, up to float32 rounding",
    )
    lesson.step("torch.linalg.det(s)", torch.linalg.det(s), "2*3 - 1*1")
    lesson.note(
        "torch.inverse(s), torch.det(s)",
        "torch.linalg.inv(s), torch.linalg.det(s)",
        "the `torch.linalg` module (NumPy-style names) is the current home; "
        "the old names remain as aliases",
    )

    singular = lesson.step(
        "z = torch.tensor([[1.0, 2.0], [2.0, 4.0]])",
        torch.tensor([[1.0, 2.0], [2.0, 4.0]]),
        "the second row is twice the first",
    )
    lesson.step("torch.linalg.det(z)", torch.linalg.det(singular), "zero: no inverse")
    try:
        torch.linalg.inv(singular)
        raw = "no error"
    except torch.linalg.LinAlgError as err:
        raw = f"LinAlgError: {err}"
    lesson.step("torch.linalg.inv(z)", raw, "PyTorch refuses, with a low-level reason")
    try:
        invert(singular)
        message = "no error"
    except UserError as err:
        message = str(err)
    lesson.step(
        "invert(z)",
        message,
        "this lesson's `invert` checks first and says what to do instead",
    )
