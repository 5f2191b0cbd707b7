"""k-fold cross-validation: the test rows held out once, the folds rotating over the rest."""

import numpy as np
import pytest
import torch

from fivestep.data.split import split_indices
from fivestep.data.synthetic import SyntheticDataModule
from fivestep.errors import UserError


def _labels(n: int = 103, share: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=np.float32)
    y[rng.choice(n, int(n * share), replace=False)] = 1
    return y


def test_folds_are_disjoint_cover_the_non_test_rows_and_keep_the_test_split():
    y = _labels()
    plain_test = split_indices(y, 0.2, 0.2, seed=4, stratify=True)[2]
    parts = [split_indices(y, 0.2, 0.2, seed=4, stratify=True, folds=5, fold=k)
             for k in range(5)]
    for train, val, test in parts:
        assert np.array_equal(test, plain_test)  # held out once, the same for every fold
        assert not set(train) & set(val) and not set(train) & set(test)
        assert not set(val) & set(test)
        assert len(train) + len(val) + len(test) == len(y)
    vals = [set(val) for _, val, _ in parts]
    assert sum(len(v) for v in vals) == len(set().union(*vals))  # disjoint folds
    assert set().union(*vals) == set(range(len(y))) - set(plain_test)  # covering the rest
    assert sorted(len(v) for v in vals) == [16, 16, 16, 17, 17]  # 82 rows, even folds


def test_folds_are_stratified():
    y = _labels(200, share=0.25)
    for k in range(4):
        train, val, test = split_indices(y, 0.0, 0.2, seed=1, stratify=True, folds=4, fold=k)
        for rows in (train, val, test):
            assert y[rows].mean() == pytest.approx(0.25, abs=0.03)


def test_folds_are_seeded():
    y = _labels()
    a = split_indices(y, 0.2, 0.2, seed=7, stratify=True, folds=3, fold=1)
    b = split_indices(y, 0.2, 0.2, seed=7, stratify=True, folds=3, fold=1)
    c = split_indices(y, 0.2, 0.2, seed=8, stratify=True, folds=3, fold=1)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_regression_folds_without_stratification():
    y = np.linspace(0, 1, 50).astype(np.float32)
    vals = [split_indices(y, 0.0, 0.0, seed=0, stratify=False, folds=5, fold=k)[1]
            for k in range(5)]
    assert sorted(np.concatenate(vals).tolist()) == list(range(50))


@pytest.mark.parametrize("folds, fold", [(1, 0), (5, 5), (5, -1), (3, 1.5)])
def test_bad_folds_or_fold_are_refused(folds, fold):
    with pytest.raises(ValueError, match="data.fold"):
        split_indices(_labels(), 0.2, 0.2, seed=0, stratify=True, folds=folds, fold=fold)


def test_more_folds_than_rows_of_a_class_is_refused():
    y = np.array([0] * 20 + [1] * 3, dtype=np.float32)
    with pytest.raises(ValueError, match="folds"):
        split_indices(y, 0.0, 0.0, seed=0, stratify=True, folds=5, fold=0)


def test_both_datamodules_take_folds():
    from fivestep.data.tabular import TabularDataModule

    dm = SyntheticDataModule(folds=5, fold=2)
    dm.setup()
    assert [len(dm.splits[k][0]) for k in ("train", "val", "test")] == [64, 16, 20]

    tests, vals = [], 0
    for k in range(4):
        table = TabularDataModule(dataset="breast_cancer", test_fraction=0.2, folds=4, fold=k)
        table.setup("fit")
        tests.append(table.splits["test"][1])
        vals += len(table.splits["val"][0])
        assert len(table.splits["train"][0]) + len(table.splits["val"][0]) == 569 - 114
    assert all(len(t) == 114 and (t == tests[0]).all() for t in tests)
    assert vals == 569 - 114  # every non-test row validated once
    with pytest.raises(UserError, match="data.fold"):
        TabularDataModule(dataset="breast_cancer", folds=4, fold=4).setup("fit")


def test_the_base_class_refuses_folds_a_datamodule_does_not_apply():
    """`data.folds` reaches every DataModule: one whose `load()` does not deal folds
    is refused, never trained on its plain split as if it were fold `k`."""
    from fivestep.data.digits import DigitsDataModule

    class NoFolds(DigitsDataModule):
        applies_folds = False

    with pytest.raises(UserError, match=r"data.folds=5: NoFolds does not deal its rows into "
                                        r"folds; set data.folds=null"):
        NoFolds(folds=5, fold=1).shape()
    with pytest.raises(UserError, match="data.fold=2 has no effect without data.folds"):
        NoFolds(fold=2).shape()
    with pytest.raises(UserError, match="data.fold=5 must be one of 0..4 with data.folds=5"):
        DigitsDataModule(folds=5, fold=5).shape()

    # digits deals them: fold k validates on the k-th fifth of the non-test rows
    vals, tests = [], []
    for k in range(5):
        dm = DigitsDataModule(folds=5, fold=k)
        dm.shape()
        vals.append({tuple(r.flatten().tolist()) for r in dm.splits["val"][0]})
        tests.append(dm.splits["test"][0])
        assert len(dm.splits["val"][0]) + len(dm.splits["train"][0]) == 1797 - 360
        assert len(dm.splits["val"][0]) in (287, 288)  # a fifth of the non-test rows
    assert all(torch.equal(t, tests[0]) for t in tests)  # the same test rows for every fold
    # disjoint folds, compared by content: the set holds a few identical images
    assert all(len(vals[i] & vals[j]) < 5 for i in range(5) for j in range(i + 1, 5))
