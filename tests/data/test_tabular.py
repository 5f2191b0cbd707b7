"""The tabular DataModule: sources, encoding, fitted-on-train statistics, the saved
preprocessing, and every bad input it must refuse by name."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from fivestep.data.tabular import TabularDataModule
from fivestep.errors import UserError


def mixed_frame(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """Numeric, text-categorical and integer-categorical columns, a gap, string labels."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.normal(1000, 300, rows),
            "city": rng.choice(["oslo", "rome", "lima"], rows),
            "grade": rng.integers(1, 4, rows),
            "label": rng.choice(["no", "yes"], rows),
        }
    )
    df.loc[3, "age"] = np.nan
    return df


def test_encodes_numeric_and_categorical_with_train_only_statistics():
    df = mixed_frame()
    dm = TabularDataModule(frame=df, target="label", categorical=["grade"], split_seed=1)
    dm.setup()
    assert dm.task == "binary" and dm.num_classes == 2
    assert dm.label_names == ["no", "yes"]
    assert dm.feature_names == [
        "age", "income", "city=lima", "city=oslo", "city=rome", "grade=1", "grade=2", "grade=3",
    ]
    assert dm.n_features == 8
    x_train, y_train = dm.splits["train"]
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.float32
    assert [len(dm.splits[s][0]) for s in ("train", "val", "test", "all")] == [36, 12, 12, 60]
    # standardized with the training rows' statistics: mean 0, std 1 there only
    torch.testing.assert_close(x_train[:, :2].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x_train[:, :2].std(0, unbiased=False), torch.ones(2),
                               atol=1e-4, rtol=0)
    assert not torch.isnan(dm.splits["all"][0]).any()  # the missing age was imputed
    onehot = dm.splits["all"][0][:, 2:5]
    assert torch.equal(onehot.sum(1), torch.ones(60))
    # stratified: both splits keep the class balance to within one row
    share = [dm.splits[s][1].mean().item() for s in ("train", "test")]
    assert abs(share[0] - share[1]) <= 1 / 12 + 1e-6


def test_state_dict_round_trip_transforms_raw_rows_identically():
    df = mixed_frame()
    dm = TabularDataModule(frame=df, target="label", categorical=["grade"])
    dm.setup()
    state = dm.state_dict()
    buffer = __import__("io").BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored = TabularDataModule(frame=df.iloc[:0], target="label")  # never set up
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.feature_names == dm.feature_names and restored.label_names == ["no", "yes"]
    raw = df.drop(columns="label")
    order = torch.from_numpy(np.asarray(dm.source_rows, dtype=np.int64))  # "all" is by split
    torch.testing.assert_close(restored.transform(raw)[order], dm.splits["all"][0])
    torch.testing.assert_close(restored.encode_target(df["label"])[order], dm.splits["all"][1])


def test_transform_handles_unseen_levels_extra_and_missing_columns():
    dm = TabularDataModule(frame=mixed_frame(), target="label")
    dm.setup()
    new = pd.DataFrame({"age": [30.0], "income": [900.0], "city": ["paris"], "grade": [2],
                        "note": ["x"]})
    with pytest.warns(UserWarning, match="note"):
        x = dm.transform(new)
    assert x.shape == (1, dm.n_features)
    city = [i for i, n in enumerate(dm.feature_names) if n.startswith("city=")]
    assert torch.equal(x[0, city], torch.zeros(len(city)))  # unseen level: all zeros
    with pytest.raises(UserError, match=r"lack feature columns.*\[income\]"):
        dm.transform(new.drop(columns="income"))


def test_an_integer_level_read_back_as_float_is_the_same_level():
    dm = TabularDataModule(frame=mixed_frame(), target="label", categorical=["grade"])
    dm.setup()
    # a file with a gap in `grade` comes back from pandas as float: 2 -> 2.0
    rows = pd.DataFrame({"age": [30.0, 31.0], "income": [900.0, 950.0],
                         "city": ["rome", "oslo"], "grade": [2.0, np.nan]})
    x = dm.transform(rows)
    grade = {n: i for i, n in enumerate(dm.feature_names) if n.startswith("grade=")}
    assert x[0, grade["grade=2"]] == 1 and x[0].sum() > 0
    assert torch.equal(x[1, list(grade.values())], torch.zeros(3))  # missing: all zeros
    labels = pd.Series([0.0, 1.0, 1.0])
    assert dm.label_names == ["no", "yes"]
    ints = mixed_frame().assign(label=lambda d: (d.income > 1000).astype(int))
    numeric = TabularDataModule(frame=ints, target="label")
    numeric.setup()
    assert numeric.label_names == ["0", "1"]
    assert numeric.encode_target(labels).tolist() == [0.0, 1.0, 1.0]


def test_sklearn_tables_and_their_tasks():
    dm = TabularDataModule(dataset="iris", val_fraction=0.2, test_fraction=0.2)
    dm.setup()
    assert (dm.task, dm.num_classes, dm.n_features) == ("multiclass", 3, 4)
    assert dm.label_names == ["setosa", "versicolor", "virginica"]
    assert dm.splits["train"][1].dtype == torch.int64
    bc = TabularDataModule(dataset="breast_cancer")
    bc.setup()
    assert (bc.task, bc.n_features, bc.label_names) == ("binary", 30, ["malignant", "benign"])
    reg = TabularDataModule(dataset="make_regression", target_scaling="max", scaling="max",
                            dataset_kwargs={"n_samples": 50, "n_features": 3, "random_state": 0})
    reg.setup()
    assert reg.task == "regression" and reg.num_classes is None and reg.label_names is None
    x, y = reg.splits["train"]
    assert x.abs().max() <= 1 + 1e-6 and y.abs().max() <= 1 + 1e-6
    raw = reg.inverse_target(reg.splits["all"][1])
    assert raw.abs().max() > 1  # back in the generator's units


def test_task_inference_from_a_numeric_target():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    dm = TabularDataModule(frame=df.assign(y=rng.normal(size=40)), target="y")
    dm.setup()
    assert dm.task == "regression"
    dm = TabularDataModule(frame=df.assign(y=np.arange(40) % 3), target="y")
    dm.setup()
    assert dm.task == "multiclass" and dm.label_names == ["0", "1", "2"]


def test_reads_csv_and_parquet(tmp_path):
    df = mixed_frame()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    xs = []
    for name in ("t.csv", "t.parquet"):
        dm = TabularDataModule(path=str(tmp_path / name), target="label")
        dm.setup()
        xs.append(dm.splits["all"][0])
    torch.testing.assert_close(xs[0], xs[1])


def _bad(tmp_path, text: str | bytes, **kwargs) -> TabularDataModule:
    path = tmp_path / kwargs.pop("name", "bad.csv")
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return TabularDataModule(path=str(path), **kwargs)


@pytest.mark.parametrize(
    ("content", "kwargs", "pattern"),
    [
        (None, {"target": "y"}, r"does not exist"),
        ("", {"target": "y"}, r"is empty"),
        (b"PAR1\x00\x01garbage", {"target": "y", "name": "bad.parquet"}, r"cannot be read"),
        ("a,b\n", {"target": "b"}, r"header but no rows"),
        ("a,b\n1,2\n3,4\n", {"target": "label"}, r"'label' is not a column.*\[a, b\]"),
        ("a,y\n1,0\n2,1\nx,0\n3,1\n", {"target": "y"}, r"column 'a'.*'x'.*data\.categorical"),
        ("a,y\n1,0\n2,\n3,1\n4,0\n", {"target": "y"}, r"'y'.*1 missing values"),
        ("a,y\n1,0\n2,0\n3,0\n4,0\n", {"target": "y"}, r"only one class"),
        ("a,y\n1,0\n2,1\n3,0\n4,1\n", {"target": "y"}, r"4 rows.*cannot split"),
        ("a,y\n1,0\n,1\n3,0\n4,1\n", {"target": "y", "missing": "reject"}, r"missing.*'a'"),
    ],
    ids=["missing-file", "empty", "unreadable", "no-rows", "no-target", "non-numeric",
         "target-gap", "one-class", "too-few-rows", "reject-missing"],
)
def test_bad_input_is_refused_by_name(tmp_path, content, kwargs, pattern):
    if content is None:
        dm = TabularDataModule(path=str(tmp_path / "nope.csv"), **kwargs)
    else:
        dm = _bad(tmp_path, content, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match=pattern):
            dm.setup()


def test_robust_scaling_uses_the_training_median_and_quartiles():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.lognormal(size=400), "mostly_zero": np.r_[np.zeros(390),
                          np.arange(1, 11)], "y": rng.integers(0, 2, 400)})
    dm = TabularDataModule(frame=frame, target="y", scaling="robust")
    dm.setup()
    st = dm.state_dict()
    train_rows = dm.source_rows[: len(dm.splits["train"][0])]
    a = frame["a"].to_numpy()[train_rows]
    q1, median, q3 = np.quantile(a, [0.25, 0.5, 0.75])
    assert st["shift"][0].item() == pytest.approx(median, rel=1e-6)
    assert st["scale"][0].item() == pytest.approx((q3 - q1) / 1.349, rel=1e-5)
    zeros = frame["mostly_zero"].to_numpy()[train_rows]  # quartiles meet: the std instead
    assert st["scale"][1].item() == pytest.approx(zeros.std(), rel=1e-5)


@pytest.mark.parametrize(("rows", "expected"), [(10, 10), (206, 32), (642, 32), (1800, 64),
                                                (6000, 256), (11_000, 256), (12_000, 512),
                                                (32_364, 512), (10_000_000, 512)])
def test_auto_batch_size_gives_about_32_steps_an_epoch_within_bounds(rows, expected):
    from fivestep.data.base import auto_batch_size

    assert auto_batch_size(rows) == expected


def test_batch_size_auto_is_resolved_when_the_table_is_read():
    from ..conftest import tiny_table

    dm = tiny_table("binary", rows=400)
    assert dm.batch_size is None  # tiny_table keeps the full batch
    auto = TabularDataModule(frame=dm.frame, target="y", batch_size="auto")
    auto.setup()
    assert auto.batch_size == 32 and len(auto.train_dataloader()) == -(-240 // 32)
