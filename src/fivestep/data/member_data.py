"""`MemberData`: one DataModule per member (each fold of a k-fold split) as one DataModule
whose batches carry every member's own batch, for `fivestep.models.members.Members`
with `own_batches=True`.

Each member's DataModule makes its batches as in its standalone run (its own rows, its
own fitted preprocessing, its own batch size and seeded shuffle), and `MemberBatches`
zips them: step `i` of an epoch is `(xs, ys)`, member `k`'s `i`-th batch `xs[k]`,
`ys[k]`. A member whose epoch has fewer batches (a fold a row or two shorter, cut into
one batch fewer) has None there for the remaining steps: `Members` does not update it
then, which is its standalone run's epoch exactly. No row is padded or dropped.
"""

from collections.abc import Iterator, Sequence
from itertools import zip_longest
from typing import Any

import lightning as L
from torch import Tensor


class MemberBatches:
    """The members' loaders zipped: `(xs, ys)` per step, `len` the longest's.

    Lightning calls `sampler.set_epoch` before every epoch; it reaches every member's
    loader, so each draws its standalone run's order for that epoch.

    Args:
        loaders: one loader per member, each yielding `(x, y)` batches.
    """

    batch_sampler = None  # Lightning inspects it; there is none

    def __init__(self, loaders: Sequence[Any]) -> None:
        self.loaders = list(loaders)

    @property
    def sampler(self) -> "MemberBatches":
        """Lightning looks for `loader.sampler.set_epoch`; this object is its own sampler."""
        return self

    def set_epoch(self, epoch: int) -> None:
        for loader in self.loaders:
            sampler = getattr(loader, "sampler", None)
            if callable(getattr(sampler, "set_epoch", None)):
                sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return max(len(loader) for loader in self.loaders)

    def __iter__(self) -> Iterator[tuple[list[Tensor | None], list[Tensor | None]]]:
        for batches in zip_longest(*self.loaders):
            yield ([None if b is None else b[0] for b in batches],
                   [None if b is None else b[1] for b in batches])


class MemberData(L.LightningDataModule):
    """K DataModules (one per member) as one: see the module docstring.

    `state_dict` holds every member's fitted preprocessing (`members`: a list); a
    member's own checkpoint stores its own DataModule's state, as its standalone run's.

    Args:
        datamodules: one per member, each built from that member's `data` config.
    """

    def __init__(self, datamodules: Sequence[L.LightningDataModule]) -> None:
        super().__init__()
        self.members = list(datamodules)

    def setup(self, stage: str | None = None) -> None:
        for datamodule in self.members:
            datamodule.trainer = self.trainer  # its batches read the rank and the device
            datamodule.setup(stage)

    def _loader(self, name: str) -> MemberBatches | list:
        loaders = [getattr(dm, name)() for dm in self.members]
        if any(isinstance(loader, list) and not loader for loader in loaders):
            return []  # a member without this split: no such loop (as a standalone run)
        return MemberBatches(loaders)

    def train_dataloader(self) -> MemberBatches | list:
        return self._loader("train_dataloader")

    def val_dataloader(self) -> MemberBatches | list:
        return self._loader("val_dataloader")

    def test_dataloader(self) -> MemberBatches | list:
        return self._loader("test_dataloader")

    def state_dict(self) -> dict[str, Any]:
        return {"members": [dm.state_dict() for dm in self.members]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for datamodule, state in zip(self.members, state_dict["members"], strict=True):
            datamodule.load_state_dict(state)
