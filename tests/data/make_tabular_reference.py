"""Writes `fixtures/tabular_reference.npz`: what the tabular preprocessing produced before
it was vectorized (issue 13), for `test_tabular_reference.py` to compare against.

Run once, on the commit before the rewrite (a989152):
    python tests/data/make_tabular_reference.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

from fivestep.data.tabular import TabularDataModule

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def edge_frame() -> pd.DataFrame:
    """Numeric gaps, an integer category seen as 2 and 2.0, text levels, string labels."""
    rng = np.random.default_rng(7)
    rows = 90
    df = pd.DataFrame({
        "age": rng.normal(40, 10, rows),
        "income": rng.normal(1000, 300, rows),
        "city": rng.choice(["oslo", "rome", "lima"], rows).astype(object),
        "grade": rng.integers(1, 4, rows).astype(float),
        "flag": rng.integers(0, 2, rows).astype(bool),
        "label": rng.choice(["no", "yes", "maybe"], rows),
    })
    df.loc[[3, 10, 50], "age"] = np.nan
    df.loc[[5, 6], "city"] = None
    df.loc[[7], "grade"] = np.nan
    return df


def new_rows() -> pd.DataFrame:
    """Rows to `transform`: unseen levels, 2 vs 2.0, missing values in every kind."""
    return pd.DataFrame({
        "age": [30.0, np.nan, 55.0, 41.0],
        "income": [900.0, 950.0, np.nan, 1200.0],
        "city": ["rome", "paris", None, "oslo"],
        "grade": [2, 7, 1, 3],  # int here, float in training
        "flag": [True, False, True, False],
    })


CASES = {
    "csv_example": dict(path=str(ROOT / "data" / "csv_example.csv"), target="renewed"),
    "breast_cancer": dict(dataset="breast_cancer"),
    "iris": dict(dataset="iris", scaling="max"),
    "diabetes": dict(dataset="diabetes", target_scaling="standard"),
    "edge": dict(frame=edge_frame(), target="label", categorical=["grade"]),
    "edge_nostrat": dict(frame=edge_frame().assign(label=lambda d: d.income), target="label",
                         target_scaling="none",  # the default when the fixture was written
                         categorical=["grade"], scaling="none", val_fraction=0.25,
                         test_fraction=0.1, split_seed=3),
}


def main() -> None:
    out: dict[str, np.ndarray] = {}
    for name, kwargs in CASES.items():
        dm = TabularDataModule(**kwargs)
        dm.setup()
        for split, (x, y) in dm.splits.items():
            out[f"{name}/{split}/x"] = x.numpy()
            out[f"{name}/{split}/y"] = y.numpy()
        st = dm.state_dict()
        for key in ("median", "shift", "scale"):
            out[f"{name}/{key}"] = st[key].numpy()
        out[f"{name}/feature_names"] = np.array(st["feature_names"])
        if st["label_names"] is not None:
            out[f"{name}/label_names"] = np.array(st["label_names"])
        if name.startswith("edge"):
            out[f"{name}/new_rows"] = dm.transform(new_rows()).numpy()
    np.savez_compressed(HERE / "fixtures" / "tabular_reference.npz", **out)


if __name__ == "__main__":
    main()
