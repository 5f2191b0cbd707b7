"""A table (CSV, Parquet, a pandas DataFrame or a bundled scikit-learn set) as tensors.

The article's point, made runnable: a table is a 2-D tensor. Rows are split first
(seeded, stratified for classification); the preprocessing (median imputation,
standardization, one-hot levels, label mapping) is then fitted on the training rows
only and applied to every split, so nothing of the validation or test rows leaks
into training. The fitted preprocessing is plain data (`state_dict`), which Lightning
stores in every checkpoint, so a later predict needs only the checkpoint and a raw
file (`load_state_dict`, then `transform`).

The work is done on whole columns and blocks of rows (`fivestep.data.prepared`): no
Python runs per row, only the needed columns are read, and the float32 matrix is
written once, in place, with its rows ordered by split so that each split is a view.
With `cache_dir` the prepared matrix of a file is kept on disk and reused by later runs
with the same file and settings; with `mmap` (or automatically above `mmap_above_gb`)
training reads it memory-mapped, block by block (`BlockBatches`), so a table larger than
memory trains in little RAM.
"""

import logging
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from fivestep.config.types import PositiveInt
from fivestep.data import prepared as prep
from fivestep.data.base import InGraph, InMemoryDataModule, Splits
from fivestep.data.batches import BlockBatches, TensorBatches
from fivestep.data.prepared import Columns, FrameColumns, Prepared
from fivestep.data.split import split_assignment, split_indices
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
    regression and int64 for multi-class. The rows of "all" are ordered train, val,
    test (each in the source's order); `source_rows[i]` is row i's number in the source.

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
        scaling: numeric features "standard" (mean 0, std 1), "robust" (median 0, and the
            quartiles' spread of a standard normal: IQR / 1.349; the standard deviation
            where the quartiles meet, as in a mostly-zero column), "max" (divided by the
            largest absolute value) or "none"; statistics from the training rows.
        target_scaling: regression target "standard" (the default: a price in the
            thousands trains as well as a score near 1), "max" or "none"; the metrics,
            figures, predictions and exports are given back in the target's own units
            (`inverse_target`).
        val_fraction, test_fraction: shares of all rows held out (0 = no such split).
        split_seed: seed of the split.
        batch_size, shuffle, seed, on_device, eval_batch_size: batching, see
            `InMemoryDataModule`.
        cache_dir: where prepared files are kept (`paths.cache_dir`); None = no cache.
            Only a `path` source is cached, keyed by the file and these settings.
        mmap: True = train from the memory-mapped prepared matrix with block shuffling
            (needs `path` and `cache_dir`); False = never; "auto" = when the float32
            matrix would exceed `mmap_above_gb` GiB.
        block_batches: batches per shuffled block in mmap mode.
        folds, fold: k-fold cross-validation, see `InMemoryDataModule`.
    """

    raw_rows = True
    applies_folds = True  # load() passes folds/fold to split_indices

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
        scaling: Literal["standard", "robust", "max", "none"] = "standard",
        target_scaling: Literal["none", "standard", "max"] = "standard",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        batch_size: int | Literal["auto"] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        on_device: bool = False,
        cache_dir: str | None = None,
        mmap: bool | str = "auto",
        mmap_above_gb: float = 4.0,
        block_batches: int = 64,
        folds: int | None = None,
        fold: int = 0,
        eval_batch_size: PositiveInt | None = None,
    ) -> None:
        super().__init__(batch_size, shuffle, seed, on_device, folds, fold,
                         eval_batch_size=eval_batch_size)
        sources = [name for name, v in (("path", path), ("dataset", dataset), ("frame", frame))
                   if v is not None]
        if len(sources) != 1:
            raise UserError(
                f"data: give exactly one source, got {sources or 'none'}; set data.path=FILE "
                f"(with data.target=COLUMN) or data.dataset=NAME ({', '.join(BUNDLED)})"
            )
        if mmap not in (True, False, "auto"):
            raise UserError(f"data.mmap={mmap!r}: use true, false or auto")
        self.path, self.dataset, self.frame = path, dataset, frame
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.target = target
        self.features = list(features) if features is not None else None
        self.categorical = list(categorical or [])
        self.task_hint = task
        self.missing, self.scaling, self.target_scaling = missing, scaling, target_scaling
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.split_seed = split_seed
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.mmap, self.mmap_above_gb, self.block_batches = mmap, mmap_above_gb, block_batches
        self.memory_mapped = False  # decided in setup
        self.prepared: Prepared | None = None
        self.cache_hit = False
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
    def n_numeric(self) -> int:
        """The numeric columns come first in `x`, then the one-hot codes."""
        return len(self._fitted("numeric"))

    @property
    def feature_names(self) -> list[str]:
        return list(self._fitted("feature_names"))

    @property
    def label_names(self) -> list[str] | None:
        names = self._fitted("label_names")
        return list(names) if names is not None else None

    @property
    def source_rows(self) -> np.ndarray:
        """The source's row number of each row of `splits["all"]`."""
        if self.prepared is None:
            raise RuntimeError("call setup() first")
        return self.prepared.rows

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

    def _settings(self) -> dict[str, Any]:
        """Everything besides the source that changes the prepared arrays (the cache key)."""
        return {"target": self.target, "features": self.features,
                "categorical": self.categorical, "task": self.task_hint,
                "missing": self.missing, "scaling": self.scaling,
                "target_scaling": self.target_scaling, "val_fraction": self.val_fraction,
                "test_fraction": self.test_fraction, "split_seed": self.split_seed,
                "folds": self.folds, "fold": self.fold,
                "dataset": self.dataset, "dataset_kwargs": self.dataset_kwargs}

    def _columns(self) -> Columns:
        """The raw table, target included (for a file: only the columns needed)."""
        if self.frame is not None:
            return FrameColumns(self.frame)
        if self.dataset is not None:
            return FrameColumns(self._load_sklearn())

        def needed(header: list[str]) -> list[str]:
            if self.features is None:
                return header
            return [self.target or "", *self.features, *self.categorical]

        return prep.read_columns(Path(self.path), needed)

    def _load(self) -> pd.DataFrame:
        """The whole raw table, target included, in the source's row order."""
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
        prepared = self._cached() or self._prepare()
        self.prepared = prepared
        self._state = prepared.state
        splits: Splits = {}
        for name in ("train", "val", "test", "all"):
            x, y = prepared.split(name)
            splits[name] = (torch.from_numpy(x), torch.from_numpy(y))
        counts = prepared.counts
        log.info(
            "Data %s: %d rows (%d/%d/%d), %d features after encoding, task %s%s%s%s",
            self._where(), sum(counts), *counts, prepared.x.shape[1], self.task,
            f", classes {self.label_names}" if self.label_names else "",
            ", memory-mapped" if self.memory_mapped else "",
            f", prepared files {prepared.directory}" if prepared.directory else "",
        )
        return splits

    def _cache_path(self) -> Path | None:
        if self.path is None or self.cache_dir is None or not Path(self.path).is_file():
            return None
        return self.cache_dir / f"tabular-{prep.cache_key(Path(self.path), self._settings())}"

    def _cached(self) -> Prepared | None:
        """The prepared arrays of an earlier run with the same file and settings."""
        final = self._cache_path()
        hit = prep.load_prepared(final) if final is not None else None
        if hit is not None:
            self.cache_hit = True
            x = hit.x
            self.memory_mapped = self.mmap is True or (
                self.mmap == "auto" and x.nbytes > self.mmap_above_gb * 2**30)
            log.info("Data %s: prepared arrays from the cache %s", self._where(), final)
        return hit

    def _want_mmap(self, rows: int, columns: int) -> bool:
        if self.mmap is True or (self.mmap == "auto"
                                 and rows * columns * 4 > self.mmap_above_gb * 2**30):
            if self.path is None or self.cache_dir is None:
                if self.mmap is True:
                    raise UserError("data.mmap=true needs a file (data.path) and a place for "
                                    "the prepared matrix (data.cache_dir, e.g. "
                                    "${paths.cache_dir})")
                return False
            return True
        return False

    def _prepare(self) -> Prepared:
        source = self._columns()
        where = self._where()
        target = self.target or ("target" if self.dataset else None)
        if target is None:
            raise UserError(f"data.target is not set; name the column to predict, one of "
                            f"{_names(source.names)}")
        if target not in source.names:
            raise UserError(
                f"data.target={target!r} is not a column of {where}; the columns are "
                f"{_names(source.names)}"
            )
        features = self.features if self.features is not None else [
            c for c in source.names if c != target
        ]
        absent = [c for c in [*features, *self.categorical] if c not in source.names]
        if absent:
            raise UserError(
                f"data.features/data.categorical name columns not in {where}: "
                f"{_names(absent)}; the columns are {_names(source.names)}"
            )
        if target in features:
            raise UserError(f"data.features includes the target {target!r}; remove it")
        if not features:
            raise UserError(f"{where} has no feature columns besides the target {target!r}")
        n = source.n_rows
        if n == 0:
            raise UserError(f"{where} has a header but no rows; give a file with data rows")

        # 1. the target: labels, the split
        y_raw = source.column(target)
        gaps = y_raw.isna().to_numpy()
        if gaps.any():
            rows = [int(i) for i in np.flatnonzero(gaps)[:5]]
            raise UserError(
                f"target column {target!r} of {where} has {int(gaps.sum())} missing "
                f"values (rows {rows}...); drop or fill those rows"
            )
        del gaps
        numeric, categorical = _column_kinds(source, features, self.categorical, where)
        if self.missing == "reject":
            gaps_of = {c: int(source.column(c).isna().sum()) for c in numeric}
            gaps_of = {c: k for c, k in gaps_of.items() if k}
            if gaps_of:
                raise UserError(
                    f"{where} has missing values in {gaps_of} and data.missing=reject; fill "
                    "them, or set data.missing=impute (training median)"
                )
        task = self.task_hint or _infer_task(y_raw, self.dataset)
        codes, label_names = _encode_labels(y_raw, task, target, where)
        del y_raw
        try:
            if self.folds is None:
                assign = split_assignment(codes, self.val_fraction, self.test_fraction,
                                          self.split_seed, stratify=task != "regression")
            else:  # k-fold: scikit-learn's (Stratified)KFold over the non-test rows
                assign = np.zeros(n, dtype=np.int8)
                _, val_rows, test_rows = split_indices(
                    codes, self.val_fraction, self.test_fraction, self.split_seed,
                    stratify=task != "regression", folds=self.folds, fold=self.fold)
                assign[val_rows], assign[test_rows] = 1, 2
        except ValueError as err:
            raise UserError(f"{where} ({n} rows): {err}") from None
        counts = tuple(int(c) for c in np.bincount(assign, minlength=3))
        train = assign == 0

        # 2. the levels of the categorical columns (they size the matrix)
        train = assign == 0
        levels = self._fit_levels(source, categorical, train, where)
        names = list(numeric) + [f"{c}={level}" for c in categorical for level in levels[c]]
        width = len(names)
        self.memory_mapped = self._want_mmap(n, width)
        final = self._cache_path()
        staging = prep.staging_dir(self.cache_dir, final.name) if (
            final is not None) else None
        try:
            # 3. numeric statistics on the training rows, one column at a time; in memory
            # each column is encoded into the matrix as soon as it is fitted (one read of
            # the file); memory-mapped, the matrix is written afterwards by blocks of rows
            x = prep.allocate((n, width), np.float32, staging, "x")
            by_column = not self.memory_mapped
            median, shift, scale = self._fit_numeric(source, numeric, assign, counts, where,
                                                     x if by_column else None)
            state: dict[str, Any] = {
                "version": 1, "task": task, "target": target, "features": list(features),
                "numeric": list(numeric), "categorical": levels,
                "label_names": label_names, "missing": self.missing, "scaling": self.scaling,
                "median": torch.from_numpy(median), "shift": torch.from_numpy(shift),
                "scale": torch.from_numpy(scale), "feature_names": names,
            }
            if task == "regression":
                t_shift, t_scale = _scaling(codes[train].astype(np.float64),
                                            self.target_scaling)
                state["target_shift"], state["target_scale"] = t_shift, t_scale
            del train
            if by_column:
                base = len(numeric)
                for column in categorical:
                    width_c = len(levels[column])
                    idx = prep.level_codes(source.column(column), levels[column])
                    prep.write_by_split(x, idx, assign, base, onehot=width_c)
                    base += width_c
            else:
                prep.write_rows(source, [*numeric, *categorical], assign, state, x, where)
            y = prep.allocate((n,), np.float32 if task != "multiclass" else np.int64,
                              staging, "y")
            start = 0
            for s in range(3):
                part = codes[assign == s]
                if task == "regression":
                    part = ((torch.from_numpy(part) - state["target_shift"])
                            / state["target_scale"]).numpy()
                y[start : start + len(part)] = part
                start += len(part)
            del codes
            out = Prepared(x, y, prep.source_rows(assign), counts, state)
            if staging is None:
                return out
            return prep.publish(staging, out, final, {"source": str(self.path),
                                                      "settings": self._settings()})
        except BaseException:
            if staging is not None:
                import shutil

                shutil.rmtree(staging, ignore_errors=True)
            raise

    def _fit_levels(self, source: Columns, categorical: list[str], train: np.ndarray,
                    where: str) -> dict[str, list[str]]:
        """The sorted level names of each categorical column in the training rows."""
        levels: dict[str, list[str]] = {}
        for column in categorical:
            values = source.column(column)
            prep.refuse_unusable(column, where, source.n_rows, int(values.isna().sum()), 0)
            levels[column] = sorted(prep.present_levels(values, train))
        return levels

    def _fit_numeric(self, source: Columns, numeric: list[str], assign: np.ndarray,
                     counts: tuple[int, int, int], where: str, x: np.ndarray | None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median, shift and scale of each numeric column from the training rows
        (float32, as the state keeps them); unusable columns are refused by name. With
        `x`, each column is also encoded into its column of `x` (split order)."""
        median = np.zeros(len(numeric), dtype=np.float32)
        shift = np.zeros(len(numeric), dtype=np.float32)
        scale = np.ones(len(numeric), dtype=np.float32)
        train = assign == 0
        # in memory, encoded columns are written a group at a time, in tiles of whole rows:
        # a quarter of the columns per group (4 passes over the matrix, not one per column)
        group = max(1, -(-len(numeric) // 4))
        rows_by_split = [np.flatnonzero(assign == s).astype(np.int64) for s in range(3)] \
            if x is not None else []
        done: list[np.ndarray] = []
        for j, column in enumerate(numeric):
            if x is not None:  # the whole column at once: it is encoded right after
                whole = prep.numeric_values(source.column(column), column, where)
                blocks: Any = [whole]
            else:
                whole = None
                blocks = (prep.numeric_values(b[column], column, where)
                          for b in source.blocks([column], rows=1 << 22))
            values = np.empty(counts[0])
            k = start = n_missing = n_inf = 0
            for v in blocks:
                n_missing += int(np.count_nonzero(np.isnan(v)))
                n_inf += int(np.count_nonzero(np.isinf(v)))
                kept = v[train[start : start + len(v)]]
                values[k : k + len(kept)] = kept
                k += len(kept)
                start += len(v)
                del v, kept
            prep.refuse_unusable(column, where, source.n_rows, n_missing, n_inf)
            nan = np.isnan(values)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN training rows
                m = np.float32(np.nanmedian(values)) if len(values) else np.float32(0)
            median[j] = 0.0 if np.isnan(m) else m
            values[nan] = median[j]
            del nan
            shift[j], scale[j] = _scaling(values, self.scaling)
            del values
            if whole is not None:
                done.append(prep.scale_column(whole, median[j], shift[j], scale[j])
                            .astype(np.float32))
                del whole
                if len(done) == group or j == len(numeric) - 1:
                    prep.write_columns(x, done, rows_by_split, j + 1 - len(done))
                    done = []
        return median, shift, scale

    def _where(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"dataset {self.dataset!r}" if self.dataset else "the DataFrame"

    # ---------------------------------------------------------------- batches

    def train_dataloader(self) -> TensorBatches | BlockBatches:
        if not self.memory_mapped:
            return super().train_dataloader()
        trainer = self.trainer
        return BlockBatches(
            self.splits["train"], batch_size=self.batch_size, shuffle=self.shuffle,
            seed=self.seed, rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            block_batches=self.block_batches,
        )

    # ---------------------------------------------------------------- applying the fit

    def transform(self, df: pd.DataFrame) -> Tensor:
        """Raw rows -> `x: (rows, n_features)` float32, with the fitted preprocessing.

        Missing feature columns are an error naming them; extra columns are ignored
        (with a warning); a category level not seen in training encodes as all zeros.
        A numeric column holding +-inf, or with no value at all in more than one row,
        is refused by name.
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
        for column in st["numeric"]:
            v = prep.numeric_values(df[column], column, "the rows")
            n_missing = int(np.count_nonzero(np.isnan(v))) if len(v) > 1 else 0
            prep.refuse_unusable(column, "the rows", len(v), n_missing,
                                 int(np.count_nonzero(np.isinf(v))))
        return torch.from_numpy(prep.encode_block(df, st, "the rows"))

    def encode_target(self, values: pd.Series) -> Tensor:
        """Raw target values -> `y: (rows,)` as the model was trained on them."""
        st = self._state
        if st["task"] == "regression":
            y = pd.to_numeric(values, errors="raise").to_numpy(np.float32)
            return (torch.from_numpy(y) - st["target_shift"]) / st["target_scale"]
        codes = prep.level_codes(values, st["label_names"])
        if (codes < 0).any():
            _, _, names = prep.factorize(values)
            unknown = sorted({str(n) for n in names if n not in st["label_names"]}
                             | ({"None"} if values.isna().any() else set()))
            raise UserError(f"labels {unknown} were not seen in training; known: "
                            f"{st['label_names']}")
        dtype = torch.float32 if st["task"] == "binary" else torch.int64
        return torch.from_numpy(codes).to(dtype)

    def inverse_target(self, y: Tensor) -> Tensor:
        """Regression outputs in training units -> the target's original units."""
        if self.task != "regression":
            return y
        return y * self._state["target_scale"] + self._state["target_shift"]


# -------------------------------------------------------------------- helpers of setup


def read_table(path: Path) -> pd.DataFrame:
    """Read a whole CSV or Parquet file; every failure becomes one `UserError` naming it."""
    columns = prep.read_columns(path, lambda header: header)
    if isinstance(columns, FrameColumns):
        return columns.frame
    return pd.read_parquet(path)


def _names(columns: Any) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:30])
    return f"[{shown}{', ...' if len(names) > 30 else ''}]"


def _infer_task(y: pd.Series, dataset: str | None) -> Task:
    if dataset in BUNDLED:
        return BUNDLED[dataset]
    if dataset is not None and GENERATED.get(dataset):
        return GENERATED[dataset]
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        levels = y.nunique()
        return "binary" if levels <= 2 else "multiclass"
    if _integral(y) and y.nunique() <= MAX_CLASSES:
        levels = y.nunique()
        return "binary" if levels <= 2 else "multiclass"
    return "regression"


def _integral(y: pd.Series) -> bool:
    """Whether every value is a whole number (checked in slices: no float64 copy of a
    100M-row column)."""
    if pd.api.types.is_integer_dtype(y):
        return True
    values = y.to_numpy()
    step = 1 << 22
    return all(bool(np.all(np.floor(v) == v)) for v in (
        values[i : i + step].astype(np.float64) for i in range(0, len(values), step)))


def _encode_labels(
    y: pd.Series, task: Task, target: str, where: str
) -> tuple[np.ndarray, list[str] | None]:
    """Targets as numbers (class index as int64, or value as float32) and the class
    names by index. Python runs once per distinct value, not per row."""
    if task == "regression":
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            bad = y[values.isna()].iloc[0]
            raise UserError(f"target {target!r} of {where} has a non-numeric value {bad!r} "
                            "but the task is regression; fix the value or set data.task")
        return values.to_numpy(np.float32), None
    codes, uniques, level = prep.factorize(y)
    used = prep.used(codes, len(uniques))
    if isinstance(y.dtype, pd.CategoricalDtype):
        order = [i for i in range(len(uniques)) if used[i]]
        names = [str(uniques[i]) for i in order]
        position = dict(zip(order, range(len(order)), strict=True))
        table = np.array([position.get(i, -1) for i in range(len(uniques))], dtype=np.int32)
    else:
        order = sorted(range(len(uniques)), key=lambda i: (str(type(uniques[i])), uniques[i]))
        names = list(dict.fromkeys(level[i] for i in order))
        index = {name: i for i, name in enumerate(names)}
        table = np.array([index[n] for n in level], dtype=np.int32)
    if len(names) < 2:
        raise UserError(
            f"target {target!r} of {where} has only one class ({names[0]!r}); a classifier "
            "needs at least two: check data.target, or set data.task=regression"
        )
    if task == "binary" and len(names) > 2:
        raise UserError(f"target {target!r} of {where} has {len(names)} classes but "
                        "data.task=binary; set data.task=multiclass")
    return table[codes], names


def _column_kinds(
    source: Columns, features: list[str], declared: list[str], where: str
) -> tuple[list[str], list[str]]:
    """Split the features into numeric and categorical columns, refusing unclear ones.

    A text column is judged by its distinct values (codes), never row by row."""
    numeric, categorical = [], []
    for column in features:
        if column in declared:
            categorical.append(column)
            continue
        if _is_numeric(source, column):
            numeric.append(column)
            continue
        s = source.column(column)
        codes, uniques, _ = prep.factorize(s)
        used = prep.used(codes, len(uniques))
        present = [u for u, k in zip(uniques, used, strict=True) if k]
        as_number = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce")
        if as_number.notna().any():
            bad_codes = [i for i, (u, k) in enumerate(zip(uniques, used, strict=True))
                         if k and pd.isna(pd.to_numeric(pd.Series([u], dtype=object),
                                                        errors="coerce")[0])]
            first = np.flatnonzero(np.isin(codes, bad_codes))[0]
            bad = uniques[codes[first]]
            raise UserError(
                f"column {column!r} of {where} is mostly numbers but has non-numeric "
                f"values such as {bad!r}; fix those values, or list the column in "
                "data.categorical to one-hot encode it"
            )
        levels = len(present)
        if levels > MAX_LEVELS and levels > source.n_rows / 2:
            raise UserError(
                f"column {column!r} of {where} is text with {levels} distinct values "
                "(an ID or free text?); leave it out with data.features=[...], or list "
                "it in data.categorical to one-hot encode it anyway"
            )
        categorical.append(column)
    return numeric, categorical


def _is_numeric(source: Columns, column: str) -> bool:
    if isinstance(source, FrameColumns):
        s = source.frame[column]
        return pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)
    import pyarrow as pa

    kind = source.schema.field(column).type  # type: ignore[attr-defined]
    if pa.types.is_dictionary(kind):
        return False
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) \
            or pa.types.is_decimal(kind):
        return True
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return False
    raise UserError(f"column {column!r} of {source.path} has type {kind}, neither numbers "  # type: ignore[attr-defined]
                    "nor text; leave it out with data.features=[...], or convert it")


def as_levels(s: pd.Series) -> np.ndarray:
    """Values as level names (object array, None where missing): `level_name` of each
    distinct value, looked up by code."""
    codes, _, names = prep.factorize(s)
    return np.asarray([*names, None], dtype=object)[codes]


def _scaling(x: np.ndarray, how: str) -> tuple[float, float]:
    """`(shift, scale)` of one column (float64 values) so that `(x - shift) / scale` is
    scaled as asked, both as float32 numbers (as the state stores them)."""
    shift, scale = 0.0, 1.0
    if how == "standard" and len(x):
        shift, scale = float(x.mean()), float(x.std())
    elif how == "robust" and len(x):
        q1, shift, q3 = (float(q) for q in np.quantile(x, [0.25, 0.5, 0.75]))
        scale = (q3 - q1) / 1.349 if q3 > q1 else float(x.std())
    elif how == "max" and len(x):
        scale = float(np.abs(x).max())
    if not scale > 0:  # a constant column stays finite
        scale = 1.0
    return float(np.float32(shift)), float(np.float32(scale))
