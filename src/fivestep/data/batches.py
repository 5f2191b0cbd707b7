"""Batches sliced from in-memory tensors, in place of `DataLoader(TensorDataset)`.

A `DataLoader` fetches rows one by one through `__getitem__` and stacks them again
with `collate`; for a table that already sits in memory as tensors that is most of
the epoch's cost. `TensorBatches` indexes whole batches at once instead.
"""

import math
from collections.abc import Iterator

import torch
from torch import Tensor


def to_device(
    splits: dict[str, tuple[Tensor, ...]], device: torch.device
) -> dict[str, tuple[Tensor, ...]]:
    """Every split's tensors moved to `device` once (`data.on_device=true`).

    DataModules holding tables in memory call this in `setup` with the trainer's
    `strategy.root_device`; Lightning's per-batch transfer is then a no-op.
    """
    return {name: tuple(t.to(device) for t in ts) for name, ts in splits.items()}


class _EpochBatches:
    """What Lightning expects of a loader that is its own sampler: `sampler.set_epoch`
    (called before every epoch) and no `batch_sampler`; and the tensors' shared length."""

    batch_sampler = None  # Lightning inspects it; there is none

    def __init__(self, tensors: tuple[Tensor, ...]) -> None:
        rows = {len(t) for t in tensors}
        if len(rows) != 1:
            raise ValueError(f"tensors must share their first dimension, got sizes {rows}")
        self.tensors = tensors
        self.n = rows.pop()
        self.epoch = 0

    @property
    def sampler(self) -> "_EpochBatches":
        """Lightning looks for `loader.sampler.set_epoch`; this object is its own sampler."""
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class TensorBatches(_EpochBatches):
    """An iterable of batches cut from tensors that share their first dimension.

    Without shuffling a batch is a view (`t[start:stop]`, no copy); with shuffling it
    is one gather per tensor (`t[idx]`). The permutation of epoch `e` is drawn from a
    generator seeded with `seed + e`, so a run resumed at epoch `e` sees exactly the
    order an uninterrupted run would; Lightning calls `set_epoch` before each epoch
    (through the `sampler` attribute, as it does for a `DistributedSampler`).

    Under DDP each rank takes every `world_size`-th row of the (shuffled) order; for
    training (`pad=True`) the order wraps around so that all ranks run the same
    number of batches, as `DistributedSampler` does. Interleaving (not contiguous
    blocks) keeps the arithmetic of one process: with `batch_size = B / world_size`,
    the ranks' batches `k` together are exactly rows `[k*B, (k+1)*B)` of the order, the
    batch `k` one process with batch `B` sees (when `world_size` divides the rows), so
    the averaged gradients and the synced epoch loss are that process's
    (tests/e2e/test_ddp_arithmetic.py).

    Args:
        tensors: e.g. `(x: (rows, features), y: (rows,))`.
        batch_size: rows per batch; `None` means all rows in one batch.
        shuffle: draw a new order every epoch, also for a single full batch: its
            gradient does not depend on the order (up to rounding), but with
            `model.step_batch_size` the batch is cut into several optimizer steps in
            row order, which it does.
        seed: base seed of the per-epoch permutations.
        rank: this process's rank; world_size: number of processes.
        pad: repeat rows so that every rank gets the same number of rows.
    """

    def __init__(
        self,
        tensors: tuple[Tensor, ...],
        batch_size: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = False,
    ) -> None:
        super().__init__(tensors)
        self.rank, self.world_size, self.pad = rank, world_size, pad
        if world_size > 1 and pad:
            self.local_n = math.ceil(self.n / world_size)
        else:
            self.local_n = len(range(rank, self.n, world_size))
        self.batch_size = batch_size if batch_size else max(self.local_n, 1)
        self.shuffle = shuffle and self.local_n > 1
        self.seed = seed

    def __len__(self) -> int:
        return math.ceil(self.local_n / self.batch_size)

    def _indices(self) -> Tensor | None:
        """Row indices of this rank for this epoch, or `None` for plain contiguous slices."""
        if not self.shuffle and self.world_size == 1:
            return None
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        if self.world_size > 1:
            if self.pad and self.n % self.world_size:
                extra = self.local_n * self.world_size - self.n
                order = torch.cat([order, order[:extra]])
            order = order[self.rank :: self.world_size]
        return order.to(self.tensors[0].device)  # index where the rows live

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        idx = self._indices()
        for start in range(0, self.local_n, self.batch_size):
            stop = min(start + self.batch_size, self.local_n)
            if idx is None:
                yield tuple(t[start:stop] for t in self.tensors)
            else:
                rows = idx[start:stop]
                # index_select, not t[rows]: the same rows, but on CPU the advanced-
                # indexing kernel took ~4x longer for a 1024 x 20 batch (160 vs 40 us)
                yield tuple(t.index_select(0, rows) for t in self.tensors)


class BlockBatches(_EpochBatches):
    """Training batches of a memory-mapped table, shuffled by blocks so the page cache works.

    The rows are cut into blocks of `block_batches * batch_size` contiguous rows. Each
    epoch draws an order of the blocks and, inside each block, an order of its rows
    (seeded by `seed`, the epoch and the block, so a resumed run sees the same batches);
    a batch is then gathered from one block only, so an epoch reads the file block by
    block, each block once, instead of one random page per row.

    Under DDP, rank r takes every `world_size`-th block of the epoch's order: the ranks
    read disjoint shards of the file. To keep the ranks in step (the same number of full
    batches each) the block list is padded by repeating its first blocks, and the last,
    short block is completed with rows from the start, as `DistributedSampler` pads.
    With one process every row is seen exactly once per epoch and the last batch may be
    short.
    """

    def __init__(
        self,
        tensors: tuple[Tensor, ...],
        batch_size: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        block_batches: int = 64,
    ) -> None:
        super().__init__(tensors)
        self.batch_size = batch_size if batch_size else max(self.n, 1)
        self.block = self.batch_size * max(int(block_batches), 1)
        self.n_blocks = max(math.ceil(self.n / self.block), 1)
        self.rank, self.world_size = rank, world_size
        self.local_blocks = math.ceil(self.n_blocks / world_size)
        self.shuffle, self.seed = shuffle, seed

    def __len__(self) -> int:
        if self.world_size > 1:
            return self.local_blocks * math.ceil(self.block / self.batch_size)
        return math.ceil(self.n / self.batch_size)

    def blocks(self) -> list[int]:
        """This rank's blocks for this epoch, in the order they are read."""
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n_blocks, generator=gen).tolist()
        else:
            order = list(range(self.n_blocks))
        if self.world_size > 1:
            order = (order * math.ceil(self.local_blocks * self.world_size / self.n_blocks))[
                : self.local_blocks * self.world_size]
            order = order[self.rank :: self.world_size]
        return order

    def _rows(self, block: int) -> tuple[Tensor, ...]:
        start = block * self.block
        stop = min(start + self.block, self.n)
        parts = [tuple(t[start:stop] for t in self.tensors)]
        if self.world_size > 1 and stop - start < self.block:  # pad the short last block
            extra = self.block - (stop - start)
            while extra > 0:
                take = min(extra, self.n)
                parts.append(tuple(t[:take] for t in self.tensors))
                extra -= take
        if len(parts) == 1:
            return parts[0]
        return tuple(torch.cat(ts) for ts in zip(*parts, strict=True))

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        for block in self.blocks():
            rows = self._rows(block)
            count = len(rows[0])
            if self.shuffle:
                gen = torch.Generator().manual_seed(
                    (self.seed + self.epoch) * 1_000_003 + block)
                order = torch.randperm(count, generator=gen)
            for start in range(0, count, self.batch_size):
                if self.shuffle:
                    idx = order[start : start + self.batch_size]
                    yield tuple(t.index_select(0, idx) for t in rows)
                else:
                    yield tuple(t[start : start + self.batch_size] for t in rows)
