"""`predict(cfg)`: new raw rows in, one prediction per row out, from a checkpoint alone.

Tables take CSV or Parquet rows (raw, as in the training file); data of another shape
(images, arrays: `data=digits`, and the synthetic data) takes a `.npy` array
`x: (rows, *input_shape)` as the net does (`numpy.save`), read memory-mapped in chunks.

Reads top to bottom: rebuild the model and the fitted preprocessing from the
checkpoint, check the input and output paths, then stream the input in chunks
(`chunk_size` rows: pandas' `chunksize` for CSV, pyarrow record batches for
Parquet) through `transform` -> `predict_step` -> a CSV, so memory stays flat
whatever the file's size. The CSV is written to a temporary file beside the output
and renamed at the end: a failure leaves no half-written output, and an existing
file is only replaced with `overwrite=true`.

Output columns: the input's `id_column` (when set); `prediction` (the class name as
in the training labels, or the regression value in the target's units); and for
classification `probability_<class>` per class. For a `.npy` input, `row` (the
row's index in the array) comes first.
"""

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from torch import Tensor

from fivestep.checkpointing.reading import Restored, restore
from fivestep.errors import UserError
from fivestep.models.task import class_probabilities

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".parquet", ".pq", ".npy")


def read_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The rows of a CSV or Parquet file, `chunk_size` at a time."""
    try:
        if path.suffix.lower() == ".csv":
            yield from pd.read_csv(path, chunksize=chunk_size)
        else:
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
                yield batch.to_pandas()
    except pd.errors.EmptyDataError:
        raise UserError(f"input={str(path)!r} is empty; give a file with a header row") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"input={str(path)!r} cannot be read as {path.suffix[1:]}: {first}; "
            "check that it is a valid file of that type"
        ) from None


def read_array(path: Path, input_shape: tuple[int, ...], chunk_size: int) -> Iterator[Tensor]:
    """`x: (chunk, *input_shape)` float32 chunks of a `.npy` array, read memory-mapped."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"input={str(path)!r} cannot be read as .npy: {first}; save x with "
                        "numpy.save") from None
    want = ("rows", *input_shape)
    if array.ndim == 0 or tuple(array.shape[1:]) != tuple(input_shape):
        raise UserError(f"input={str(path)!r} holds an array of shape {array.shape}, but this "
                        f"checkpoint's net takes x: ({', '.join(map(str, want))})")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise UserError(f"input={str(path)!r} holds {array.dtype} values; give numbers")
    for start in range(0, len(array), chunk_size):
        yield torch.from_numpy(np.asarray(array[start : start + chunk_size], dtype=np.float32))


def predict_frame(restored: Restored, rows: pd.DataFrame, id_column: str | None) -> pd.DataFrame:
    """Predictions for raw `rows` as a table: id, `prediction`, `probability_<class>`."""
    x = restored.datamodule.transform(rows.drop(columns=[id_column]) if id_column else rows)
    out = pd.DataFrame(index=rows.index)
    if id_column:
        out[id_column] = rows[id_column].to_numpy()
    return prediction_columns(restored, x, out)


def prediction_columns(restored: Restored, x: Tensor, out: pd.DataFrame) -> pd.DataFrame:
    """`out` with `prediction` and `probability_<class>` columns for the net's input `x`."""
    dm = restored.datamodule
    with torch.no_grad():
        y = restored.model.predict_step(x, 0)
    task = restored.model.task
    if task == "regression":
        out["prediction"] = dm.inverse_target(y).numpy()
        return out
    names = dm.label_names
    probs = class_probabilities(y, task)
    out["prediction"] = [names[i] for i in probs.argmax(dim=1).tolist()]
    for i, name in enumerate(names):
        out[f"probability_{name}"] = probs[:, i].numpy()
    return out


def _check_paths(cfg: DictConfig) -> tuple[Path, Path]:
    if not cfg.get("input"):
        raise UserError("input is required: python predict.py ckpt_path=<file.ckpt> "
                        "input=<rows.csv|.parquet|x.npy> output=<predictions.csv>")
    source = Path(str(cfg.input))
    if source.is_dir():
        raise UserError(f"input={str(source)!r} is a directory; give a .csv or .parquet file")
    if not source.is_file():
        raise UserError(f"input={str(source)!r}: no such file; give a .csv or .parquet file")
    if source.suffix.lower() not in SUFFIXES:
        raise UserError(f"input={str(source)!r}: unknown file type {source.suffix!r}; "
                        "use .csv or .parquet (tables) or .npy (arrays)")
    target = Path(str(cfg.output)) if cfg.get("output") else (
        Path(cfg.paths.output_dir) / "predictions.csv"
    )
    if target.suffix.lower() != ".csv":
        raise UserError(f"output={str(target)!r}: predictions are written as CSV; "
                        "give a path ending in .csv")
    if target.exists() and not cfg.get("overwrite", False):
        raise UserError(f"output={str(target)!r} exists; choose another output or add "
                        "overwrite=true")
    return source, target


def predict(cfg: DictConfig) -> Path:
    """Predict every row of `cfg.input` into the CSV `cfg.output`; return its path."""
    source, target = _check_paths(cfg)
    restored = restore(cfg.get("ckpt_path"), cfg, "predict.py")
    dm = restored.datamodule
    array = source.suffix.lower() == ".npy"
    shape = ", ".join(map(str, ("rows", *dm.input_shape)))
    if array and dm.raw_rows:
        raise UserError(f"input={str(source)!r}: checkpoint {str(restored.path)!r} takes raw "
                        f"table rows ({restored.config.data._target_}); give a .csv or .parquet "
                        "file with its columns")
    if not array and not dm.raw_rows:
        raise UserError(
            f"checkpoint {str(restored.path)!r} was trained on "
            f"{restored.config.data._target_}, which has no saved preprocessing for raw "
            f"rows; give input= a .npy array of x: ({shape}) as the net takes it"
        )
    if array and cfg.get("id_column"):
        raise UserError("id_column is for table rows; a .npy input's rows are numbered in "
                        "the output's row column: drop id_column")
    if array:
        return _predict_array(restored, source, target, int(cfg.get("chunk_size") or 10_000))
    id_column = cfg.get("id_column")
    features = restored.datamodule.input_columns
    chunk_size = int(cfg.get("chunk_size") or 10_000)

    rows = 0
    with _atomic_csv(target) as f, warnings.catch_warnings():
        warnings.simplefilter("once")  # "ignoring columns ..." once, not per chunk
        for chunk in read_chunks(source, chunk_size):
            absent = [c for c in features if c not in chunk.columns]
            if absent:
                raise UserError(
                    f"input={str(source)!r} lacks feature columns the model was trained "
                    f"on: {', '.join(map(str, absent))}; it needs all of "
                    f"{', '.join(map(str, features))}"
                )
            if id_column and id_column not in chunk.columns:
                raise UserError(
                    f"id_column={id_column!r} is not a column of {str(source)!r}; the "
                    f"columns are {', '.join(map(str, chunk.columns))}"
                )
            header = f.tell() == 0
            predict_frame(restored, chunk, id_column).to_csv(f, header=header, index=False)
            rows += len(chunk)
        if f.tell() == 0:  # no rows at all: still write the header
            empty = pd.DataFrame(columns=[*filter(None, [id_column]), *features])
            predict_frame(restored, empty, id_column).to_csv(f, index=False)
    log.info("Wrote %d predictions to %s", rows, target)
    return target


def _predict_array(restored: Restored, source: Path, target: Path, chunk_size: int) -> Path:
    """`predict` for a `.npy` input: the same atomic CSV, with a `row` column first."""
    rows = 0
    with _atomic_csv(target) as f:
        for x in read_array(source, tuple(restored.datamodule.input_shape), chunk_size):
            out = pd.DataFrame({"row": np.arange(rows, rows + len(x))})
            prediction_columns(restored, x, out).to_csv(f, header=rows == 0, index=False)
            rows += len(x)
    log.info("Wrote %d predictions to %s", rows, target)
    return target


@contextmanager
def _atomic_csv(target: Path) -> Iterator[TextIO]:
    """A text file that becomes `target` only when the block completes: written beside
    it under a temporary name, renamed over it at the end, removed on any error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
