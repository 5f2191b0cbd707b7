"""`check_types` and `check_entry`: every value a user can type, judged before anything runs.

`check_types` walks a composed config and, for each node with a `_target_`, validates
every value the user set against the signature of the class or function it names,
with pydantic in strict mode (`"abc"` is not an int, `1.5` is not an int, `true` is
not a number). A range comes from an `Annotated[..., Field(gt=0)]` hint where the
project owns the signature (`fivestep.config.types`), and from `RULES` below for
third-party targets (torch optimizers and schedulers, Lightning's Trainer and
callbacks) and for the data modules' shared arguments. A key that is not an
argument of its target is refused too (it would be ignored, or fail later).

`check_entry` judges the top-level keys of an entry point's config (`train.py`,
`eval.py`, `predict.py`, `export.py`): their types, and that no key is one the
command does not read (`input=` given to `train.py`).

Each problem is one `UserError` naming the key, the value, what is accepted and the
target, so the command prints one `error:` line.
"""

import inspect
import types
import typing
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any, Literal, Union

from omegaconf import DictConfig, ListConfig, OmegaConf
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from fivestep.config.types import (
    ClassCount,
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from fivestep.errors import UserError

_STRICT = ConfigDict(strict=True, arbitrary_types_allowed=True)
_MINUS_ONE = Literal[-1]
_UNIT = Annotated[float, Field(ge=0, lt=1)]

# Ranges for arguments of targets whose signatures the project does not own (or, for the
# data modules, shares): (class or base class, {argument: hint}). A rule replaces the
# argument's own hint. The first matching class wins for each argument.
RULES: list[tuple[str, dict[str, Any]]] = [
    ("torch.optim.Optimizer", {
        "lr": PositiveFloat,
        "weight_decay": NonNegativeFloat,
        "momentum": NonNegativeFloat,
        "dampening": NonNegativeFloat,
        "eps": NonNegativeFloat,
        "lr_decay": NonNegativeFloat,
        "alpha": NonNegativeFloat,
        "rho": Annotated[float, Field(ge=0, le=1)],
        "betas": tuple[_UNIT, _UNIT],
        "max_iter": PositiveInt,
        "history_size": PositiveInt,
    }),
    ("torch.optim.lr_scheduler.StepLR", {"step_size": PositiveInt, "gamma": PositiveFloat}),
    ("torch.optim.lr_scheduler.CosineAnnealingLR", {
        "T_max": PositiveInt, "eta_min": NonNegativeFloat,
    }),
    ("torch.optim.lr_scheduler.ReduceLROnPlateau", {
        "factor": Annotated[float, Field(gt=0, lt=1)],
        "patience": NonNegativeInt,
        "min_lr": NonNegativeFloat,
    }),
    ("lightning.pytorch.Trainer", {
        "max_epochs": _MINUS_ONE | PositiveInt | None,  # -1 = no limit
        "min_epochs": NonNegativeInt | None,
        "max_steps": _MINUS_ONE | PositiveInt,
        "min_steps": NonNegativeInt | None,
        "check_val_every_n_epoch": PositiveInt | None,
        "log_every_n_steps": PositiveInt | None,
        "accumulate_grad_batches": PositiveInt,
        "gradient_clip_val": NonNegativeFloat | None,
        "num_sanity_val_steps": _MINUS_ONE | NonNegativeInt | None,
        "limit_train_batches": NonNegativeInt | Annotated[float, Field(ge=0, le=1)] | None,
        "limit_val_batches": NonNegativeInt | Annotated[float, Field(ge=0, le=1)] | None,
        "limit_test_batches": NonNegativeInt | Annotated[float, Field(ge=0, le=1)] | None,
    }),
    ("lightning.pytorch.callbacks.EarlyStopping", {"patience": NonNegativeInt}),
    ("lightning.pytorch.callbacks.ModelCheckpoint", {
        "save_top_k": Annotated[int, Field(ge=-1)],
        "every_n_epochs": NonNegativeInt | None,
        "every_n_train_steps": NonNegativeInt | None,
    }),
    # every in-memory data module (tabular, synthetic, the built-in tables)
    ("fivestep.data.base.InMemoryDataModule", {
        "batch_size": PositiveInt | Literal["auto"] | None,  # null = full batch
        "val_fraction": Fraction,
        "test_fraction": Fraction,
        "n_classes": ClassCount,
    }),
]

# The top-level keys each entry point reads, with their types. eval/predict/export also
# take `data`, `model`, `trainer` and `seed` nodes, merged over the checkpoint's config.
_RESTORE = {"data": dict, "model": dict, "trainer": dict, "seed": int | None}
ENTRY_KEYS: dict[str, dict[str, Any]] = {
    "train": {
        "task_name": str, "tags": list, "train": bool, "test": bool, "ckpt_path": str | None,
        "seed": int | None, "optimized_metric": str | None,
        "lr_find": bool, "lr_find_search": dict | None, "baselines": dict | None,
        "data": dict, "model": dict, "callbacks": dict | None, "logger": dict | None,
        "trainer": dict, "paths": dict, "checkpoint_io": dict | None, "extras": dict | None,
    },
    "eval": {"task_name": str, "ckpt_path": str | None, "paths": dict, **_RESTORE},
    "predict": {
        "task_name": str, "ckpt_path": str | None, "input": str | None, "output": str | None,
        "id_column": str | None, "chunk_size": PositiveInt, "overwrite": bool, "paths": dict,
        **_RESTORE,
    },
    "export": {
        "task_name": str, "ckpt_path": str | None,
        "format": Literal["onnx", "pt2", "torchscript"], "output": str | None,
        "overwrite": bool,
        "paths": dict, **_RESTORE,
    },
    "serve": {
        "task_name": str, "ckpt_path": str | None, "host": str, "port": NonNegativeInt,
        "token_env": str | None, "token_file": str | None, "max_batch_rows": PositiveInt,
        "max_wait_ms": NonNegativeFloat, "max_rows": PositiveInt, "max_body_bytes": PositiveInt,
        "access_log": bool, "graceful_timeout_s": NonNegativeInt, "paths": dict,
        "onnx": str | None, **_RESTORE,
    },
}
_SCRIPT_OF = {name: f"{name}.py" for name in ENTRY_KEYS}


# ---------------------------------------------------------------- describing a hint


_PLURAL = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
_SINGULAR = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _bounds(meta: list[Any]) -> list[str]:
    words = []
    for item in meta:
        for m in getattr(item, "metadata", [item]):  # a FieldInfo holds annotated_types
            for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                bound = getattr(m, attr, None)
                if bound is not None and type(m).__name__.lower() == attr:
                    words.append(f"{sign} {bound:g}")
            if getattr(m, "allow_inf_nan", True) is False:
                words.insert(0, "finite")
    return words


def describe(hint: Any, plural: bool = False) -> str:
    """A reader's name for a hint: `an integer > 0 or null`, `one of 'a', 'b'`."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *meta = typing.get_args(hint)
        words = _bounds(meta)
        finite = "finite" in words
        rest = [w for w in words if w != "finite"]
        text = describe(base, plural)
        if finite:
            text = text.replace("a number", "a finite number").replace("numbers", "finite numbers")
        return f"{text} {' and '.join(rest)}".strip()
    if hint is type(None) or hint is None:
        return "null"
    if origin in (Union, types.UnionType):
        parts: list[str] = []
        for arg in typing.get_args(hint):
            text = describe(arg, plural)
            if text not in parts:
                parts.append(text)
        nulls = [p for p in parts if p == "null"]
        return " or ".join([p for p in parts if p != "null"] + nulls)
    if origin is Literal:
        values = typing.get_args(hint)
        if len(values) == 1:
            return repr(values[0])
        return "one of " + ", ".join(repr(v) for v in values)
    if origin in (list, tuple, set, frozenset) or (
        origin is not None and getattr(origin, "__name__", "") in ("Sequence", "Iterable")
    ):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if origin is tuple and len(args) > 1 and len(set(args)) == 1:
            return f"a list of {len(args)} {describe(args[0], plural=True)}"
        return f"a list of {describe(args[0], plural=True)}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    if hint in _SINGULAR:
        return _PLURAL[hint] if plural else _SINGULAR[hint]
    if hint is list:
        return "a list"
    if hint is Any:
        return "anything"
    name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
    return f"{name} values" if plural else name


# ---------------------------------------------------------------- judging one value


_ADAPTERS: dict[int, tuple[Any, TypeAdapter | None]] = {}  # id(hint) -> (hint, validator)


def _adapter(hint: Any) -> TypeAdapter | None:
    """pydantic's strict validator for `hint`; None for a hint it cannot build one for."""
    if id(hint) not in _ADAPTERS:
        try:
            adapter = TypeAdapter(hint, config=_STRICT)
        except Exception:  # not judged
            adapter = None
        _ADAPTERS[id(hint)] = (hint, adapter)  # the hint is kept, so its id stays its own
    return _ADAPTERS[id(hint)][1]


def _problem(hint: Any, value: Any) -> str | None:
    """None when `value` fits `hint`, else what is wrong (an item of a list, ...)."""
    adapter = _adapter(hint)
    if adapter is None:
        return None
    try:
        adapter.validate_python(value)
        return None
    except ValidationError as err:
        if isinstance(value, list):  # a YAML list where the hint says tuple
            try:
                adapter.validate_python(tuple(value))
                return None
            except ValidationError:
                pass
        for e in err.errors():
            index = next((p for p in e["loc"] if isinstance(p, int)), None)
            if index is not None and isinstance(value, list | tuple) and index < len(value):
                return f"item {index} is {value[index]!r}"
        return ""
    except Exception:  # a validator that cannot judge this value (an odd custom type)
        return None


def _refuse(path: str, value: Any, hint: Any, target: str | None, detail: str) -> None:
    accepted = describe(hint)
    where = f" (an argument of {target})" if target else ""
    detail = f": {detail}" if detail else ""
    raise UserError(
        f"{path}={_show(value)} is not {accepted}{detail}{where}; set {path} to {accepted}"
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- a target's arguments


@cache
def _signature(target: str) -> tuple[Any, dict[str, Any], set[str], bool]:
    """The object `target` names, its arguments' hints, their names, and whether it
    takes any keyword (**kwargs all the way up)."""
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception as err:  # an import error names the module, which is enough
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"_target_ {target!r} cannot be imported: {first}") from None
    hints: dict[str, Any] = {}
    names: set[str] = set()
    functions = [c.__init__ for c in obj.__mro__ if "__init__" in vars(c)] if (
        inspect.isclass(obj)
    ) else [obj]
    open_ended = True
    for fn in functions:  # a subclass's **kwargs go to its parents' __init__
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            break
        for name, param in params.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or name == "self":
                continue
            names.add(name)
        try:
            for name, hint in typing.get_type_hints(fn, include_extras=True).items():
                hints.setdefault(name, hint)
        except Exception:  # unresolvable forward references: nothing to judge them by
            pass
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            open_ended = False
            break
    ruled: set[str] = set()
    for base, rules in RULES:
        try:
            cls = get_object(base)
        except Exception:  # e.g. a library that is not installed: its rules do not apply
            continue
        if inspect.isclass(obj) and inspect.isclass(cls) and issubclass(obj, cls):
            for name, hint in rules.items():
                if name in names and name not in ruled:
                    hints[name] = hint
                    ruled.add(name)
    return obj, hints, names, open_ended


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


def _has_target(node: Any) -> bool:
    return any(True for _ in _targets(node, ""))


def _plain(node: DictConfig, key: Any) -> tuple[bool, Any]:
    """(True, the value as plain Python) for a value the user set; (False, None) for one
    not known yet (`???`, an interpolation that resolves later) or a nested target."""
    raw = node._get_node(key)
    if raw is None or raw._is_missing():
        return False, None
    if isinstance(raw, DictConfig | ListConfig):
        if raw._is_none():
            return True, None
        if _has_target(raw):
            return False, None
        try:
            return True, OmegaConf.to_container(raw, resolve=True)
        except Exception:
            return False, None
    try:
        return True, node[key]
    except Exception:
        return False, None


def _check_node(path: str, node: DictConfig) -> None:
    """Check each value of one `_target_` node against its target's arguments."""
    target = str(node._target_)
    _, hints, names, open_ended = _signature(target)
    for key in node:
        key = str(key)
        if key.startswith("_"):
            continue
        if key not in names and not open_ended:
            from fivestep.config.provenance import where_set

            known = ", ".join(sorted(names)) or "none"
            refused = [f"{path}.{k}" for k in map(str, node)
                       if not k.startswith("_") and k not in names]
            source = where_set(f"{path}.{key}", refused)  # an experiment's keys, another net
            fix = source or f"; remove {path}.{key} or correct its name"
            raise UserError(
                f"{path}.{key} is not an argument of {target} (its arguments: {known}){fix}"
            )
        if key not in hints:
            continue
        given, value = _plain(node, key)
        if not given:
            continue
        detail = _problem(hints[key], value)
        if detail is not None:
            _refuse(f"{path}.{key}", value, hints[key], target, detail)


def check_types(cfg: DictConfig) -> None:
    """Raise `UserError` for the first config value its target's signature refuses."""
    for key in cfg:
        if key == "hydra":  # Hydra checks its own config
            continue
        for path, node in _targets(cfg._get_node(key), str(key)):
            _check_node(path, node)


def check_entry(cfg: DictConfig) -> None:
    """Raise `UserError` for a top-level key the command does not read, or of the wrong type.

    Does nothing for a config whose `task_name` is not one of the four entry points.
    """
    task = cfg.get("task_name") if "task_name" in cfg else None
    schema = ENTRY_KEYS.get(str(task))
    if schema is None:
        return
    for key in cfg:
        key = str(key)
        if key == "hydra":
            continue
        if key not in schema:
            raise UserError(unknown_key_message(str(task), key))
        raw = cfg._get_node(key)
        if isinstance(raw, DictConfig | ListConfig):
            continue  # the groups: their targets are checked by check_types
        given, value = _plain(cfg, key)
        if given:
            detail = _problem(schema[key], value)
            if detail is not None:
                _refuse(key, value, schema[key], None, detail)
    if task == "train":
        _check_train_modes(cfg)


def unknown_key_message(task: str, key: str) -> str:
    """What to say about a top-level `key` that the `task` entry point does not read."""
    readers = [_SCRIPT_OF[t] for t, keys in ENTRY_KEYS.items() if key in keys]
    read_by = f" (it is read by {', '.join(readers)})" if readers else ""
    return f"{key} is not a setting of {_SCRIPT_OF[task]}{read_by}; remove it or correct its name"


def _check_train_modes(cfg: DictConfig) -> None:
    """train.py settings that would do nothing. (`train=false` without `ckpt_path` tests
    the initial weights, with a warning from `train()`.)"""
    if not cfg.get("train", True) and not cfg.get("test", True):
        raise UserError("train=false test=false: nothing to run; drop one of them")
