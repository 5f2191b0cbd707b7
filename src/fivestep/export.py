"""`export(cfg)`: a checkpoint as one standalone model file (ONNX, torch.export or TorchScript).

The file holds the net and, in the graph, everything between a table's numbers and
the answer: missing-value imputation and standardization of the numeric columns
(the fitted statistics saved in the checkpoint), the output activation, and for a
regression target the way back to its original units. It runs without fivestep,
Lightning or Hydra: ONNX in onnxruntime (any language); `format=pt2`, a
`torch.export.ExportedProgram` saved with `torch.export.save`, with
`torch.export.load(path).module()` (PyTorch's current format, also the input of
AOTInductor and ExecuTorch); TorchScript with `torch.jit.load` (deprecated by PyTorch:
kept for old consumers, `format=pt2` replaces it).

Input of a table: `x: (rows, n_features)` float32, the columns named in the sidecar
`<file>.json` under `input.columns`, in that order:

- each numeric feature as its raw value (NaN allowed: imputed with the training
  median in the graph);
- then, for each categorical feature, one 0/1 column per level seen in training,
  named `column=level` (a level not seen in training: all zeros).

Output: binary -> `(rows,)` probability of `label_names[1]`; multi-class ->
`(rows, K)` probabilities in `label_names` order; regression -> `(rows,)` values in
the target's units. A data set without fitted preprocessing (the synthetic one, the
digits) takes its `x` as the net does, of any shape: `x: (rows, *input_shape)`
(`(rows, 1, 8, 8)` for `data=digits`), as the sidecar's `input.shape` says; the graph
then holds no preprocessing.

After writing, the exported file is run on the test rows and compared with the
checkpoint's own predictions; the largest difference is logged and stored in the
sidecar (`check`; null when the run's data can no longer be read: the export itself
needs only the checkpoint).
"""

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from fivestep.checkpointing.reading import Restored, restore
from fivestep.errors import UserError
from fivestep.models.task import TASKS, predictions

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".pt"}


class Standalone(nn.Module):
    """Preprocessing + net + output activation, as one module that exports cleanly.

    Args:
        net: the trained net, `(rows, *input_shape)` -> logits or values.
        task: "binary", "multiclass" or "regression".
        median, shift, scale: `(n_numeric,)` imputation values and standardization
            of the first `n_numeric` input columns of a table (`(x - shift) / scale`);
            empty (the default) = `x` goes into the net as it is, of any shape.
        target_shift, target_scale: regression outputs are `value * scale + shift`.
    """

    def __init__(
        self,
        net: nn.Module,
        task: str,
        median: Tensor | None = None,
        shift: Tensor | None = None,
        scale: Tensor | None = None,
        target_shift: float = 0.0,
        target_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.net, self.task = net, task
        none = torch.zeros(0)
        median, shift, scale = (none if t is None else t for t in (median, shift, scale))
        self.n_numeric = len(median)
        self.register_buffer("median", median.float().reshape(-1))
        self.register_buffer("shift", shift.float().reshape(-1))
        self.register_buffer("scale", scale.float().reshape(-1))
        self.target_shift, self.target_scale = float(target_shift), float(target_scale)

    def forward(self, x: Tensor) -> Tensor:
        """`x: (rows, n_features)` raw numbers (or `(rows, *input_shape)` without
        preprocessing) -> probabilities `(rows,)`/`(rows, K)` or values."""
        if self.n_numeric:  # a table's imputation and scaling, in the graph
            numeric, onehot = x[:, : self.n_numeric], x[:, self.n_numeric :]
            numeric = torch.where(torch.isnan(numeric), self.median, numeric)
            x = torch.cat([(numeric - self.shift) / self.scale, onehot], dim=1)
        y = predictions(self.net(x), self.task)
        return y if self.task != "regression" else y * self.target_scale + self.target_shift


def _task(restored: Restored) -> str:
    task = getattr(restored.model, "task", None)
    if task not in TASKS:
        raise UserError(f"checkpoint {str(restored.path)!r}: cannot tell its task ({task!r})")
    return task


def standalone(restored: Restored) -> tuple[Standalone, dict[str, Any]]:
    """The module to export and a description of its input and output."""
    task = _task(restored)
    dm = restored.datamodule
    graph = dm.in_graph()  # None where x goes into the net as it is (synthetic, digits)
    n_numeric = len(graph.median) if graph is not None else 0
    shape = list(dm.input_shape)
    columns = dm.feature_names if len(shape) == 1 else None  # names only for a table's columns
    label_names = dm.label_names
    module = Standalone(restored.model.net, task, *(graph or ())).eval()
    output = {
        "binary": f"(rows,) probability of class {label_names[1] if label_names else 1}",
        "multiclass": "(rows, K) class probabilities, in label_names order",
        "regression": "(rows,) predicted values in the target's units",
    }[task]
    spec = {
        "task": task,
        "input": {
            "name": "x",
            "dtype": "float32",
            "shape": ["rows", *shape],
            "columns": columns,
            "numeric_columns": n_numeric,
            "encoding": "numeric columns raw (NaN allowed), then one 0/1 column per "
            "category level ('column=level')" if graph is not None else
            "x as the net takes it, no preprocessing",
        },
        "output": {"name": "y", "meaning": output},
        "label_names": label_names,
    }
    return module, spec


def raw_input(datamodule: Any, rows: pd.DataFrame) -> Tensor:
    """Raw table rows -> the exported model's input `(rows, n_features)` float32.

    The same columns as `datamodule.transform(rows)`, but the numeric ones keep their
    raw values (NaN included): the exported graph imputes and standardizes them.
    """
    x = datamodule.transform(rows)
    graph = datamodule.in_graph()
    numeric = datamodule.feature_names[: len(graph.median) if graph is not None else 0]
    values = rows[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    x[:, : len(numeric)] = torch.from_numpy(values)
    return x


def held_out_rows(
    restored: Restored, module: Standalone, rows: int = 256
) -> tuple[Tensor, Tensor]:
    """Up to `rows` real test rows, as the exported model takes them and as the net does.

    Returns `(x_raw, x_net)`: the exported model's input form (numeric columns back in
    raw units) and the DataModule's own preprocessed tensor of the same rows.
    """
    dm = restored.datamodule
    dm.setup("test")
    x_net = dm.splits["test"][0] if len(dm.splits["test"][0]) else dm.splits["all"][0]
    x_net = x_net[:rows]
    x_raw = x_net.clone()
    n = module.n_numeric
    if n:
        x_raw[:, :n] = x_net[:, :n] * module.scale + module.shift
    return x_raw, x_net


def checkpoint_predictions(restored: Restored, x_net: Tensor) -> Tensor:
    """What the checkpoint's own model predicts for preprocessed rows (`predict_step`)."""
    with torch.no_grad():
        y = restored.model.predict_step(x_net, 0)
    return restored.datamodule.inverse_target(y) if _task(restored) == "regression" else y


def write(module: Standalone, example: Tensor, path: Path, fmt: str) -> None:
    """Write `module` as ONNX, an ExportedProgram or TorchScript, with a dynamic number
    of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("rows", min=1)
    if fmt == "pt2":
        with torch.no_grad():
            program = torch.export.export(module, (example,), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, str(path))
    elif fmt == "onnx":
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            input_names=["x"],
            output_names=["y"],
            dynamic_shapes={"x": {0: batch}},
            external_data=False,
            verbose=False,  # no "[torch.onnx] ..." progress lines
        )
        program.save(str(path))
    else:
        log.warning("format=torchscript: torch.jit.trace is deprecated in PyTorch; "
                    "format=pt2 (torch.export) is its replacement")
        with torch.no_grad():
            traced = torch.jit.trace(module, (example,), check_trace=False)
        traced.save(str(path))


def run_exported(path: Path, fmt: str, x: Tensor) -> np.ndarray:
    """Outputs of the exported file for `x`, computed the way a user would."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"x": x.numpy()})[0]
    if fmt == "pt2":
        program = torch.export.load(str(path))
        with torch.no_grad():
            return program.module()(x).numpy()
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        return loaded(x).numpy()


def export(cfg: DictConfig) -> Path:
    """Export `cfg.ckpt_path` in `cfg.format`; return the model file's path."""
    fmt = str(cfg.get("format"))
    if fmt not in FORMATS:
        raise UserError(f"format={fmt!r} is not supported; use format=onnx, format=pt2 or "
                        "format=torchscript")
    restored = restore(cfg.get("ckpt_path"), cfg, "export.py")
    module, spec = standalone(restored)
    default = Path(cfg.paths.output_dir) / f"model{FORMATS[fmt]}"
    out = Path(cfg.output) if cfg.get("output") else default
    if out.exists() and not cfg.get("overwrite", False):
        raise UserError(f"output={str(out)!r} exists; choose another output or add overwrite=true")

    try:
        x_raw, x_net = held_out_rows(restored, module)
    except UserError as err:  # the training data is gone: export anyway, unchecked
        log.warning("Cannot read the run's data to check the export (%s); not checked", err)
        x_raw = x_net = None
    example = x_raw if x_raw is not None else torch.zeros(2, *spec["input"]["shape"][1:])
    try:
        write(module, example, out, fmt)
    except Exception as err:  # a net torch.export / ONNX cannot trace: one line, not pages
        out.unlink(missing_ok=True)
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise UserError(
            f"format={fmt}: the net {type(restored.model.net).__name__} could not be exported "
            f"for input x: {tuple(example.shape)} ({type(err).__name__}: {first}); try "
            f"another format ({', '.join(f for f in FORMATS if f != fmt)})"
        ) from None
    check = None
    if x_raw is not None and x_net is not None:
        expected = checkpoint_predictions(restored, x_net).numpy()
        diff = float(np.max(np.abs(run_exported(out, fmt, x_raw) - expected)))
        check = {"rows": len(x_raw), "max_abs_difference": diff}
        log.info("On %d test rows the export differs from the checkpoint by at most %.2g",
                 len(x_raw), diff)
    spec.update(format=fmt, checkpoint=str(restored.path.resolve()), check=check)
    out.with_suffix(out.suffix + ".json").write_text(json.dumps(spec, indent=2) + "\n")
    log.info("Wrote %s (%s) and %s", out, fmt, out.name + ".json")
    return out
