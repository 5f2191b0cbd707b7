"""Lesson 2: vector mathematics with 1-D tensors.

Addition, a scalar multiple, a linear combination, the element-wise product, the dot
product and broadcasting a scalar. A `nn.Linear` layer is these operations at once:
each output is a dot product of the input row with a weight row, plus a bias that
is broadcast over the batch.
"""

from pathlib import Path

import torch

from fivestep.fundamentals.lesson import Lesson

TITLE = "vectors: 1-D tensor mathematics"


def run(lesson: Lesson, out: Path) -> None:
    """Fill `lesson` with the vector steps (`out` is unused: this lesson draws nothing)."""
    u = lesson.step("u = torch.tensor([1.0, 2.0, 3.0])", torch.tensor([1.0, 2.0, 3.0]))
    v = lesson.step("v = torch.tensor([4.0, 5.0, 6.0])", torch.tensor([4.0, 5.0, 6.0]))
    lesson.step("u + v", u + v, "element by element")
    lesson.step("2 * v", 2 * v, "every element times the scalar")
    lesson.step("3 * u - 2 * v", 3 * u - 2 * v, "a linear combination")
    lesson.step("u * v", u * v, "the element-wise (Hadamard) product")
    lesson.step("torch.dot(u, v)", torch.dot(u, v), "1*4 + 2*5 + 3*6: sum of u * v")
    lesson.step("u @ v", u @ v, "the same dot product, as an operator")
    lesson.step("u + 1", u + 1, "broadcasting: the scalar is added to every element")
