"""Seeded train/val/test split by row index, stratified for classification, and
k-fold cross-validation: the test rows held out once, the folds rotating over the rest."""

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split


def split_indices(
    y: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool,
    folds: int | None = None,
    fold: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split row indices `0..len(y)-1` into train, val and test.

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
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"data.{name}={f} must be in [0, 1); e.g. data.{name}=0.2")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction} "
            "leaves no training rows; make their sum less than 1"
        )
    idx = np.arange(len(y))
    empty = np.array([], dtype=np.int64)

    def cut(rows: np.ndarray, fraction: float, what: str) -> tuple[np.ndarray, np.ndarray]:
        if fraction == 0:
            return rows, empty
        try:
            keep, held = train_test_split(
                rows,
                test_size=fraction,
                random_state=seed,
                stratify=y[rows] if stratify else None,
            )
        except ValueError as err:
            raise ValueError(
                f"cannot split {len(rows)} rows into a {what} split of {fraction:.0%}"
                f"{' stratified by class' if stratify else ''}: {err}. "
                "Use more rows or smaller data.val_fraction / data.test_fraction."
            ) from None
        return np.sort(keep), np.sort(held)

    rest, test = cut(idx, test_fraction, "test")
    # val_fraction is of all rows; rescale it to the rows left after the test split.
    train, val = cut(rest, val_fraction / (1 - test_fraction), "validation")
    return train, val, test


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
