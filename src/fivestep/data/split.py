"""Seeded train/val/test split by row index, stratified for classification, and
k-fold cross-validation: the test rows held out once, the folds rotating over the rest.

The split is scikit-learn's `train_test_split` (a `ShuffleSplit`, or a
`StratifiedShuffleSplit` with `stratify`), done twice: the test rows first, then the
validation rows out of the rest. It is computed here with numpy on whole arrays, drawing
the same random numbers in the same order as scikit-learn does, so the rows are exactly
the ones `train_test_split` picks (`tests/data/test_split.py` checks it against
scikit-learn). scikit-learn's own loop gathers each class's rows into a Python list one
row at a time, which cost seconds at millions of rows and a Python object per row.
"""

from math import ceil

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.extmath import _approximate_mode


def split_indices(
    y: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool,
    folds: int | None = None,
    fold: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split row indices `0..len(y)-1` into train, val and test (each sorted).

    Fractions are of all rows and may be 0 (that split is then empty). With
    `stratify`, each split keeps the class proportions of `y`.

    With `folds=k` (k >= 2), cross-validation: the test split is cut as without folds
    (the same rows for every fold), the other rows are dealt into `k` seeded folds
    (stratified with `stratify`), and `fold` (0..k-1) is the validation split, the
    other folds the training rows; `val_fraction` is not used.

    Raises:
        ValueError: fractions outside [0, 1) or summing to 1 or more, too few rows
            (or too few rows of a class) for the split asked for, or a bad `folds`/`fold`.
    """
    if folds is not None:
        if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
            raise ValueError(f"data.folds={folds!r} must be an integer of at least 2 "
                             "(or null: no cross-validation)")
        if not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold < folds:
            raise ValueError(f"data.fold={fold!r} must be one of 0..{folds - 1} with "
                             f"data.folds={folds}")
        train_val = np.concatenate(split_indices(y, 0.0, test_fraction, seed, stratify)[:2])
        train_val.sort()
        train, val = fold_indices(y, train_val, folds, seed, stratify)[fold]
        return train, val, np.setdiff1d(np.arange(len(y)), train_val)
    assign = split_assignment(y, val_fraction, test_fraction, seed, stratify)
    return tuple(np.flatnonzero(assign == s) for s in range(3))  # type: ignore[return-value]


def split_assignment(
    y: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool,
) -> np.ndarray:
    """The split of every row as `int8` (0 train, 1 val, 2 test); see `split_indices`.

    One byte per row, so that a table of 100M rows is split in 100 MB."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"data.{name}={f} must be in [0, 1); e.g. data.{name}=0.2")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction} "
            "leaves no training rows; make their sum less than 1"
        )
    n = len(y)
    assign = np.zeros(n, dtype=np.int8)
    codes = _class_codes(y) if stratify else None
    idx_dtype = np.int32 if n < 2**31 else np.int64

    def cut(rows: np.ndarray | None, fraction: float, what: str, label: int) -> None:
        """Mark `fraction` of `rows` (None = all rows) with `label`."""
        if fraction == 0:
            return
        count = n if rows is None else len(rows)
        try:
            held = _held_out(count, fraction, seed,
                             None if codes is None else (codes if rows is None else codes[rows]),
                             idx_dtype)
        except ValueError as err:
            raise ValueError(
                f"cannot split {count} rows into a {what} split of {fraction:.0%}"
                f"{' stratified by class' if stratify else ''}: {err}. "
                "Use more rows or smaller data.val_fraction / data.test_fraction."
            ) from None
        assign[held if rows is None else rows[held]] = label

    cut(None, test_fraction, "test", 2)
    # val_fraction is of all rows; rescale it to the rows left after the test split.
    rest = np.flatnonzero(assign == 0).astype(idx_dtype, copy=False) if test_fraction else None
    cut(rest, val_fraction / (1 - test_fraction), "validation", 1)
    return assign


def _class_codes(y: np.ndarray) -> np.ndarray:
    """Small integer codes of `y`'s classes, in the sorted order of the values."""
    y = np.asarray(y)
    if y.dtype.kind in "iub" and len(y) and y.min() >= 0 and y.max() < 2**15:
        return y.astype(np.int16, copy=False)
    return np.unique(y, return_inverse=True)[1].astype(np.int32)


def _held_out(
    n: int, fraction: float, seed: int, codes: np.ndarray | None, idx_dtype: type
) -> np.ndarray:
    """Positions `0..n-1` that scikit-learn's `train_test_split(test_size=fraction,
    random_state=seed, stratify=...)` puts in its test part (unsorted)."""
    n_test = ceil(fraction * n)
    n_train = n - n_test
    if n_train == 0 or n_test == 0:
        raise ValueError(f"with n_samples={n} and test_size={fraction} the resulting "
                         "train or test set would be empty")
    rng = np.random.RandomState(seed)
    if codes is None:
        return rng.permutation(np.arange(n, dtype=idx_dtype))[:n_test]
    counts = np.bincount(codes)
    present = np.flatnonzero(counts)
    counts = counts[present]
    if counts.min() < 2:
        raise ValueError("the least populated class has only 1 member, too few to split; "
                         "every class needs at least 2 rows")
    if n_train < len(present) or n_test < len(present):
        raise ValueError(f"the split of {n_test} rows is smaller than the number of "
                         f"classes, {len(present)}")
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    held = []
    for i, k in enumerate(present):
        members = np.flatnonzero(codes == k).astype(idx_dtype, copy=False)
        # the same draw as scikit-learn's `rng.permutation(class_counts[i])`
        order = rng.permutation(np.arange(counts[i], dtype=idx_dtype))
        held.append(members[order[n_i[i] : n_i[i] + t_i[i]]])
        del members, order
    return np.concatenate(held)


def fold_indices(
    y: np.ndarray, rows: np.ndarray, folds: int, seed: int, stratify: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`rows` dealt into `folds` seeded folds: `[(train, val), ...]`, one pair per fold,
    each sorted. The `val` parts are disjoint and together are `rows`; with `stratify`,
    each keeps the class proportions of `y[rows]`.

    Raises:
        ValueError: fewer rows (or rows of a class) than folds.
    """
    if stratify:
        _, counts = np.unique(y[rows], return_counts=True)
        if counts.min() < folds:
            raise ValueError(
                f"cannot deal {len(rows)} rows into data.folds={folds} folds stratified by "
                f"class: a class has only {counts.min()} of them, so a fold would miss it. "
                "Use fewer folds."
            )
    splitter = (StratifiedKFold if stratify else KFold)(folds, shuffle=True, random_state=seed)
    try:
        pairs = list(splitter.split(rows, y[rows] if stratify else None))
    except ValueError as err:
        raise ValueError(
            f"cannot deal {len(rows)} rows into data.folds={folds} folds"
            f"{' stratified by class' if stratify else ''}: {err}. Use fewer folds."
        ) from None
    return [(np.sort(rows[t]), np.sort(rows[v])) for t, v in pairs]
