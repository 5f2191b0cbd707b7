"""How a lesson records and prints its steps."""

import io

import numpy as np
import pytest
import torch
from rich.console import Console

from fivestep.fundamentals.lesson import LONG, Lesson, describe


def quiet_lesson() -> tuple[Lesson, io.StringIO]:
    buffer = io.StringIO()
    return Lesson("demo", Console(file=buffer, width=200)), buffer


def test_a_step_keeps_the_value_as_it_was_when_the_step_ran():
    lesson, _ = quiet_lesson()
    a = lesson.step("a = np.zeros(2)", np.zeros(2))
    t = lesson.step("t = torch.zeros(2)", torch.zeros(2))
    a[0], t[0] = 1.0, 1.0  # later in-place changes
    assert lesson["a = np.zeros(2)"].tolist() == [0.0, 0.0]
    assert lesson["t = torch.zeros(2)"].tolist() == [0.0, 0.0]
    assert lesson.steps[1].text == "tensor([0., 0.])"


def test_step_returns_its_value_and_refuses_a_repeated_code():
    lesson, _ = quiet_lesson()
    value = torch.ones(3)
    assert lesson.step("torch.ones(3)", value) is value
    assert "torch.ones(3)" in lesson and "torch.zeros(3)" not in lesson
    with pytest.raises(ValueError, match="already has a step 'torch.ones\\(3\\)'"):
        lesson.step("torch.ones(3)", value)
    with pytest.raises(KeyError, match="no step 'torch.zeros\\(3\\)'"):
        lesson["torch.zeros(3)"]


def test_long_results_are_summarised():
    assert describe(torch.arange(LONG)) == str(torch.arange(LONG))
    assert describe(torch.arange(LONG + 1.0)) == (
        "tensor of shape (13,), torch.float32: min 0, mean 6, max 12"
    )
    assert describe(list(range(200))) == "list of 200: first 0, last 199"


def test_show_prints_code_comment_result_notes_and_files(tmp_path):
    lesson, buffer = quiet_lesson()
    lesson.step("1 + 1", 2, "addition")
    lesson.note("old_call()", "new_call()", "renamed")
    lesson.wrote(tmp_path / "plot.png")
    lesson.show()
    printed = buffer.getvalue()
    for text in ("demo", "1 + 1", "# addition", "2", "old_call()", "new_call()", "renamed"):
        assert text in printed
    assert f"saved {tmp_path / 'plot.png'}" in printed
