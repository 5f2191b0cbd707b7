"""A table (CSV, Parquet, a pandas DataFrame or a bundled scikit-learn set) as tensors.

The article's point, made runnable: a table is a 2-D tensor. Rows are split first
(seeded, stratified for classification); the preprocessing (median imputation,
standardization, one-hot levels, label mapping) is then fitted on the training rows
only and applied to every split, so nothing of the validation or test rows leaks
into training. The fitted preprocessing is plain data (`state_dict`), which Lightning
stores in every checkpoint, so a later predict needs only the checkpoint and a raw
file (`load_state_dict`, then `transform`).
"""

import logging
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from fivestep.data.base import InGraph, InMemoryDataModule, Splits
from fivestep.data.split import split_indices
from fivestep.errors import UserError
from fivestep.models.task import Task

log = logging.getLogger(__name__)


# scikit-learn's bundled tables (shipped inside the package: no download) and their task.
BUNDLED: dict[str, Task] = {
    "breast_cancer": "binary",
    "iris": "multiclass",
    "wine": "multiclass",
    "diabetes": "regression",
}
# Generated tables; `data.dataset_kwargs` is passed to the generator.
GENERATED: dict[str, Task | None] = {"make_regression": "regression", "make_classification": None}

# A non-numeric column with more distinct values than this (and than half the rows)
# looks like an identifier or free text rather than a category.
MAX_LEVELS = 50
# An integer-valued numeric target with at most this many values is taken as class labels.
MAX_CLASSES = 20


class TabularDataModule(InMemoryDataModule):
    """Rows of a table as `(x: (rows, n_features) float32, y: (rows,))` tensors.

    Exactly one source: `path` (`.csv`, `.parquet`), `frame` (a DataFrame, in code)
    or `dataset` (a name in `BUNDLED` or `GENERATED`).

    After `setup()`: `splits` ("train", "val", "test", "all"), `task`, `num_classes`
    (2 for binary, K for multi-class, None for regression), `n_features` (columns
    after one-hot encoding), `feature_names` (encoded, in order), `label_names`
    (class names by index, None for regression). `y` is float32 for binary and
    regression and int64 for multi-class.

    Args:
        path: a CSV or Parquet file.
        target: the column to predict (default "target" for `dataset`).
        dataset: a scikit-learn table by name, e.g. "breast_cancer".
        dataset_kwargs: arguments of a generator (`make_regression`).
        frame: a DataFrame passed in code.
        features: the feature columns, in order; None = every column but the target.
        categorical: columns to one-hot encode even when numeric; string columns are
            encoded anyway (unless they look like numbers with typos, or like IDs).
        task: None = inferred (strings/booleans or an integer target with at most
            20 values -> classification, otherwise regression).
        missing: "impute" numeric gaps with the training median, or "reject" them.
        scaling: numeric features "standard" (mean 0, std 1), "max" (divided by the
            largest absolute value) or "none"; statistics from the training rows.
        target_scaling: regression target "none", "standard" or "max" (predictions
            are given back in the original units by `inverse_target`).
        val_fraction, test_fraction: shares of all rows held out (0 = no such split).
        split_seed: seed of the split.
        batch_size, shuffle, seed, on_device: batching, see `InMemoryDataModule`.
    """

    raw_rows = True

    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        dataset: str | None = None,
        dataset_kwargs: dict[str, Any] | None = None,
        frame: pd.DataFrame | None = None,
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        task: Task | None = None,
        missing: Literal["impute", "reject"] = "impute",
        scaling: Literal["standard", "max", "none"] = "standard",
        target_scaling: Literal["none", "standard", "max"] = "none",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        batch_size: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        on_device: bool = False,
        folds: int | None = None,
        fold: int = 0,
    ) -> None:
        super().__init__(batch_size, shuffle, seed, on_device, folds, fold)
        sources = [name for name, v in (("path", path), ("dataset", dataset), ("frame", frame))
                   if v is not None]
        if len(sources) != 1:
            raise UserError(
                f"data: give exactly one source, got {sources or 'none'}; set data.path=FILE "
                f"(with data.target=COLUMN) or data.dataset=NAME ({', '.join(BUNDLED)})"
            )
        self.path, self.dataset, self.frame = path, dataset, frame
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.target = target
        self.features = list(features) if features is not None else None
        self.categorical = list(categorical or [])
        self.task_hint = task
        self.missing, self.scaling, self.target_scaling = missing, scaling, target_scaling
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_seed = split_seed
        self._state: dict[str, Any] = {}

    # ---------------------------------------------------------------- the fitted state

    @property
    def task(self) -> Task:
        return self._fitted("task")

    @property
    def num_classes(self) -> int | None:
        names = self._fitted("label_names")
        return len(names) if names is not None else None

    @property
    def n_features(self) -> int:
        return len(self._fitted("feature_names"))

    @property
    def feature_names(self) -> list[str]:
        return list(self._fitted("feature_names"))

    @property
    def label_names(self) -> list[str] | None:
        names = self._fitted("label_names")
        return list(names) if names is not None else None

    @property
    def input_columns(self) -> list[str]:
        return list(self._fitted("features"))

    def in_graph(self) -> InGraph:
        st = self._state
        return InGraph(st["median"], st["shift"], st["scale"],
                       st.get("target_shift", 0.0), st.get("target_scale", 1.0))

    def _fitted(self, key: str) -> Any:
        if not self._state:
            raise RuntimeError("call setup() or load_state_dict() first")
        return self._state[key]

    def state_dict(self) -> dict[str, Any]:
        """The fitted preprocessing as plain data (loads with `weights_only=True`)."""
        return {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in self._state.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore preprocessing fitted earlier, so `transform` needs no `setup`."""
        self._state = dict(state_dict)

    # ---------------------------------------------------------------- loading

    def _load(self) -> pd.DataFrame:
        """The raw table, target included."""
        if self.frame is not None:
            return self.frame.copy()
        if self.dataset is not None:
            return self._load_sklearn()
        return read_table(Path(self.path))

    def _load_sklearn(self) -> pd.DataFrame:
        from sklearn import datasets

        name = self.dataset
        if name in BUNDLED:
            bunch = getattr(datasets, f"load_{name}")(as_frame=True)
            df = bunch.frame.copy()
            if BUNDLED[name] != "regression":
                names = [str(n) for n in bunch.target_names]
                df["target"] = pd.Categorical.from_codes(df["target"], names)
            return df
        if name in GENERATED:
            try:
                x, y = getattr(datasets, name)(**self.dataset_kwargs)
            except TypeError as err:
                raise UserError(f"data.dataset_kwargs for {name}: {err}") from None
            df = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
            df["target"] = y
            return df
        raise UserError(
            f"data.dataset={name!r} is not a known table; pick one of "
            f"{', '.join([*BUNDLED, *GENERATED])} or give a file with data.path"
        )

    # ---------------------------------------------------------------- setup

    def load(self) -> Splits:
        df = self._load()
        where = self._where()
        target = self.target or ("target" if self.dataset else None)
        if target is None:
            raise UserError(f"data.target is not set; name the column to predict, one of "
                            f"{_names(df.columns)}")
        if target not in df.columns:
            raise UserError(
                f"data.target={target!r} is not a column of {where}; the columns are "
                f"{_names(df.columns)}"
            )
        features = self.features if self.features is not None else [
            c for c in df.columns if c != target
        ]
        absent = [c for c in [*features, *self.categorical] if c not in df.columns]
        if absent:
            raise UserError(
                f"data.features/data.categorical name columns not in {where}: "
                f"{_names(absent)}; the columns are {_names(df.columns)}"
            )
        if target in features:
            raise UserError(f"data.features includes the target {target!r}; remove it")
        if not features:
            raise UserError(f"{where} has no feature columns besides the target {target!r}")
        if len(df) == 0:
            raise UserError(f"{where} has a header but no rows; give a file with data rows")

        y_raw = df[target]
        if y_raw.isna().any():
            rows = list(np.flatnonzero(y_raw.isna().to_numpy())[:5])
            raise UserError(
                f"target column {target!r} of {where} has {int(y_raw.isna().sum())} missing "
                f"values (rows {rows}...); drop or fill those rows"
            )
        numeric, categorical = _column_kinds(df, features, self.categorical, where)
        if self.missing == "reject":
            _reject_missing(df, numeric, where)
        task = self.task_hint or _infer_task(y_raw, self.dataset)
        y, label_names = _encode_labels(y_raw, task, target, where)

        try:
            parts = split_indices(
                y, self.val_fraction, self.test_fraction, self.split_seed,
                stratify=task != "regression", folds=self.folds, fold=self.fold,
            )
        except ValueError as err:
            raise UserError(f"{where} ({len(df)} rows): {err}") from None

        train_rows = df.iloc[parts[0]]
        x_num = _numeric_block(train_rows, numeric, where)
        state: dict[str, Any] = {
            "version": 1,
            "task": task,
            "target": target,
            "features": list(features),
            "numeric": numeric,
            "categorical": {c: _levels(train_rows[c]) for c in categorical},
            "label_names": label_names,
            "missing": self.missing,
            "scaling": self.scaling,
        }
        median = torch.from_numpy(np.nanmedian(x_num, axis=0) if len(numeric) else np.zeros(0))
        state["median"] = torch.nan_to_num(median.float(), nan=0.0)
        filled = np.where(np.isnan(x_num), state["median"].numpy(), x_num)
        state["shift"], state["scale"] = _scaling(filled, self.scaling)
        state["feature_names"] = numeric + [
            f"{c}={level}" for c in categorical for level in state["categorical"][c]
        ]
        y_t = torch.from_numpy(y)
        if task == "regression":
            shift, scale = _scaling(y[parts[0]].reshape(-1, 1), self.target_scaling)
            state["target_shift"], state["target_scale"] = float(shift[0]), float(scale[0])
            y_t = (y_t - state["target_shift"]) / state["target_scale"]
        self._state = state

        x = self.transform(df)
        splits = {
            name: (x[idx], y_t[idx])
            for name, idx in zip(("train", "val", "test"), parts, strict=True)
        }
        splits["all"] = (x, y_t)
        log.info(
            "Data %s: %d rows (%d/%d/%d), %d features after encoding, task %s%s",
            where, len(df), *(len(p) for p in parts), x.shape[1], task,
            f", classes {label_names}" if label_names else "",
        )
        return splits

    def _where(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"dataset {self.dataset!r}" if self.dataset else "the DataFrame"

    # ---------------------------------------------------------------- applying the fit

    def transform(self, df: pd.DataFrame) -> Tensor:
        """Raw rows -> `x: (rows, n_features)` float32, with the fitted preprocessing.

        Missing feature columns are an error naming them; extra columns are ignored
        (with a warning); a category level not seen in training encodes as all zeros.
        """
        st = self._state
        if not st:
            raise RuntimeError("call setup() or load_state_dict() first")
        absent = [c for c in st["features"] if c not in df.columns]
        if absent:
            raise UserError(
                f"the rows lack feature columns the model was trained on: {_names(absent)}; "
                f"the model needs {_names(st['features'])}"
            )
        extra = [c for c in df.columns if c not in st["features"] and c != st["target"]]
        if extra:
            warnings.warn(f"ignoring columns the model was not trained on: {extra}",
                          stacklevel=2)
        x_num = _numeric_block(df, st["numeric"], "the rows")
        if np.isnan(x_num).any():
            if st["missing"] == "reject":
                _reject_missing(df, st["numeric"], "the rows")
            x_num = np.where(np.isnan(x_num), st["median"].numpy(), x_num)
        x_num = (x_num - st["shift"].numpy()) / st["scale"].numpy()
        blocks = [x_num.astype(np.float32)]
        for column, levels in st["categorical"].items():
            values = as_levels(df[column])
            onehot = (values[:, None] == np.asarray(levels, dtype=object)[None, :])
            blocks.append(onehot.astype(np.float32))
        return torch.from_numpy(np.concatenate(blocks, axis=1))

    def encode_target(self, values: pd.Series) -> Tensor:
        """Raw target values -> `y: (rows,)` as the model was trained on them."""
        st = self._state
        if st["task"] == "regression":
            y = pd.to_numeric(values, errors="raise").to_numpy(np.float32)
            return (torch.from_numpy(y) - st["target_shift"]) / st["target_scale"]
        index = {name: i for i, name in enumerate(st["label_names"])}
        names = as_levels(values)
        unknown = sorted({str(v) for v in names if v not in index})
        if unknown:
            raise UserError(f"labels {unknown} were not seen in training; known: "
                            f"{st['label_names']}")
        codes = np.array([index[v] for v in names])
        dtype = torch.float32 if st["task"] == "binary" else torch.int64
        return torch.from_numpy(codes).to(dtype)

    def inverse_target(self, y: Tensor) -> Tensor:
        """Regression outputs in training units -> the target's original units."""
        if self.task != "regression":
            return y
        return y * self._state["target_scale"] + self._state["target_shift"]


# -------------------------------------------------------------------- helpers of setup


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; every failure becomes one `UserError` naming it."""
    if not path.exists():
        raise UserError(f"data.path={str(path)!r} does not exist; give the path to a "
                        ".csv or .parquet file (relative to where you run)")
    if path.is_dir():
        raise UserError(f"data.path={str(path)!r} is a directory; give a .csv or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except pd.errors.EmptyDataError:
        raise UserError(f"data.path={str(path)!r} is empty; give a file with a header "
                        "row and data rows") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"data.path={str(path)!r} cannot be read as {suffix[1:]}: {first}; "
                        "check that it is a valid file of that type") from None
    raise UserError(f"data.path={str(path)!r}: unknown file type {suffix!r}; use .csv or "
                    ".parquet")


def _names(columns: Any) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:30])
    return f"[{shown}{', ...' if len(names) > 30 else ''}]"


def _infer_task(y: pd.Series, dataset: str | None) -> Task:
    if dataset in BUNDLED:
        return BUNDLED[dataset]
    if dataset is not None and GENERATED.get(dataset):
        return GENERATED[dataset]
    levels = y.nunique()
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "binary" if levels <= 2 else "multiclass"
    values = y.to_numpy(dtype=float)
    if np.all(values == np.round(values)) and levels <= MAX_CLASSES:
        return "binary" if levels <= 2 else "multiclass"
    return "regression"


def _encode_labels(
    y: pd.Series, task: Task, target: str, where: str
) -> tuple[np.ndarray, list[str] | None]:
    """Targets as numbers (class index, or value) and the class names by index."""
    if task == "regression":
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            bad = y[values.isna()].iloc[0]
            raise UserError(f"target {target!r} of {where} has a non-numeric value {bad!r} "
                            "but the task is regression; fix the value or set data.task")
        return values.to_numpy(np.float32), None
    if isinstance(y.dtype, pd.CategoricalDtype):
        names = [str(c) for c in y.cat.categories if (y == c).any()]
    else:
        levels = sorted(y.unique(), key=lambda v: (str(type(v)), v))
        names = list(dict.fromkeys(as_levels(pd.Series(levels, dtype=y.dtype))))
    if len(names) < 2:
        raise UserError(
            f"target {target!r} of {where} has only one class ({names[0]!r}); a classifier "
            "needs at least two: check data.target, or set data.task=regression"
        )
    if task == "binary" and len(names) > 2:
        raise UserError(f"target {target!r} of {where} has {len(names)} classes but "
                        "data.task=binary; set data.task=multiclass")
    index = {name: i for i, name in enumerate(names)}
    codes = np.array([index[v] for v in as_levels(y)])
    dtype = np.float32 if task == "binary" else np.int64
    return codes.astype(dtype), names


def _column_kinds(
    df: pd.DataFrame, features: list[str], declared: list[str], where: str
) -> tuple[list[str], list[str]]:
    """Split the features into numeric and categorical columns, refusing unclear ones."""
    numeric, categorical = [], []
    for column in features:
        s = df[column]
        if column in declared:
            categorical.append(column)
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(column)
        else:
            present = s.dropna()
            as_number = pd.to_numeric(present, errors="coerce")
            if as_number.notna().any():
                bad = present[as_number.isna()].iloc[0]
                raise UserError(
                    f"column {column!r} of {where} is mostly numbers but has non-numeric "
                    f"values such as {bad!r}; fix those values, or list the column in "
                    "data.categorical to one-hot encode it"
                )
            levels = present.nunique()
            if levels > MAX_LEVELS and levels > len(s) / 2:
                raise UserError(
                    f"column {column!r} of {where} is text with {levels} distinct values "
                    "(an ID or free text?); leave it out with data.features=[...], or list "
                    "it in data.categorical to one-hot encode it anyway"
                )
            categorical.append(column)
    return numeric, categorical


def as_levels(s: pd.Series) -> np.ndarray:
    """Values as level names (object array, None where missing). An integral number is
    written without a decimal point, so `2` in training and `2.0` in a file with gaps
    (which pandas reads as float) are the same level."""

    def name(v: Any) -> str | None:
        if pd.isna(v):
            return None
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v)

    return np.array([name(v) for v in s.to_numpy(dtype=object)], dtype=object)


def _levels(s: pd.Series) -> list[str]:
    return sorted({v for v in as_levels(s) if v is not None})


def _numeric_block(df: pd.DataFrame, columns: list[str], where: str) -> np.ndarray:
    """`(rows, len(columns))` float64 with NaN for missing values."""
    out = np.empty((len(df), len(columns)))
    for j, column in enumerate(columns):
        values = pd.to_numeric(df[column], errors="coerce")
        bad = values.isna() & df[column].notna()
        if bad.any():
            raise UserError(
                f"column {column!r} of {where} has a non-numeric value "
                f"{df[column][bad].iloc[0]!r}; it was numeric in training"
            )
        out[:, j] = values.to_numpy(dtype=float)
    return out


def _reject_missing(df: pd.DataFrame, numeric: list[str], where: str) -> None:
    counts = {c: int(df[c].isna().sum()) for c in numeric if df[c].isna().any()}
    if counts:
        raise UserError(
            f"{where} has missing values in {counts} and data.missing=reject; fill them, "
            "or set data.missing=impute (training median)"
        )


def _scaling(x: np.ndarray, how: str) -> tuple[Tensor, Tensor]:
    """Per-column `(shift, scale)` so that `(x - shift) / scale` is scaled as asked."""
    cols = x.shape[1]
    shift, scale = np.zeros(cols), np.ones(cols)
    if how == "standard" and len(x):
        shift, scale = x.mean(axis=0), x.std(axis=0)
    elif how == "max" and len(x):
        scale = np.abs(x).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # a constant column stays finite
    return torch.from_numpy(shift).float(), torch.from_numpy(scale).float()
