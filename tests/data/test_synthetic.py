import numpy as np
import pytest
import torch

from fivestep.data.synthetic import SyntheticDataModule
from fivestep.fundamentals.five_steps import seed_data


def _setup(**kwargs) -> SyntheticDataModule:
    dm = SyntheticDataModule(**kwargs)
    dm.setup()
    return dm


def test_default_is_the_seed_data_as_float32():
    dm = _setup(val_fraction=0, test_fraction=0)
    x, y = dm.splits["train"]
    sx, sy = seed_data()
    assert x.dtype == y.dtype == torch.float32
    assert x.shape == (100, 5)
    assert torch.equal(x, sx) and torch.equal(y, sy)
    assert len(dm.splits["val"][0]) == len(dm.splits["test"][0]) == 0


def test_splits_are_disjoint_complete_and_stratified():
    dm = _setup(val_fraction=0.2, test_fraction=0.2, split_seed=3)
    sizes = {k: len(dm.splits[k][0]) for k in ("train", "val", "test")}
    assert sizes == {"train": 60, "val": 20, "test": 20}
    rows = [{tuple(r.tolist()) for r in dm.splits[k][0]} for k in ("train", "val", "test")]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert len(rows[0] | rows[1] | rows[2]) == 100
    for k in ("train", "val", "test"):  # the seed data is balanced 50/50
        assert dm.splits[k][1].mean().item() == pytest.approx(0.5, abs=0.05)


def test_split_is_seeded():
    a, b, c = (_setup(split_seed=s).splits["val"][1] for s in (1, 1, 2))
    va, vc = (_setup(split_seed=s).splits["val"][0] for s in (1, 2))
    assert torch.equal(a, b)
    assert not torch.equal(va, vc)


def test_impossible_split_says_what_to_change():
    with pytest.raises(ValueError, match="leaves no training rows"):
        _setup(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="cannot split 6 rows"):
        _setup(n_samples=6, n_features=5, n_informative=3, val_fraction=0.1, test_fraction=0.1)


def test_multiclass_labels_are_integer_indices():
    dm = _setup(n_classes=3, n_samples=150)
    y = dm.splits["train"][1]
    assert y.dtype == torch.int64
    assert set(np.unique(y.numpy())) == {0, 1, 2}
