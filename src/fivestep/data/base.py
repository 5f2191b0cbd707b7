"""The DataModule contract, declared once, and the in-memory base every DataModule uses.

What the rest of the project reads of a DataModule, and nothing more:

| who              | reads                                                                |
|------------------|----------------------------------------------------------------------|
| `train()`        | `shape()` -> `DataShape(task, num_classes, n_features, input_shape,` |
|                  | `n_numeric, train_rows)`;                                            |
|                  | two rows of `splits["train"]` (a dry forward of the net)             |
| Lightning        | `setup`, the `*_dataloader`s, `state_dict` / `load_state_dict`       |
| figure callbacks | `splits` (`"val"`, else `"all"`), `label_names`                      |
| `predict.py`     | `label_names`, `inverse_target`; tables: `raw_rows`, `input_columns`,|
|                  | `transform`; other shapes: `input_shape` (a `.npy` array of `x`)     |
| `export.py`      | `input_shape`, `label_names`, `in_graph()`, `splits["test"]`;        |
|                  | tables: `feature_names`                                              |

**Any shape.** `x` is `(rows, *input_shape)` float32: `(rows, n_features)` for a table,
`(rows, 1, 8, 8)` for `data=digits`' images. What every DataModule gives: `load()`,
`task`, `num_classes`, `input_shape` (default `(n_features,)`), `n_features` (the
numbers in one row of `x`, `prod(input_shape)`), `label_names`, `inverse_target`,
`state_dict`; and it honours `data.folds`/`data.fold` (set `applies_folds = True`
where `load()` passes them to `fivestep.data.split.split_indices`; the base class
refuses them for a DataModule that does not).

**Tables only** (`x: (rows, n_features)`): `feature_names`, `n_numeric` (how many
leading columns are numbers: the tables' net embeds those; None elsewhere), and for raw rows
(`raw_rows = True`) `input_columns` and `transform`; `in_graph()`, the column-wise
imputation and scaling an export repeats (None, the default: the data has none).

A new dataset subclasses `InMemoryDataModule` and implements `load()` (read the data,
fit any preprocessing on the training rows, return the splits) and the `task` /
`num_classes` / `n_features` properties (and `input_shape` where `x` is not a table);
everything else has a default here. `tests/data/test_contract.py` runs every
DataModule of `configs/data/` through it; docs/extending.md walks through one.
"""

import logging
import math
from typing import Any, Literal, NamedTuple

import lightning as L
import pandas as pd
from torch import Tensor

from fivestep.data.batches import TensorBatches, to_device
from fivestep.errors import UserError
from fivestep.models.task import Task

log = logging.getLogger(__name__)

Splits = dict[str, tuple[Tensor, Tensor]]
SPLITS = ("train", "val", "test", "all")


class DataShape(NamedTuple):
    """What the model's sizes need from the data (`fivestep.config.sizes`):
    `input_shape` is one row of `x` (`(n_features,)` for a table, `(1, 8, 8)` for
    8x8 grey images); None is read as `(n_features,)`."""

    task: Task
    num_classes: int | None
    n_features: int
    input_shape: tuple[int, ...] | None = None
    n_numeric: int | None = None  # leading numeric columns of `x` (tables); None = unknown
    train_rows: int | None = None  # rows in the training split; None = unknown


class InGraph(NamedTuple):
    """The preprocessing an exported model does in its graph: the first `len(median)`
    input columns are numeric, imputed with `median` where NaN, then standardized as
    `(x - shift) / scale`; a regression output is mapped back as
    `y * target_scale + target_shift`."""

    median: Tensor
    shift: Tensor
    scale: Tensor
    target_shift: float = 0.0
    target_scale: float = 1.0


class InMemoryDataModule(L.LightningDataModule):
    """A DataModule whose rows live in memory as tensors, batched by `TensorBatches`.

    `load()` runs once, the first time `shape()` or `setup()` needs the data (`train()`
    asks for the shape before Lightning calls `setup`; `setup` then reuses the splits).

    Args:
        batch_size: rows per step; `None` = the full batch, as in the seed; "auto" =
            sized to the table once it is read (`auto_batch_size`: about 32 steps an
            epoch, between 32 and 512 rows).
        shuffle: reshuffle the training rows every epoch (when batches are smaller
            than the training set).
        seed: base seed of the per-epoch shuffles.
        on_device: move the tables to the trainer's device once in `setup`, so batches
            are sliced there and never copied host -> device per step (for a GPU).
        folds, fold: k-fold cross-validation (`fivestep.data.split.split_indices`): with
            `folds=k`, fold `fold` (0..k-1) of the non-test rows is the validation split.
            None = the plain train/val/test split.
        eval_batch_size: rows per validation, test and predict batch; None = `batch_size`.
            Evaluation keeps no activations for a backward pass, so far larger batches
            fit; each batch is a trip through Lightning's evaluation loop and the
            metrics' updates (~1 ms), which at batch 1024 made validating 1M rows cost
            a third of training on them. The metrics are the same up to rounding.
    """

    raw_rows = False  # True where `transform` turns raw table rows into `x`
    applies_folds = False  # True where `load()` applies `folds`/`fold` (split_indices)

    def __init__(
        self, batch_size: int | Literal["auto"] | None = None, shuffle: bool = True, seed: int = 0,
        on_device: bool = False, folds: int | None = None, fold: int = 0,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.eval_batch_size = eval_batch_size
        self.on_device = on_device
        self.folds, self.fold = folds, fold
        self.splits: Splits = {}

    # ---------------------------------------------------------------- to implement

    def load(self) -> Splits:
        """Read the data (and fit any preprocessing on the training rows); return
        `{"train", "val", "test", "all"}` -> `(x: (rows, *input_shape) float32, y: (rows,))`,
        `y` float32 for binary and regression, int64 class indices for multi-class."""
        raise NotImplementedError

    @property
    def task(self) -> Task:
        """"binary", "multiclass" or "regression"."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int | None:
        """K for classification (2 for binary), None for regression."""
        raise NotImplementedError

    @property
    def n_features(self) -> int:
        """Numbers in one row of `x`: a table's width (after any encoding)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- defaults

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one row of `x`: `(n_features,)` for a table."""
        return (self.n_features,)

    @property
    def label_names(self) -> list[str] | None:
        """Class names by index (None for regression)."""
        return None if self.num_classes is None else [str(i) for i in range(self.num_classes)]

    @property
    def n_numeric(self) -> int | None:
        """How many leading columns of `x` are numbers (the rest one-hot codes); None =
        not known (a net then treats every column alike)."""
        return None

    @property
    def feature_names(self) -> list[str]:
        """Names of the columns of `x`, in order (tables; `x<i>` for the flat numbers of
        any other shape)."""
        return [f"x{i}" for i in range(self.n_features)]

    @property
    def input_columns(self) -> list[str]:
        """The raw columns `transform` needs (with `raw_rows`)."""
        return self.feature_names

    def transform(self, rows: pd.DataFrame) -> Tensor:
        """Raw table rows -> `x: (rows, n_features)` float32 (with `raw_rows`)."""
        raise UserError(
            f"{type(self).__name__} has no preprocessing for raw rows; predict works on "
            "checkpoints of tables (data=tabular, data=breast_cancer, ...)"
        )

    def inverse_target(self, y: Tensor) -> Tensor:
        """Regression outputs in training units -> the target's original units."""
        return y

    def in_graph(self) -> InGraph | None:
        """The column-wise preprocessing an exported model repeats on raw table rows;
        None (the default) where `x` goes into the net as it is."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """Fitted preprocessing as plain data, saved in every checkpoint (none here)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    # ---------------------------------------------------------------- the lifecycle

    def shape(self) -> DataShape:
        """The data's task and sizes; reads the data if it has not been read yet."""
        self._ensure_loaded()
        return DataShape(self.task, self.num_classes, self.n_features,
                         tuple(self.input_shape), self.n_numeric, len(self.splits["train"][0]))

    def setup(self, stage: str | None = None) -> None:
        self._ensure_loaded()
        if self.on_device and self.trainer is not None:
            self.splits = to_device(self.splits, self.trainer.strategy.root_device)

    def _ensure_loaded(self) -> None:
        if not self.splits:
            self._check_folds()
            splits = self.load()
            missing = [name for name in SPLITS if name not in splits]
            if missing:
                raise RuntimeError(f"{type(self).__name__}.load() returned no {missing} split")
            self.splits = splits
            if self.batch_size == "auto":
                self.batch_size = auto_batch_size(len(splits["train"][0]))
                log.info("data.batch_size=auto: %d rows a step", self.batch_size)

    def _check_folds(self) -> None:
        """`data.folds`/`data.fold` are applied (`applies_folds`) or refused, never ignored."""
        name = type(self).__name__
        folds, fold = self.folds, self.fold
        if folds is None:
            if fold not in (0, None):
                raise UserError(f"data.fold={fold} has no effect without data.folds; set "
                                f"data.folds=k (k-fold cross-validation) or drop data.fold")
            return
        if not self.applies_folds:
            raise UserError(
                f"data.folds={folds}: {name} does not deal its rows into folds; set "
                "data.folds=null, or make its load() pass folds/fold to "
                "fivestep.data.split.split_indices and set applies_folds = True"
            )
        if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
            raise UserError(f"data.folds={folds!r} must be an integer of at least 2 "
                            "(or null: no cross-validation)")
        if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < folds:
            raise UserError(f"data.fold={fold!r} must be one of 0..{folds - 1} with "
                            f"data.folds={folds}")

    def _batches(self, split: str, train: bool = False) -> TensorBatches:
        trainer = self.trainer
        return TensorBatches(
            self.splits[split],
            batch_size=self.batch_size if train else self.eval_batch_size or self.batch_size,
            shuffle=self.shuffle and train,
            seed=self.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            pad=train,
        )

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", train=True)

    def val_dataloader(self) -> TensorBatches | list:
        return self._batches("val") if len(self.splits["val"][0]) else []

    def test_dataloader(self) -> TensorBatches | list:
        return self._batches("test") if len(self.splits["test"][0]) else []

    def predict_dataloader(self) -> TensorBatches:
        return self._batches("all")


def auto_batch_size(rows: int, steps: int = 32, smallest: int = 32, largest: int = 512) -> int:
    """`data.batch_size=auto`: the power of two nearest `rows / steps`, kept within
    `[smallest, largest]` (and at most `rows`). Small tables get small batches, so that an
    epoch still takes several optimizer steps; a few thousand training rows get 256 (the
    size the tabular literature tunes its recipes at), and from about 11,600 on, 512: the
    same arithmetic per row in half the steps (a 54,000-row table trains in 54 s instead
    of 78 s on 2 cores, to the same R^2)."""
    if rows < 1:
        return 1
    nearest = 2 ** round(math.log2(max(rows / steps, 1)))
    return int(min(rows, max(smallest, min(largest, nearest))))
