"""Prepared tables: the cache (hits, and re-preparing a changed file or setting), the
memory-mapped mode and its block-shuffled batches, and columns no scaling can use."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

from fivestep.data.batches import BlockBatches
from fivestep.data.tabular import TabularDataModule
from fivestep.errors import UserError


def table(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(3)})
    df["city"] = rng.choice(["oslo", "rome", "lima"], rows)
    if rows > 5:
        df.loc[5, "x1"] = np.nan
    df["y"] = (df.x0 + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return df


def module(path, cache, **kwargs) -> TabularDataModule:
    dm = TabularDataModule(path=str(path), target="y", cache_dir=str(cache), **kwargs)
    dm.setup()
    return dm


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_cache_hit_gives_the_same_arrays_and_a_change_prepares_again(tmp_path, suffix):
    path, cache = tmp_path / f"t{suffix}", tmp_path / "cache"
    df = table()
    df.to_parquet(path) if suffix == ".parquet" else df.to_csv(path, index=False)
    first = module(path, cache)
    assert not first.cache_hit and len(list(cache.glob("tabular-*"))) == 1
    def no_preparing(self):
        raise AssertionError("a cache hit must not read the file again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TabularDataModule, "_prepare", no_preparing)
        again = module(path, cache)
    assert again.cache_hit
    for name in ("train", "val", "test", "all"):
        for a, b in zip(first.splits[name], again.splits[name], strict=True):
            assert torch.equal(a, b)
    assert again.state_dict().keys() == first.state_dict().keys()
    assert again.feature_names == first.feature_names
    uncached = TabularDataModule(path=str(path), target="y")
    uncached.setup()
    assert torch.equal(uncached.splits["all"][0], first.splits["all"][0])

    other_setting = module(path, cache, scaling="max")  # a setting: a new key
    assert not other_setting.cache_hit and len(list(cache.glob("tabular-*"))) == 2
    other_seed = module(path, cache, split_seed=1)
    assert not other_seed.cache_hit

    changed = table(seed=1)  # the file changes: size or modification time differ
    changed.to_parquet(path) if suffix == ".parquet" else changed.to_csv(path, index=False)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    fresh = module(path, cache)
    assert not fresh.cache_hit
    assert not torch.equal(fresh.splits["all"][0], first.splits["all"][0])
    assert len(list(cache.glob("tabular-*"))) == 4
    assert not list(cache.glob(".tabular-*"))  # no half-written staging directory left


def test_mmap_mode_trains_from_the_file_with_block_shuffled_batches(tmp_path):
    path, cache = tmp_path / "t.parquet", tmp_path / "cache"
    table(2000).to_parquet(path)
    in_ram = module(path, tmp_path / "other", mmap=False)
    dm = module(path, cache, mmap=True, batch_size=32, block_batches=4)
    assert dm.memory_mapped and not in_ram.memory_mapped
    x = dm.splits["train"][0]
    assert torch.equal(x, in_ram.splits["train"][0])
    assert isinstance(dm.prepared.x, np.memmap)  # the tensor is a view of the mapped file
    assert np.shares_memory(x.numpy(), dm.prepared.x)
    loader = dm.train_dataloader()
    assert isinstance(loader, BlockBatches) and len(loader) == len(list(loader))
    auto = module(path, tmp_path / "auto", mmap="auto", mmap_above_gb=1e-6)
    assert auto.memory_mapped
    with pytest.raises(UserError, match="data.mmap=true needs"):
        TabularDataModule(frame=table(), target="y", mmap=True).setup()


def _rows_seen(loader: BlockBatches) -> list[int]:
    return [int(v) for (b,) in loader for v in b]


def test_block_batches_see_each_row_once_and_ranks_read_disjoint_blocks():
    rows = torch.arange(1000)
    one = BlockBatches((rows,), batch_size=16, seed=3, block_batches=4)
    seen = _rows_seen(one)
    assert sorted(seen) == list(range(1000)) and seen != list(range(1000))
    assert len(one) == 63 and len(list(one)) == 63
    # each batch lies inside one block of 64 contiguous rows
    for (b,) in one:
        assert len({int(v) // 64 for v in b}) == 1
    one.set_epoch(1)
    assert _rows_seen(one) != seen  # a new order every epoch ...
    one.set_epoch(0)
    assert _rows_seen(one) == seen  # ... and the same order for the same epoch (resume)

    ranks = [BlockBatches((rows,), batch_size=16, seed=3, rank=r, world_size=3,
                          block_batches=4) for r in range(3)]
    lengths = {len(r) for r in ranks} | {len(list(r)) for r in ranks}
    assert lengths == {24}  # the same number of full batches on every rank
    blocks = [set(r.blocks()) for r in ranks]
    # 16 blocks over 3 ranks: 18 slots, the first two blocks of the order repeat
    assert len(blocks[0] | blocks[1] | blocks[2]) == 16
    assert sum(len(b) for b in blocks) >= 16
    seen = [set(_rows_seen(r)) for r in ranks]
    assert set().union(*seen) == set(range(1000))


@pytest.mark.parametrize(("value", "pattern"), [
    (np.inf, r"column 'x1' .* 1 infinite values.*data\.features"),
    (np.nan, r"column 'x1' .* entirely missing.*data\.features"),
])
def test_columns_no_scaling_can_use_are_refused_by_name(tmp_path, value, pattern):
    df = table()
    if np.isnan(value):
        df["x1"] = np.nan
    else:
        df.loc[7, "x1"] = value
    with pytest.raises(UserError, match=pattern):
        TabularDataModule(frame=df, target="y").setup()
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    with pytest.raises(UserError, match=pattern):
        TabularDataModule(path=str(path), target="y").setup()


def test_transform_refuses_inf_and_an_empty_column(tmp_path):
    dm = TabularDataModule(frame=table(), target="y")
    dm.setup()
    rows = table(4).drop(columns="y")
    assert dm.transform(rows).shape == (4, dm.n_features)
    with pytest.raises(UserError, match=r"'x0' of the rows holds 1 infinite"):
        dm.transform(rows.assign(x0=[1.0, -np.inf, 0.0, 0.0]))
    with pytest.raises(UserError, match=r"'x2' of the rows is entirely missing"):
        dm.transform(rows.assign(x2=np.nan))
    one = dm.transform(rows.iloc[:1].assign(x2=np.nan))  # one row with a gap: imputed
    assert not torch.isnan(one).any()


def test_only_the_columns_used_are_read(tmp_path):
    """A column left out of data.features is never read: here one pandas could not
    turn into features (timestamps) does not stop the run, and is named when used."""
    df = table().assign(when=pd.date_range("2020-01-01", periods=400, freq="h"))
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    dm = TabularDataModule(path=str(path), target="y", features=["x0", "x1", "city"])
    dm.setup()
    assert dm.feature_names[:2] == ["x0", "x1"]
    with pytest.raises(UserError, match=r"column 'when' .* type timestamp.*data\.features"):
        TabularDataModule(path=str(path), target="y").setup()
    df.drop(columns="when").assign(note=["text, with a comma"] * 400).to_csv(
        tmp_path / "t.csv", index=False)
    dm = TabularDataModule(path=str(tmp_path / "t.csv"), target="y", features=["x2"])
    dm.setup()
    assert dm.feature_names == ["x2"]
    assert set(dm._columns().frame.columns) == {"x2", "y"}  # pandas read only these
