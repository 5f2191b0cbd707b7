"""`check_output`: one forward pass of two real rows before training, so that a net that
does not fit the data stops with one `error:` line instead of a shape traceback from
deep inside Lightning or a figure callback."""

import torch
from torch import nn

from fivestep.errors import UserError
from fivestep.models.task import out_features


def check_output(model: nn.Module, datamodule: object) -> None:
    """Run `model.net` on two rows of the data; refuse a net that cannot take them or
    whose output is not `(rows, 1)` (binary, regression) or `(rows, K)` (K classes).

    Runs in eval mode under `no_grad`, so no batch-norm statistics move and no dropout
    draws a random number: the run after it is the run without it."""
    net, task = getattr(model, "net", None), getattr(model, "task", None)
    splits = getattr(datamodule, "splits", None)
    if net is None or task is None or not splits:
        return
    x = splits["train"][0] if len(splits["train"][0]) else splits["all"][0]
    x = torch.as_tensor(x[:2])
    name = type(net).__name__
    width = out_features(task, getattr(model, "num_classes", None))
    shape = f"({len(x)}, {width})"
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            output = net(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"model.net ({name}) cannot take this data's input x: {tuple(x.shape)}: {first}; "
            "pick a net for inputs of this shape (model/net=...), see docs/extending.md"
        ) from None
    finally:
        net.train(was_training)
    fits = (
        isinstance(output, torch.Tensor) and output.ndim >= 1 and output.shape[0] == len(x)
        and (output.shape[1:] == (width,) if task == "multiclass" else output[0].numel() == 1)
    )
    if not fits:
        per_row = "one logit per class" if task == "multiclass" else "one value per row"
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise UserError(
            f"model.net ({name}) returns {got} for x: {tuple(x.shape)}, but this "
            f"{task} data needs {shape} ({per_row}); "
            "set the net's output width to model.net.out_features=null (filled from the data)"
        )
