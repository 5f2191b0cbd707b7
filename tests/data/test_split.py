"""The numpy split picks exactly the rows scikit-learn's `train_test_split` picks (the
code before issue 13 called it), stratified or not, with or without a validation split."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from fivestep.data.split import split_assignment, split_indices


def sklearn_split(y, val_fraction, test_fraction, seed, stratify):
    """The split as it was written before: train_test_split twice, sorted."""
    empty = np.array([], dtype=np.int64)

    def cut(rows, fraction):
        if fraction == 0:
            return rows, empty
        keep, held = train_test_split(rows, test_size=fraction, random_state=seed,
                                      stratify=y[rows] if stratify else None)
        return np.sort(keep), np.sort(held)

    rest, test = cut(np.arange(len(y)), test_fraction)
    train, val = cut(rest, val_fraction / (1 - test_fraction))
    return train, val, test


@pytest.mark.parametrize(("n", "k", "val", "test", "seed", "stratify"), [
    (300, 2, 0.2, 0.2, 0, True), (1000, 3, 0.25, 0.1, 5, True), (1001, 2, 0.2, 0.2, 12345, False),
    (57, 4, 0.0, 0.3, 1, True), (500, 2, 0.3, 0.0, 2, True), (200, 5, 0.1, 0.1, 3, False),
    (20_000, 7, 0.2, 0.2, 9, True),
])
def test_the_same_rows_as_scikit_learn(n, k, val, test, seed, stratify):
    rng = np.random.default_rng(n)
    p = np.linspace(1, 3, k)
    y = rng.choice(k, n, p=p / p.sum())
    ours = split_indices(y, val, test, seed, stratify)
    theirs = sklearn_split(y, val, test, seed, stratify)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assign = split_assignment(y, val, test, seed, stratify)
    assert assign.dtype == np.int8 and np.bincount(assign, minlength=3).tolist() == [
        len(part) for part in ours]


def test_too_few_rows_of_a_class_is_an_error_naming_the_split():
    with pytest.raises(ValueError, match="cannot split 4 rows into a test split"):
        split_indices(np.array([0, 1, 0, 1]), 0.2, 0.2, 0, stratify=True)
