"""Building objects from config nodes, with a user's error kept as one line."""

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from fivestep.errors import UserError


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`instantiate`, but a `UserError` raised by the object comes out as itself
    (Hydra wraps it), so the user sees its one-line message."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    if not group:
        return []
    return [build(node) for node in group.values() if isinstance(node, DictConfig)]
