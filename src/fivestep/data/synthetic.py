"""The seed's data: scikit-learn's `make_classification`, held in memory as tensors."""

import lightning as L
import numpy as np
import torch
from sklearn.datasets import make_classification

from fivestep.data.batches import TensorBatches, to_device
from fivestep.data.split import split_indices


class SyntheticDataModule(L.LightningDataModule):
    """`make_classification` rows split into train/val/test, batched by slicing.

    The defaults are the article's: 100 rows, 5 features of which 3 informative,
    `random_state=101`, features and labels as float32.

    Args:
        n_samples, n_features, n_informative, n_redundant, n_classes, random_state:
            passed to `sklearn.datasets.make_classification`.
        val_fraction, test_fraction: shares of all rows held out (0 = no such split).
        split_seed: seed of the stratified split.
        batch_size: rows per training step; `None` = the full batch, as in the seed.
        shuffle: reshuffle the training rows every epoch (when batches are smaller
            than the training set).
        seed: base seed of the per-epoch shuffles.
        on_device: move the tables to the trainer's device once in `setup`, so batches
            are sliced there and never copied host -> device per step (for a GPU).
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
    ) -> None:
        super().__init__()
        self.n_samples, self.n_features = n_samples, n_features
        self.n_informative, self.n_redundant = n_informative, n_redundant
        self.n_classes, self.random_state = n_classes, random_state
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_seed, self.batch_size = split_seed, batch_size
        self.shuffle, self.seed = shuffle, seed
        self.on_device = on_device
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def task(self) -> str:
        """"binary" for two classes, else "multiclass" (the model's shape reads it)."""
        return "binary" if self.n_classes == 2 else "multiclass"

    @property
    def num_classes(self) -> int:
        return self.n_classes

    def setup(self, stage: str | None = None) -> None:
        if self.splits:  # read already (train() reads the data before the Trainer exists)
            if self.on_device and self.trainer is not None:
                self.splits = to_device(self.splits, self.trainer.strategy.root_device)
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
        if self.on_device and self.trainer is not None:
            self.splits = to_device(self.splits, self.trainer.strategy.root_device)

    def _batches(self, split: str, train: bool = False) -> TensorBatches:
        trainer = self.trainer
        rank = trainer.global_rank if trainer else 0
        world = trainer.world_size if trainer else 1
        return TensorBatches(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=self.shuffle and train,
            seed=self.seed,
            rank=rank,
            world_size=world,
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
