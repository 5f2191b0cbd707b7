"""Which config file set a key: for the error about a key the user never typed.

Hydra's composed config does not record where each value came from. What it does
record, in `HydraConfig` (`runtime.choices`, `runtime.config_sources`,
`overrides.task`), is enough to find out: the file of every chosen option is
`<config dir>/<group>/<option>.yaml`, so each is read again (plain YAML, a few small
files) and asked whether it sets the key. An experiment (`# @package _global_`) that
sets `model.net.hidden` for `model/net=mlp` then shows up as the source of that key
when the user swaps in another net with `model/net=cnn`, and the error can name it
and the `~model.net.hidden` override that drops it.
"""

from pathlib import Path
from typing import Any, NamedTuple

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

_UNSET = object()


class Source(NamedTuple):
    """A place that set a key: a config file and the choice that picked it
    (`experiment=breast_cancer`), or the command line and the override."""

    where: str
    choice: str
    assumes: str | None = None  # e.g. "model/net=mlp": the option the file overrides


def sources_of(key: str) -> list[Source]:
    """Every chosen config file (and command-line override) that sets `key`, e.g.
    `model.net.hidden`, in the order Hydra applied them; [] outside a Hydra run."""
    if not HydraConfig.initialized():
        return []
    hydra_cfg = HydraConfig.get()
    roots = [Path(str(s.path)) for s in hydra_cfg.runtime.config_sources
             if s.schema == "file" and s.provider != "hydra"]
    found = []
    for group, option in hydra_cfg.runtime.choices.items():
        if not isinstance(option, str) or group.startswith("hydra"):
            continue
        path = next((r / group / f"{option}.yaml" for r in roots
                     if (r / group / f"{option}.yaml").is_file()), None)
        if path is None:
            continue
        node = _read(path)
        if node is None or _select(node, _relative(key, _package(path, group))) is _UNSET:
            continue
        shown = _shown(path)
        found.append(Source(shown, f"{group}={option}", _assumes(node, key, hydra_cfg)))
    for override in hydra_cfg.overrides.task:
        name = str(override).split("=", 1)[0].lstrip("+")
        if name == key:
            found.append(Source("the command line", str(override)))
    return found


def _read(path: Path) -> DictConfig | None:
    try:
        node = OmegaConf.load(path)
    except Exception:  # a file Hydra read but plain YAML cannot: nothing to say about it
        return None
    return node if isinstance(node, DictConfig) else None


def _package(path: Path, group: str) -> str | None:
    """The package a group file writes to: `""` for `_global_`, else its `@package` or
    the group path (`model/net` -> `model.net`)."""
    with path.open() as f:
        for line in f:
            if not line.startswith("#"):
                break
            if line.startswith("# @package"):
                package = line.removeprefix("# @package").strip()
                return "" if package == "_global_" else package.replace("_group_", group)
    return group.replace("/", ".")


def _relative(key: str, package: str | None) -> str | None:
    if package is None:
        return None
    if not package:
        return key
    return key[len(package) + 1 :] if key.startswith(package + ".") else None


def _select(node: DictConfig, key: str | None) -> Any:
    if not key:
        return _UNSET
    node = node.copy()
    if "defaults" in node:
        del node["defaults"]
    return OmegaConf.select(node, key, default=_UNSET, throw_on_missing=False)


def _assumes(node: DictConfig, key: str, hydra_cfg: Any) -> str | None:
    """The option of the key's group that the file picks itself (`override /model/net:
    mlp`), when the run has chosen another one."""
    defaults = node.get("defaults")
    if not isinstance(defaults, ListConfig):
        return None
    for entry in defaults:
        if not isinstance(entry, DictConfig):
            continue
        for name, option in entry.items():
            group = str(name).removeprefix("override ").strip().lstrip("/")
            if key.startswith(group.replace("/", ".") + ".") and (
                hydra_cfg.runtime.choices.get(group) != option
            ):
                return f"{group}={option}"
    return None


def _shown(path: Path) -> str:
    """The file as the user would type it: relative to the working directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def where_set(key: str, siblings: list[str] = ()) -> str:
    """The words for an error about `key`: which file set it and how to drop it (with
    any of `siblings`, the node's other refused keys, that the same file set); "" when
    only the user's own command line set it or nothing is known."""
    files = [s for s in sources_of(key) if s.where != "the command line"]
    if not files:
        return ""
    source = files[-1]
    keys = [key] + [k for k in siblings if k != key and source in sources_of(k)]
    assumes = f", which assumes {source.assumes}" if source.assumes else ""
    drop = " ".join(f"'~{k}'" for k in keys)
    return (f"; {' and '.join(keys)} {'were' if len(keys) > 1 else 'was'} set by "
            f"{source.where} ({source.choice}{assumes}): add {drop} to the command line "
            f"to drop {'them' if len(keys) > 1 else 'it'}")
