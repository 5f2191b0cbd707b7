"""Every value the matrices lesson shows, and the singular matrix's clear message."""

import pytest
import torch

from fivestep.errors import UserError
from fivestep.fundamentals import matrices
from fivestep.fundamentals.matrices import invert, matmul_by_hand

from .conftest import assert_every_step_printed, shown_by

shown = shown_by(matrices)


def test_from_a_list_of_lists_and_slicing(shown):
    m = shown["m = torch.tensor([[11, 12, 13], [21, 22, 23], [31, 32, 33]])"]
    assert m.tolist() == [[11, 12, 13], [21, 22, 23], [31, 32, 33]]
    assert shown["m.shape"] == torch.Size([3, 3])
    assert shown["m[1]"].tolist() == [21, 22, 23]
    assert shown["m[:, 1]"].tolist() == [12, 22, 32]
    assert shown["m[1, 2]"].item() == 23
    assert shown["m[1:, :2]"].tolist() == [[21, 22], [31, 32]]


def test_matrix_product_equals_the_hand_computation(shown):
    # a = [[0, 1, 1], [1, 0, 1]], b = [[1, 2], [3, 4], [5, 6]]:
    # row 1: [0*1 + 1*3 + 1*5, 0*2 + 1*4 + 1*6]; row 2: [1*1 + 0*3 + 1*5, 1*2 + 0*4 + 1*6]
    by_hand = [[8.0, 10.0], [6.0, 8.0]]
    assert shown["a @ b"].tolist() == by_hand
    assert shown["torch.mm(a, b)"].tolist() == by_hand
    assert shown["sum(a[i][k] * b[k][j] for k in range(3))"] == by_hand
    assert shown["(a @ b).tolist() == by_hand"] is True
    assert matmul_by_hand([[1, 2]], [[3], [4]]) == [[11]]


def test_transpose(shown):
    a = shown["a = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])"]
    assert shown["a.T"].tolist() == [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert shown["a.T.shape"] == torch.Size([3, 2])
    assert all(shown["a.T"][j, i] == a[i, j] for i in range(2) for j in range(3))


def test_inverse_and_determinant(shown):
    s = shown["s = torch.tensor([[2.0, 1.0], [1.0, 3.0]])"]
    s_inv = shown["s_inv = torch.linalg.inv(s)"]
    torch.testing.assert_close(s_inv, torch.tensor([[3.0, -1.0], [-1.0, 2.0]]) / 5)
    torch.testing.assert_close(shown["s @ s_inv"], torch.eye(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(s_inv @ s, torch.eye(2), atol=1e-6, rtol=0)
    assert shown["torch.linalg.det(s)"].item() == pytest.approx(5.0, abs=1e-6)
    torch.testing.assert_close(invert(s), s_inv)


def test_singular_matrix_is_explained_not_a_crash(shown):
    assert shown["z = torch.tensor([[1.0, 2.0], [2.0, 4.0]])"].tolist() == [[1, 2], [2, 4]]
    assert abs(shown["torch.linalg.det(z)"].item()) < 1e-6
    assert shown["torch.linalg.inv(z)"].startswith("LinAlgError:")
    message = shown["invert(z)"]
    assert message.startswith("matrix [[1.0, 2.0], [2.0, 4.0]]: singular")
    assert "no inverse" in message and "torch.linalg.pinv" in message
    with pytest.raises(UserError, match="singular"):
        invert(torch.tensor([[1.0, 2.0], [2.0, 4.0]]))


def test_nearly_singular_and_non_square_matrices_are_refused():
    nearly = torch.tensor([[1.0, 1.0], [1.0, 1.0 + 1e-7]])  # float32 cannot resolve it
    assert torch.linalg.inv_ex(nearly).info.item() == 0  # PyTorch alone would return noise
    with pytest.raises(UserError, match="singular"):
        invert(nearly)
    with pytest.raises(UserError, match=r"shape \(2, 3\): only a square matrix"):
        invert(torch.ones(2, 3))


def test_every_step_is_printed(shown):
    assert_every_step_printed(shown)
    assert "torch.linalg.inv(s), torch.linalg.det(s)" in shown.printed  # the then/now note
