"""How a lesson shows its work: each step's code beside its result, in a Rich table.

A lesson records every value it prints under the code that produced it, so a test
can check exactly what a reader sees (`lesson["t.view(2, 3)"]`). The article was
written for an older PyTorch (and the seed copy of it has lost its code listings);
`note` records where the article, or code of its time, differs from today's PyTorch,
and `show` prints those notes under the table.
"""

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

T = TypeVar("T")

LONG = 12  # tensors and lists longer than this are summarised, not printed in full


def describe(value: Any) -> str:
    """The text shown for a result: in full, or a one-line summary when it is long."""
    if isinstance(value, torch.Tensor) and value.numel() > LONG:
        v = value.detach().float()
        return (
            f"tensor of shape {tuple(value.shape)}, {value.dtype}: min {v.min().item():.4g}, "
            f"mean {v.mean().item():.4g}, max {v.max().item():.4g}"
        )
    if isinstance(value, list) and len(value) > LONG:
        return f"list of {len(value)}: first {value[0]!r}, last {value[-1]!r}"
    return str(value)


def snapshot(value: T) -> T:
    """A copy of `value` as it is now, so a later in-place change cannot alter the record."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()  # type: ignore[return-value]
    if isinstance(value, np.ndarray):
        return value.copy()  # type: ignore[return-value]
    if isinstance(value, list | tuple | dict):
        return copy.deepcopy(value)
    return value


@dataclass(frozen=True)
class Step:
    """One row of a lesson: the code, its result as printed and as a value, and why."""

    code: str
    text: str
    value: Any
    comment: str


class Lesson:
    """The steps of one lesson and the values they produced, in order.

    Each step keeps the text of its result and a copy of the value as they were when
    the step ran: lessons mutate arrays on purpose (to show shared memory), and the
    table must show each step's own moment, not the final state.

    Args:
        title: the lesson's name, printed above its table.
        console: where `show` prints; a quiet `Console(file=io.StringIO())` in tests.
    """

    def __init__(self, title: str, console: Console | None = None) -> None:
        self.title = title
        self.console = console or Console()
        self.steps: list[Step] = []
        self.notes: list[tuple[str, str, str]] = []
        self.files: list[Path] = []

    def step(self, code: str, value: T, comment: str = "") -> T:
        """Record that `code` gives `value` (returned unchanged); `code` must be unique."""
        if code in self:
            raise ValueError(f"lesson {self.title!r} already has a step {code!r}")
        self.steps.append(Step(code, describe(value), snapshot(value), comment))
        return value

    def note(self, article: str, now: str, why: str) -> None:
        """Record that the article's `article` is written `now` in current PyTorch."""
        self.notes.append((article, now, why))

    def wrote(self, path: Path) -> None:
        """Record a file the lesson saved (a plot), so `show` can point to it."""
        self.files.append(path)

    def __contains__(self, code: object) -> bool:
        return any(code == step.code for step in self.steps)

    def __getitem__(self, code: str) -> Any:
        """The value the lesson shows for `code` (a copy taken when the step ran)."""
        for step in self.steps:
            if step.code == code:
                return step.value
        raise KeyError(f"lesson {self.title!r} has no step {code!r}")

    def show(self) -> None:
        """Print the steps as a table, then the notes and the files written."""
        table = Table(title=self.title, title_justify="left", show_lines=True)
        table.add_column("#", justify="right", style="dim")
        table.add_column("code  # why", ratio=3)
        table.add_column("result", ratio=2)
        for i, step in enumerate(self.steps, start=1):
            code = step.code.replace("; ", "\n")  # one statement a line
            code = f"{code}\n# {step.comment}" if step.comment else code
            syntax = Syntax(
                code, "python", theme="ansi_dark", background_color="default", word_wrap=True
            )
            table.add_row(str(i), syntax, Text(step.text))
        self.console.print(table)
        if self.notes:
            then_now = Table(
                title="then vs now: the article and current PyTorch",
                title_justify="left",
                show_lines=True,
            )
            then_now.add_column("then (the article, or code of its time)")
            then_now.add_column("now")
            then_now.add_column("why")
            for article, now, why in self.notes:
                then_now.add_row(Text(article), Text(now), Text(why))
            self.console.print(then_now)
        for path in self.files:
            self.console.print(Text(f"saved {path}"))
