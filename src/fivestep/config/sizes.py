"""The model's shape, taken from the data: a net's input width is only known after the
DataModule has read and encoded its table (one-hot columns add features).

`sized_from_data(cfg.model, datamodule.shape())` runs before the model is built and
returns the model config with its sizes filled in: a size left `null` (or `???`) is
taken from the data; a size that is set must agree with it. `train()` puts the result
back into the run's config, so the saved config (`.hydra/config.yaml`, the checkpoint)
holds the real sizes and can rebuild the same model without the data.

Filled keys (each only where the model config has it):

| key                     | from the data                                  |
|-------------------------|------------------------------------------------|
| `model.task`            | `datamodule.task` ("binary", "multiclass", "regression") |
| `model.num_classes`     | `datamodule.num_classes` (None for regression) |
| `model.net.in_features` | `datamodule.n_features` (after encoding)       |
| `model.net.in_channels` | `datamodule.input_shape[0]` (images: `x: (rows, C, H, W)`) |
| `model.net.out_features`| 1 for binary and regression, K for K classes   |
| `model.net.numeric`     | `datamodule.n_numeric` (tables; None elsewhere) |
| `model.loss` (if `auto`)| the task's usual loss: bce, cross_entropy, mse |
| `model.net.ensemble`    | if `auto`: a `TabularMLP`'s members, from the training rows |

So the saved config, and the hyperparameters logged, name the loss actually used.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from fivestep.data.base import DataShape
from fivestep.errors import UserError
from fivestep.models.losses import DEFAULTS
from fivestep.models.nets import auto_ensemble
from fivestep.models.task import out_features


def sized_from_data(model_cfg: DictConfig, data: DataShape) -> DictConfig:
    """A copy of `model_cfg` with its unset sizes filled from `data`; a set size that
    disagrees is refused."""
    model_cfg = model_cfg.copy()
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
            (net, "numeric", data.n_numeric, "the number of numeric columns, which come first"),
        ]
        shape = data.input_shape or (data.n_features,)
        if len(shape) > 1:  # channels first: (channels, height, width), ...
            wanted.append((net, "in_channels", shape[0], "the channels of the data's x"))
        elif "in_channels" in net.keys():
            raise UserError(
                f"model.net ({net.get('_target_')}) takes images x: (rows, channels, height, "
                f"width), but this data's x is a table ({', '.join(map(str, ('rows', *shape)))}); "
                "pick a net for tables (model/net=mlp) or data with images (data=digits)"
            )
    if isinstance(net, DictConfig) and net.get("ensemble") == "auto":
        with open_dict(net):
            net.ensemble = auto_ensemble(data.train_rows)
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
    return model_cfg
