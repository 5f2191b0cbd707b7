"""`check_types`: every value of a composed config against the type hints of the class
or function its `_target_` names, so that `trainer.max_epochs=abc` is refused by name
before Lightning starts, rather than failing deep inside a run.
"""

import inspect
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union

from omegaconf import DictConfig, ListConfig

from fivestep.errors import UserError

_SIMPLE = (bool, int, float, str)


def _accepts(hint: Any, value: Any) -> bool | None:
    """Whether `value` fits `hint`; `None` when the hint is too rich to judge."""
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        verdicts = [_accepts(arg, value) for arg in typing.get_args(hint)]
        if any(v is True for v in verdicts):
            return True
        return None if any(v is None for v in verdicts) else False
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint in _SIMPLE:
        if hint is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        if hint is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, hint)
    return None


def _hints(target: str) -> dict[str, Any]:
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception as err:  # an import error names the module, which is enough
        raise UserError(f"_target_ {target!r} cannot be imported: {err}") from None
    fn = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: nothing to check against
        return {}


def _targets(node: Any, path: str) -> Iterator[tuple[str, DictConfig]]:
    if isinstance(node, DictConfig | ListConfig) and (node._is_none() or node._is_missing()):
        return
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node:
            yield from _targets(node._get_node(key), f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node._iter_ex(resolve=False)):
            yield from _targets(item, f"{path}[{i}]")


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def check_types(cfg: DictConfig) -> None:
    """Raise `UserError` for the first config value whose type its target refuses."""
    for key in cfg:
        if key == "hydra":  # Hydra checks its own config
            continue
        for path, node in _targets(cfg._get_node(key), str(key)):
            _check_node(path, node)


def _check_node(path: str, node: DictConfig) -> None:
    """Check each plain value of one `_target_` node against its type hints."""
    hints = _hints(node._target_)
    for key in node:
        if str(key).startswith("_") or key not in hints:
            continue
        raw = node._get_node(key)
        if isinstance(raw, DictConfig | ListConfig):
            continue
        try:
            value = node[key]
        except Exception:  # an interpolation that resolves only later
            continue
        hint = hints[key]
        if _accepts(hint, value) is False:
            raise UserError(
                f"{path}.{key}={value!r} is not {_type_name(hint)} (an argument of "
                f"{node._target_}); set {path}.{key} to a value of that type"
            )
