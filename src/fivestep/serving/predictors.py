"""What answers for the rows: a checkpoint (through `predict.py`'s own path) or an ONNX export.

Both take the raw rows of several requests at once (a DataFrame from
`fivestep.serving.rows`) and give back the table `predict.py` writes:
`prediction` and, for a classifier, `probability_<class>`.

- `CheckpointPredictor` calls `fivestep.predict.predict_frame`, the very function
  `predict.py` streams a file through: the checkpoint's fitted preprocessing
  (`transform`), `predict_step`, `inverse_target`, the label names.
- `OnnxPredictor` runs an `export.py` ONNX file in onnxruntime, without PyTorch or
  the checkpoint: the graph imputes and scales the numbers itself, so the rows are
  encoded from its sidecar `<file>.json` alone (the numeric columns raw, NaN for
  missing, then one 0/1 column per `column=level`).
"""

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from fivestep.data.prepared import level_codes
from fivestep.errors import UserError
from fivestep.serving.rows import Schema


class Predictor(Protocol):
    """The model behind the server."""

    schema: Schema
    task: str
    label_names: list[str] | None

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Raw rows -> `prediction` (+ `probability_<class>`), one output row per input row."""
        ...

    def metadata(self) -> dict[str, Any]:
        """Where the model came from (file, checkpoint, its config)."""
        ...


class CheckpointPredictor:
    """A train.py checkpoint of a table, answering as `predict.py` does."""

    def __init__(self, ckpt_path: str, overrides: DictConfig) -> None:
        from fivestep.checkpointing.reading import restore

        self.restored = restore(ckpt_path, overrides, "serve.py")
        dm = self.restored.datamodule
        if not dm.raw_rows:
            raise UserError(
                f"checkpoint {str(self.restored.path)!r} was trained on "
                f"{self.restored.config.data._target_}, which has no saved preprocessing for "
                "raw rows; serve checkpoints of tables (data=tabular, data=breast_cancer, ...)"
            )
        state = dm.state_dict()
        self.schema = Schema(list(state["features"]), list(state["numeric"]),
                             {c: list(v) for c, v in state["categorical"].items()})
        self.task = str(self.restored.model.task)
        self.label_names = dm.label_names

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        from fivestep.predict import predict_frame

        return predict_frame(self.restored, rows, None)

    def metadata(self) -> dict[str, Any]:
        return {"model": str(self.restored.path.resolve()), "format": "checkpoint",
                "checkpoint": str(self.restored.path.resolve()),
                "config": OmegaConf.to_container(self.restored.config, resolve=False)}


class OnnxPredictor:
    """An `export.py` ONNX file in onnxruntime (needs its `<file>.json` beside it)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        sidecar = self.path.with_suffix(self.path.suffix + ".json")
        if not self.path.is_file():
            raise UserError(f"model={str(self.path)!r}: no such file; give an .onnx file "
                            "written by export.py format=onnx")
        if not sidecar.is_file():
            raise UserError(f"model={str(self.path)!r} has no {sidecar.name} beside it; "
                            "export.py writes both: keep them together")
        try:
            self.spec = json.loads(sidecar.read_text())
            encoded = list(self.spec["input"]["columns"])
            n_numeric = int(self.spec["input"]["numeric_columns"])
            self.task = str(self.spec["task"])
            self.label_names = self.spec.get("label_names")
        except (ValueError, KeyError, TypeError) as err:
            raise UserError(f"{str(sidecar)!r} is not an export.py description ({err!r}); "
                            "export the checkpoint again") from None
        categorical: dict[str, list[str]] = {}
        for name in encoded[n_numeric:]:
            column, _, level = name.partition("=")
            categorical.setdefault(column, []).append(level)
        numeric = encoded[:n_numeric]
        self.schema = Schema([*numeric, *categorical], numeric, categorical)
        import onnxruntime

        try:
            self.session = onnxruntime.InferenceSession(
                str(self.path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own errors are not one class
            first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            raise UserError(f"model={str(self.path)!r} cannot be loaded by onnxruntime "
                            f"({first}); export the checkpoint again") from None
        self.width = len(encoded)

    def encode(self, rows: pd.DataFrame) -> np.ndarray:
        """Rows -> the graph's input `(rows, n_features)` float32."""
        x = np.zeros((len(rows), self.width), dtype=np.float32)
        n = len(self.schema.numeric)
        for j, column in enumerate(self.schema.numeric):
            x[:, j] = rows[column].to_numpy(np.float64)
        base = n
        for column, levels in self.schema.categorical.items():
            codes = level_codes(rows[column], levels)
            hit = codes >= 0
            x[np.flatnonzero(hit), base + codes[hit]] = 1.0
            base += len(levels)
        return x

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        y = self.session.run(None, {"x": self.encode(rows)})[0]
        out = pd.DataFrame(index=rows.index)
        if self.task == "regression":
            out["prediction"] = y.reshape(-1)
            return out
        names = self.label_names or []
        probs = np.stack([1 - y, y], axis=1) if self.task == "binary" else y
        out["prediction"] = [names[i] for i in probs.argmax(axis=1).tolist()]
        for i, name in enumerate(names):
            out[f"probability_{name}"] = probs[:, i]
        return out

    def metadata(self) -> dict[str, Any]:
        return {"model": str(self.path.resolve()), "format": "onnx",
                "checkpoint": self.spec.get("checkpoint"), "config": None,
                "export_check": self.spec.get("check")}
