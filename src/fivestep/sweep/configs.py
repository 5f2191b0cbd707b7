"""A batch of trials' job configs, composed once.

Hydra's sweepers build each job's config with `config_loader.load_sweep_config`, which
composes the whole defaults tree again for every job: about 0.3 s a trial on the 2-core
machine, more than a member trial of `two_layer` costs to train. The trials of one batch
usually differ only in plain values (`model.optimizer.lr=0.0123`): the defaults tree and
its composition are then the same for all, and Hydra applies such values after composing
(`OmegaConf.update(cfg, key, value, merge=True)`, in the config's struct mode).

`trial_configs` composes the batch's first trial with Hydra's own `load_sweep_config`
and makes every other trial whose overrides change only plain values of the same keys
from it: those values set as Hydra sets them, and the job's record of them
(`hydra.overrides.task`, `hydra.job.override_dirname`) written as Hydra writes it. A
trial that chooses another config group, adds or deletes a key, overrides a `hydra.` key
or sets a list or dict is composed by Hydra as before.

The configs come one at a time, and the value-only trials are one config object, set
to each trial's values in turn (a copy per trial cost more than the rest of a member
trial's job): the caller takes what it keeps of each (the job folder copies its task
keys and its Hydra node) before it asks for the next. `trial_configs(...)` in a list
comprehension with `copy.deepcopy` gives independent configs.
`tests/sweep/test_trial_configs.py` checks that the configs equal Hydra's own, key for
key; if a Hydra release composes jobs differently, it fails by name.
"""

import re
from collections.abc import Iterator, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from omegaconf import DictConfig, OmegaConf, read_write

_PLAIN = (type(None), bool, int, float, str)
_ABSENT = object()


def trial_configs(loader: Any, master: DictConfig, batch: Sequence[Sequence[str]]
                  ) -> Iterator[DictConfig]:
    """Each trial's job config in turn, as `loader.load_sweep_config(master, overrides)`
    gives it. A config yielded may be the one yielded before with other values: use
    it (or copy it) before asking for the next.

    Args:
        loader: the sweeper's `hydra_context.config_loader`.
        master: the sweep's config (the sweeper's `config`).
        batch: each trial's overrides (`key=value` lines), the fixed ones and the
            sampled ones in the same order for every trial.
    """
    if not batch:
        return
    parser = OverridesParser.create()
    lines = list(batch[0])
    first = loader.load_sweep_config(master, lines)
    yield first
    originals: dict[str, Any] = {}  # the first trial's value of every key a trial has set
    for overrides in batch[1:]:
        changes = _value_changes(parser, lines, list(overrides), first)
        if changes is None:
            yield loader.load_sweep_config(master, list(overrides))
            continue
        for key in changes:
            if key not in originals:
                originals[key] = _raw(first, key)
        for key, original in originals.items():
            OmegaConf.update(first, key, changes.get(key, original), merge=True)
        parsed = [o for o in parser.parse_overrides(list(overrides)) if not o.is_hydra_override()]
        with read_write(first.hydra):  # the job folder made the last trial's read-only
            first.hydra.overrides.task = [o.input_line for o in parsed]
            first.hydra.job.override_dirname = _override_dirname(parsed, first)
        yield first


def _raw(cfg: DictConfig, key: str) -> Any:
    """The value at `key` as written, an interpolation unresolved."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return OmegaConf.to_container(node, resolve=False)[leaf]


def _value_changes(parser: OverridesParser, first: list[str], lines: list[str],
                   composed: DictConfig) -> dict[str, Any] | None:
    """`{key: value}` of the lines that differ from the first trial's, when each sets
    another plain value of the same existing, non-group key; None otherwise (the trial
    is then composed by Hydra)."""
    if len(lines) != len(first):
        return None
    choices = composed.hydra.runtime.choices
    changes: dict[str, Any] = {}
    for old, new in zip(first, lines, strict=True):
        if old == new:
            continue
        a, b = parser.parse_overrides([old, new])
        key = b.key_or_group
        for override in (a, b):
            if (override.key_or_group != key or override.type != OverrideType.CHANGE
                    or override.package is not None or override.is_hydra_override()
                    or override.value_type != ValueType.ELEMENT):
                return None
        value = b.value()
        if (key in choices or key in changes or not isinstance(value, _PLAIN)
                or OmegaConf.select(composed, key, default=_ABSENT) is _ABSENT):
            return None
        changes[key] = value
    return changes


def _override_dirname(parsed: list[Override], cfg: DictConfig) -> str:
    """`hydra.job.override_dirname` as Hydra writes it: the job's overrides but the
    excluded keys, sorted, joined by `item_sep`, with `kv_sep` for `=`."""
    settings = cfg.hydra.job.config.override_dirname
    excluded = set(settings.exclude_keys)
    lines = sorted(str(o.input_line) for o in parsed if o.key_or_group not in excluded)
    return re.sub("=", settings.kv_sep, settings.item_sep.join(lines))
