"""Every value the vectors lesson shows, checked against arithmetic done by hand."""

import torch

from fivestep.fundamentals import vectors

from .conftest import assert_every_step_printed, shown_by

shown = shown_by(vectors)


def test_vector_arithmetic(shown):
    assert shown["u = torch.tensor([1.0, 2.0, 3.0])"].tolist() == [1.0, 2.0, 3.0]
    assert shown["v = torch.tensor([4.0, 5.0, 6.0])"].tolist() == [4.0, 5.0, 6.0]
    assert shown["u + v"].tolist() == [5.0, 7.0, 9.0]
    assert shown["2 * v"].tolist() == [8.0, 10.0, 12.0]
    assert shown["3 * u - 2 * v"].tolist() == [3 - 8.0, 6 - 10.0, 9 - 12.0]
    assert shown["u * v"].tolist() == [4.0, 10.0, 18.0]
    assert shown["torch.dot(u, v)"].item() == 1 * 4 + 2 * 5 + 3 * 6 == 32
    assert shown["u @ v"].item() == 32
    assert shown["u + 1"].tolist() == [2.0, 3.0, 4.0]
    assert all(shown[code].dtype == torch.float32 for code in ("u + v", "u * v", "u + 1"))


def test_every_step_is_printed(shown):
    assert_every_step_printed(shown)
