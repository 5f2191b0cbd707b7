"""Seeded train/val/test split by row index, stratified for classification."""

import numpy as np
from sklearn.model_selection import train_test_split


def split_indices(
    y: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split row indices `0..len(y)-1` into train, val and test.

    Fractions are of all rows and may be 0 (that split is then empty). With
    `stratify`, each split keeps the class proportions of `y`.

    Raises:
        ValueError: fractions outside [0, 1) or summing to 1 or more, or too few rows
            (or too few rows of a class) for the split asked for.
    """
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
