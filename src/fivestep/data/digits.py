"""scikit-learn's bundled digits as images: a DataModule whose `x` is not a table."""

import numpy as np
import torch
from sklearn.datasets import load_digits

from fivestep.config.types import Fraction, PositiveInt
from fivestep.data.base import InMemoryDataModule, Splits
from fivestep.data.split import split_indices
from fivestep.errors import UserError
from fivestep.models.task import Task

GREY_LEVELS = 16.0  # the dataset's pixels are counts 0..16


class DigitsDataModule(InMemoryDataModule):
    """1,797 handwritten digits, `x: (rows, 1, 8, 8)` float32 grey levels in [0, 1],
    `y: (rows,)` int64 digits 0-9; read from scikit-learn's own files (no download).

    The example of a DataModule of another shape than a table (docs/extending.md):
    `input_shape` is `(1, 8, 8)`, there is no fitted preprocessing (pixels are
    divided by 16, a constant), so nothing goes into `state_dict` or an export's graph,
    and `predict.py` takes `.npy` arrays of shape `(rows, 1, 8, 8)`.

    Args:
        val_fraction, test_fraction: shares of all rows held out (0 = no such split).
        split_seed: seed of the stratified split (and of the folds).
        batch_size, shuffle, seed, on_device, folds, fold, eval_batch_size: batching and
            cross-validation, see `InMemoryDataModule`.
    """

    applies_folds = True  # load() passes folds/fold to split_indices

    def __init__(
        self,
        val_fraction: Fraction = 0.2,
        test_fraction: Fraction = 0.2,
        split_seed: int = 0,
        batch_size: PositiveInt | None = None,
        shuffle: bool = True,
        seed: int = 0,
        on_device: bool = False,
        folds: int | None = None,
        fold: int = 0,
        eval_batch_size: PositiveInt | None = None,
    ) -> None:
        super().__init__(batch_size, shuffle, seed, on_device, folds, fold,
                         eval_batch_size=eval_batch_size)
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_seed = split_seed

    @property
    def task(self) -> Task:
        return "multiclass"

    @property
    def num_classes(self) -> int:
        return 10

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (1, 8, 8)

    @property
    def n_features(self) -> int:
        return 64

    def load(self) -> Splits:
        digits = load_digits()
        x = (digits.images.astype(np.float32) / GREY_LEVELS)[:, None]  # (rows, 1, 8, 8)
        y = digits.target.astype(np.int64)
        try:
            parts = split_indices(
                y, self.val_fraction, self.test_fraction, self.split_seed, stratify=True,
                folds=self.folds, fold=self.fold,
            )
        except ValueError as err:  # fractions or folds that 1,797 rows cannot give
            raise UserError(f"data=digits: {err}") from None
        splits = {
            name: (torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))
            for name, idx in zip(("train", "val", "test"), parts, strict=True)
        }
        splits["all"] = (torch.from_numpy(x), torch.from_numpy(y))
        return splits
