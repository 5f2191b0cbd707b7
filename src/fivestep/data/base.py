"""What every in-memory DataModule shares: its splits as tensors, and batches cut from them."""

import lightning as L
from torch import Tensor

from fivestep.data.batches import TensorBatches, to_device


class InMemoryDataModule(L.LightningDataModule):
    """A DataModule whose `setup` fills `self.splits` ("train", "val", "test", "all":
    `(x: (rows, features), y: (rows,))`); this class batches them with `TensorBatches`.

    Args:
        batch_size: rows per step; `None` = the full batch, as in the seed.
        shuffle: reshuffle the training rows every epoch (when batches are smaller
            than the training set).
        seed: base seed of the per-epoch shuffles.
        on_device: move the tables to the trainer's device once in `setup`, so batches
            are sliced there and never copied host -> device per step (for a GPU).
    """

    def __init__(
        self, batch_size: int | None = None, shuffle: bool = True, seed: int = 0,
        on_device: bool = False, steps_per_batch: int = 1,
    ) -> None:
        super().__init__()
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.on_device = on_device
        if int(steps_per_batch) < 1:
            from fivestep.errors import UserError

            raise UserError(f"data.steps_per_batch={steps_per_batch} must be 1 or more")
        self.steps_per_batch = int(steps_per_batch)
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    def move_to_device(self) -> None:
        """With `on_device`, put the splits on the trainer's device (once one exists)."""
        if self.on_device and self.trainer is not None:
            self.splits = to_device(self.splits, self.trainer.strategy.root_device)

    def _batches(self, split: str, train: bool = False) -> TensorBatches:
        trainer = self.trainer
        return TensorBatches(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=self.shuffle and train,
            seed=self.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            pad=train,
            steps_per_batch=self.steps_per_batch if train else 1,
        )

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", train=True)

    def val_dataloader(self) -> TensorBatches | list:
        return self._batches("val") if len(self.splits["val"][0]) else []

    def test_dataloader(self) -> TensorBatches | list:
        return self._batches("test") if len(self.splits["test"][0]) else []

    def predict_dataloader(self) -> TensorBatches:
        return self._batches("all")
