"""The model's shape, taken from the data: a net's input width is only known after the
DataModule has read and encoded its table (one-hot columns add features).

`fill_from_data` runs between `datamodule.setup("fit")` and building the model. In the
model config a size left `null` (or `???`) is filled in from the data; a size that is
set must agree with it. Because the config itself is filled in, the run's saved
config (`.hydra/config.yaml`, the checkpoint) holds the real sizes and can rebuild
the same model without the data.

Filled keys (each only where the model config has it):

| key                     | from the data                                  |
|-------------------------|------------------------------------------------|
| `model.task`            | `datamodule.task` ("binary", "multiclass", "regression") |
| `model.num_classes`     | `datamodule.num_classes` (None for regression) |
| `model.net.in_features` | `datamodule.n_features` (after encoding)       |
| `model.net.out_features`| 1 for binary and regression, K for K classes   |
| `model.loss` (if `auto`)| the task's usual loss: bce, cross_entropy, mse |

So the saved config, and the hyperparameters logged, name the loss actually used.
"""

from typing import Any, Protocol

from omegaconf import DictConfig, OmegaConf, open_dict

from fivestep.errors import UserError
from fivestep.models.losses import DEFAULTS


class DataShape(Protocol):
    """What a DataModule tells the model after `setup()`."""

    task: str
    num_classes: int | None
    n_features: int


def out_features(task: str, num_classes: int | None) -> int:
    """Width of the net's output: one logit or value, or one logit per class."""
    return num_classes if task == "multiclass" and num_classes else 1


def fill_from_data(model_cfg: DictConfig, data: DataShape) -> None:
    """Fill the model's unset sizes from `data`; refuse a set size that disagrees."""
    wanted: list[tuple[DictConfig, str, Any, str]] = [
        (model_cfg, "task", data.task, "the data's task"),
        (model_cfg, "num_classes", data.num_classes, "the number of classes in the target"),
    ]
    net = model_cfg.get("net")
    if isinstance(net, DictConfig):
        wanted += [
            (net, "in_features", data.n_features, "the number of features after encoding"),
            (net, "out_features", out_features(data.task, data.num_classes),
             "1 for a binary or regression target, K for K classes"),
        ]
    if model_cfg.get("loss") == "auto":
        with open_dict(model_cfg):
            model_cfg.loss = DEFAULTS.get(data.task, "auto")
    for node, key, value, meaning in wanted:
        if key not in node.keys():  # `in node` is False for a ??? value
            continue
        name = f"model.{'net.' if node is net else ''}{key}"
        if OmegaConf.is_missing(node, key) or node[key] is None:
            with open_dict(node):
                node[key] = value
        elif node[key] != value:
            raise UserError(
                f"{name}={node[key]!r} but the data needs {value!r} ({meaning}); "
                f"set {name}=null to take it from the data"
            )
