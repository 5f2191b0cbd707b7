"""Every `python train.py|eval.py|predict.py|export.py ...` command in a code block of
README.md or docs/*.md composes with the real configs (the pages stay true as configs
change). Placeholders (`$CKPT`, `<run>`) stand for a value; a sweep (`-m a=1,2`) is
checked on its first value of each swept key."""

import re
import shlex

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser

from fivestep.errors import check_command_line

from .conftest import CONFIGS, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCRIPTS = ("train", "eval", "predict", "export")
COMMAND = re.compile(rf"\bpython (?P<script>{'|'.join(SCRIPTS)})\.py\b(?P<rest>.*)")
FLAGS = {"-m", "--multirun", "--help", "-h", "--hydra-help", "--info"}
ENDS = {"|", "&&", ";", ">", ">>", "2>&1", "&"}


def documented_commands() -> list[tuple[str, str, str]]:
    """(where, script, the text after `python <script>.py`) for every command in a code
    block, a `\\`-continued command joined into one line."""
    found = []
    for page in PAGES:
        fence, lines = False, page.read_text().splitlines()
        joined, start = "", 0
        for number, line in enumerate(lines, 1):
            if line.lstrip().startswith("```"):
                fence = not fence
                continue
            if not fence:
                continue
            if not joined:
                start = number
            joined += line.rstrip()
            if joined.endswith("\\"):
                joined = joined[:-1] + " "
                continue
            for match in COMMAND.finditer(joined):
                found.append((f"{page.relative_to(ROOT)}:{start}", match["script"], match["rest"]))
            joined = ""
    return found


def overrides_of(rest: str) -> list[str]:
    """The Hydra overrides of a command line: flags, `--cfg job` and shell plumbing
    dropped, placeholders replaced by a value, a sweep narrowed to its first value."""
    args = []
    words = shlex.split(rest, comments=True)
    skip = False
    for word in words:
        if word in ENDS:
            break
        if skip:
            skip = False
            continue
        if word in ("--cfg", "-c", "--package", "-p"):
            skip = True
            continue
        if word in FLAGS or "=" not in word:
            continue
        word = re.sub(r"\$\{?\w+\}?|<[^>]*>", "x", word)
        args.append(word)
    narrowed = []
    for parsed, text in zip(OverridesParser.create().parse_overrides(args), args, strict=True):
        if parsed.is_sweep_override():
            if parsed.value_type is not None and "glob" in str(parsed.value_type).lower():
                continue  # glob(*) over a group: any option, checked as that group's files
            first = next(iter(parsed.sweep_string_iterator()))
            text = f"{parsed.get_key_element()}={first}"
        narrowed.append(text)
    return narrowed


COMMANDS = documented_commands()


def test_the_pages_have_commands():
    assert len(COMMANDS) >= 30, "the extraction found too few commands: a broken pattern?"
    assert any(where.startswith("README.md") for where, _, _ in COMMANDS)


@pytest.fixture(scope="module")
def hydra_configs():
    """Hydra initialised once on `configs/` for the module (composing is then ~50 ms)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        yield
    GlobalHydra.instance().clear()


@pytest.mark.slow  # ~45 composes: 20 s of the default tier's 45 s budget
@pytest.mark.parametrize("where, script, rest", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_documented_command_composes(where, script, rest, hydra_configs):
    overrides = overrides_of(rest)
    check_command_line(script, CONFIGS, overrides)  # no top-level key the script lacks
    compose(script, overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("rest", ["experiment=nope", "model.optimizer.lrr=0.1",
                                  "-m data.batch_size=16,abc trainer.max_epochz=2"])
def test_a_command_that_no_longer_composes_is_caught(rest, hydra_configs):
    with pytest.raises(Exception, match="nope|lrr|max_epochz"):
        compose("train", overrides=overrides_of(rest), return_hydra_config=True)
