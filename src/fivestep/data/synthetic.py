"""The seed's data: scikit-learn's `make_classification`, held in memory as tensors."""

import numpy as np
import torch
from sklearn.datasets import make_classification

from fivestep.data.base import InMemoryDataModule
from fivestep.data.split import split_indices


class SyntheticDataModule(InMemoryDataModule):
    """`make_classification` rows split into train/val/test, batched by slicing.

    The defaults are the article's: 100 rows, 5 features of which 3 informative,
    `random_state=101`, features and labels as float32.

    Args:
        n_samples, n_features, n_informative, n_redundant, n_classes, random_state:
            passed to `sklearn.datasets.make_classification`.
        val_fraction, test_fraction: shares of all rows held out (0 = no such split).
        split_seed: seed of the stratified split.
        batch_size, shuffle, seed, on_device: batching, see `InMemoryDataModule`.
    """

    def __init__(
        self,
        n_samples: int = 100,
        n_features: int = 5,
        n_informative: int = 3,
        n_redundant: int = 2,
        n_classes: int = 2,
        random_state: int = 101,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        batch_size: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        on_device: bool = False,
        steps_per_batch: int = 1,
    ) -> None:
        super().__init__(batch_size, shuffle, seed, on_device, steps_per_batch)
        self.n_samples, self.n_features = n_samples, n_features
        self.n_informative, self.n_redundant = n_informative, n_redundant
        self.n_classes, self.random_state = n_classes, random_state
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_seed = split_seed

    @property
    def task(self) -> str:
        """"binary" for two classes, else "multiclass" (the model's shape reads it)."""
        return "binary" if self.n_classes == 2 else "multiclass"

    @property
    def num_classes(self) -> int:
        return self.n_classes

    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # read already (train() reads the data before the Trainer exists)
            self.move_to_device()
            return
        x, y = make_classification(
            n_samples=self.n_samples,
            n_features=self.n_features,
            n_informative=self.n_informative,
            n_redundant=self.n_redundant,
            n_classes=self.n_classes,
            random_state=self.random_state,
        )
        x = x.astype(np.float32)
        y = y.astype(np.float32) if self.n_classes == 2 else y.astype(np.int64)
        parts = split_indices(
            y, self.val_fraction, self.test_fraction, self.split_seed, stratify=True
        )
        for name, idx in zip(("train", "val", "test"), parts, strict=True):
            self.splits[name] = (torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))
        self.splits["all"] = (torch.from_numpy(x), torch.from_numpy(y))
        self.move_to_device()
