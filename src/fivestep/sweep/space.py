"""Hydra sweep syntax -> Optuna distributions.

A search space is written the way Hydra writes sweeps, in the config
(`hydra.sweeper.params`) or on the command line:

- `interval(0.001, 0.1)` -> a float between the bounds; `tag(log, interval(...))`
  samples its logarithm; `int(interval(1, 64))` -> an integer.
- `choice(a, b, c)` or `a,b,c` -> one of the values (any type, `null` included; a
  list such as `[64,32]` is kept as its text, which Hydra reads back as the list).
- `range(1, 5)` -> an integer in 1..4 (`step` honoured); float ranges become a choice.
- anything else (`experiment=two_layer`) is fixed: passed unchanged to every trial.
"""

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from fivestep.errors import UserError

_PLAIN = (type(None), bool, int, float, str)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (`key=interval(...)`, ...)."""
    sweep = override.value()
    log = "log" in getattr(sweep, "tags", set())
    if isinstance(sweep, ChoiceSweep):
        # Optuna's choices are plain values: a list or dict goes in as Hydra's text for it
        texts = override.sweep_string_iterator()
        values = [v if isinstance(v, _PLAIN) else t for v, t in zip(sweep.list, texts, strict=True)]
        return CategoricalDistribution(values)
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if all(isinstance(v, int) for v in values) and values:
            return IntDistribution(values[0], values[-1], log=log, step=int(sweep.step))
        return CategoricalDistribution(values)
    if isinstance(sweep, IntervalSweep):
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise UserError(
        f"{override.input_line}: Optuna cannot sample this sweep; use interval(...), "
        "choice(...) or range(...)"
    )


def search_space(lines: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """Split `key=value` lines into the searched distributions and the fixed overrides.

    Later lines win over earlier ones for the same key, so command-line arguments
    (given after the config's `params`) replace them.

    Returns:
        `({"model.optimizer.lr": FloatDistribution(...)}, ["experiment=two_layer"])`.
    """
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.input_line
    return space, list(fixed.values())


def as_override(key: str, value: Any) -> str:
    """`key=value` in Hydra's syntax (`None` -> `null`, `True` -> `true`)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = str(value)
    return f"{key}={text}"
