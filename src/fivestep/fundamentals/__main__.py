"""`python -m fivestep.fundamentals [LESSON] [--out DIR]`: run the article's lessons.

Each lesson prints its steps (code, result, why) as a table; `autograd` and
`five_steps` also save plots into `--out` (default `logs/fundamentals/`, created if
missing; a rerun replaces the lesson's own PNGs there and touches nothing else).
"""

import argparse
import sys
from pathlib import Path

LESSONS = ("tensors", "vectors", "matrices", "autograd", "five_steps")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The lesson to run and the plot folder, from `argv` (default: the command line)."""
    parser = argparse.ArgumentParser(
        prog="python -m fivestep.fundamentals",
        description="Run the lessons of 'Fundamentals of PyTorch', one step per row.",
    )
    parser.add_argument(
        "lesson", nargs="?", default="all", choices=(*LESSONS, "all"),
        help="which lesson to run (default: all, in order)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("logs/fundamentals"), metavar="DIR",
        help="folder for the plots (default: logs/fundamentals)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the chosen lessons; a bad `--out` ends with one `error:` line and status 2."""
    args = parse(argv)
    # Imported after parsing, so that `--help` answers without loading torch.
    from importlib import import_module

    import torch
    from rich.console import Console
    from rich.rule import Rule

    from fivestep.errors import UserError
    from fivestep.fundamentals.lesson import Lesson

    # The lessons' tensors are tiny: a second thread only adds synchronisation, and on
    # a busy machine it makes the 200-epoch loop about ten times slower.
    torch.set_num_threads(1)
    console = Console()
    try:
        if args.out.exists() and not args.out.is_dir():
            raise UserError(f"--out {args.out}: is a file, not a folder; give a folder path")
        for name in LESSONS if args.lesson == "all" else (args.lesson,):
            module = import_module(f"fivestep.fundamentals.{name}")
            console.print(Rule(f"[bold]{name}[/bold]"))
            lesson = Lesson(module.TITLE, console)
            module.run(lesson, args.out)
            lesson.show()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
