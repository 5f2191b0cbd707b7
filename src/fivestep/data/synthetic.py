"""The seed's data: scikit-learn's `make_classification`, held in memory as tensors."""

import numpy as np
import torch
from sklearn.datasets import make_classification

from fivestep.config.types import ClassCount, Fraction, NonNegativeInt, PositiveInt
from fivestep.data.base import InMemoryDataModule, Splits
from fivestep.data.split import split_indices
from fivestep.errors import UserError
from fivestep.models.task import Task, task_for_classes


class SyntheticDataModule(InMemoryDataModule):
    """`make_classification` rows split into train/val/test, batched by slicing.

    The defaults are the article's: 100 rows, 5 features of which 3 informative,
    `random_state=101`, features and labels as float32.

    Args:
        n_samples, n_features, n_informative, n_redundant, n_classes, random_state:
            passed to `sklearn.datasets.make_classification`.
        val_fraction, test_fraction: shares of all rows held out (0 = no such split).
        split_seed: seed of the stratified split (and of the folds).
        batch_size, shuffle, seed, on_device, folds, fold, eval_batch_size: batching and
            cross-validation, see `InMemoryDataModule`.
    """

    applies_folds = True  # load() passes folds/fold to split_indices

    def __init__(
        self,
        n_samples: PositiveInt = 100,
        n_features: PositiveInt = 5,
        n_informative: PositiveInt = 3,
        n_redundant: NonNegativeInt = 2,
        n_classes: ClassCount = 2,
        random_state: int = 101,
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
        self.n_samples, self._n_features = n_samples, n_features
        self.n_informative, self.n_redundant = n_informative, n_redundant
        self.n_classes, self.random_state = n_classes, random_state
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_seed = split_seed

    @property
    def task(self) -> Task:
        """"binary" for two classes, else "multiclass"."""
        return task_for_classes(self.n_classes)

    @property
    def num_classes(self) -> int:
        return self.n_classes

    @property
    def n_features(self) -> int:
        return self._n_features

    def load(self) -> Splits:
        try:
            x, y = make_classification(
                n_samples=self.n_samples,
                n_features=self._n_features,
                n_informative=self.n_informative,
                n_redundant=self.n_redundant,
                n_classes=self.n_classes,
                random_state=self.random_state,
            )
        except ValueError as err:  # the sizes do not fit together (informative > features...)
            raise UserError(
                f"data: make_classification refuses n_samples={self.n_samples}, "
                f"n_features={self._n_features}, n_informative={self.n_informative}, "
                f"n_redundant={self.n_redundant}, n_classes={self.n_classes}: {err}"
            ) from None
        x = x.astype(np.float32)
        y = y.astype(np.float32) if self.n_classes == 2 else y.astype(np.int64)
        parts = split_indices(
            y, self.val_fraction, self.test_fraction, self.split_seed, stratify=True,
            folds=self.folds, fold=self.fold,
        )
        splits = {
            name: (torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))
            for name, idx in zip(("train", "val", "test"), parts, strict=True)
        }
        splits["all"] = (torch.from_numpy(x), torch.from_numpy(y))
        return splits
