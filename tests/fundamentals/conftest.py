"""Run a lesson once per test module, quietly, and keep what it recorded and printed."""

import io
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import torch
from rich.console import Console

from fivestep.fundamentals.lesson import Lesson


@dataclass
class Shown:
    """A lesson after `run` and `show`: its steps, the printed text, its plot folder."""

    lesson: Lesson
    printed: str
    out: Path

    def __getitem__(self, code: str):
        return self.lesson[code]


def shown_by(module: ModuleType):
    """A module-scoped fixture running `module`'s lesson (plots into a temporary folder).

    The console is wide enough that no code cell wraps, so a test can look for each
    step's code in the printed table. Like `python -m fivestep.fundamentals`, it runs
    torch on one thread (restored afterwards): the lessons' tensors are tiny, and on a
    busy machine a second thread makes the 200-epoch loop ten times slower.
    """

    @pytest.fixture(scope="module")
    def shown(tmp_path_factory: pytest.TempPathFactory) -> Shown:
        buffer = io.StringIO()
        lesson = Lesson(module.TITLE, Console(file=buffer, width=300))
        out = tmp_path_factory.mktemp(module.__name__.rsplit(".", 1)[-1]) / "plots"
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            module.run(lesson, out)
        finally:
            torch.set_num_threads(threads)
        lesson.show()
        return Shown(lesson, buffer.getvalue(), out)

    return shown


def assert_every_step_printed(shown: Shown) -> None:
    for step in shown.lesson.steps:
        for statement in step.code.split("; "):  # printed one statement a line
            assert statement in shown.printed, step.code
        assert step.text.splitlines()[0] in shown.printed, step.text
