"""A table prepared once as a float32 matrix: the vectorized preprocessing and its cache.

`prepare(source, settings)` turns the raw columns into `(x, y)` in three passes that each
hold at most one column (or one block of rows) besides the result:

1. the target: read as one column, labels coded (`factorize`), the rows split
   (`split_assignment`, one byte per row);
2. statistics, one column at a time, on the training rows only: median, shift and
   scale of a numeric column, the levels of a categorical one; a column that is
   entirely missing or holds +-inf is refused here, by name;
3. writing, one block of rows at a time (`encode_block`, the same function
   `TabularDataModule.transform` applies to new rows), into a float32 matrix allocated
   once, in RAM or as a memory-mapped `.npy` file.

The matrix's rows are ordered by split, training rows first, then validation, then test,
each in the file's order, so a split is a contiguous slice (a view, never a copy);
`rows` maps them back to the file's row numbers.

A source is a `Columns` object: `FrameColumns` (a DataFrame, a CSV read with
`usecols`) or `ParquetColumns` (pyarrow, reading only the columns asked for, in record
batches). With a cache directory the prepared arrays are written there under a key of the
source file (path, size, modification time) and the settings (`cache_key`), and later runs
with the same key load them instead of preparing again (`load_prepared`).
"""

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fivestep.errors import UserError

log = logging.getLogger(__name__)

FORMAT = 1  # of the prepared directory; part of the cache key
BLOCK_ROWS = 1 << 18  # rows per block of the writing pass


# ----------------------------------------------------------------------------- sources


class Columns:
    """Named columns of a table, read one column or one block of rows at a time."""

    names: list[str]
    n_rows: int

    def column(self, name: str) -> pd.Series:
        """The whole column (text columns as a pandas Categorical, no object array)."""
        raise NotImplementedError

    def blocks(self, names: list[str], rows: int = BLOCK_ROWS) -> Iterator[pd.DataFrame]:
        """Consecutive blocks of `names`, in row order."""
        raise NotImplementedError


class FrameColumns(Columns):
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.names = list(frame.columns)
        self.n_rows = len(frame)

    def column(self, name: str) -> pd.Series:
        return self.frame[name]

    def blocks(self, names: list[str], rows: int = BLOCK_ROWS) -> Iterator[pd.DataFrame]:
        for start in range(0, max(self.n_rows, 1), rows):
            yield self.frame.iloc[start : start + rows][names]


class ParquetColumns(Columns):
    """A Parquet file through pyarrow: a column is read alone, blocks are record batches."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = path
        # streamed, without pre-buffering: pyarrow's default keeps every range it
        # read cached until the file is closed (600 MB for 5M x 20 rows read in batches)
        self.file = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        self.schema = self.file.schema_arrow
        self.names = [n for n in self.schema.names if not n.startswith("__index_level_")]
        self.n_rows = self.file.metadata.num_rows

    def column(self, name: str) -> pd.Series:
        import pyarrow.parquet as pq

        table = pq.read_table(self.path, columns=[name], use_threads=False, buffer_size=1 << 20,
                              pre_buffer=False)
        return _arrow_series(table, name)

    def blocks(self, names: list[str], rows: int = BLOCK_ROWS) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        # one thread: on a busy machine pyarrow's thread pool cost 8x (0.87 s vs 0.10 s, 1M x 20)
        for batch in self.file.iter_batches(batch_size=rows, columns=names, use_threads=False):
            table = pa.Table.from_batches([batch])
            yield pd.DataFrame({n: _arrow_series(table, n) for n in names}, copy=False)


def _arrow_series(table: Any, name: str) -> pd.Series:
    """One column of a pyarrow table as pandas would read it, but text as a Categorical
    with sorted levels (codes, not one Python string per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(column.combine_chunks())
        levels = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        order = np.argsort(levels, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
        return pd.Series(pd.Categorical.from_codes(codes, categories=levels[order]), name=name)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        if column.null_count:  # as pandas reads them: NaN in a float column
            column = column.cast(pa.float64())
        return pd.Series(column.to_numpy(), name=name, copy=False)  # no pandas conversion
    return table.select([name]).to_pandas()[name]


def read_columns(path: Path, needed: Callable[[list[str]], list[str]]) -> Columns:
    """The columns of a CSV or Parquet file; `needed(header)` says which ones to read.

    Every failure becomes one `UserError` naming the file."""
    if not path.exists():
        raise UserError(f"data.path={str(path)!r} does not exist; give the path to a "
                        ".csv or .parquet file (relative to where you run)")
    if path.is_dir():
        raise UserError(f"data.path={str(path)!r} is a directory; give a .csv or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return ParquetColumns(path)
        if suffix in (".csv", ".txt", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            header = list(pd.read_csv(path, sep=sep, nrows=0).columns)
            wanted = set(needed(header))
            columns = FrameColumns(pd.read_csv(path, sep=sep, usecols=lambda c: c in wanted))
            columns.names = header  # for messages that list the file's columns
            return columns
    except pd.errors.EmptyDataError:
        raise UserError(f"data.path={str(path)!r} is empty; give a file with a header "
                        "row and data rows") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"data.path={str(path)!r} cannot be read as {suffix[1:]}: {first}; "
                        "check that it is a valid file of that type") from None
    raise UserError(f"data.path={str(path)!r}: unknown file type {suffix!r}; use .csv or "
                    ".parquet")


# ----------------------------------------------------------------------------- levels


def level_name(v: Any) -> str | None:
    """A value's level name: None where missing; an integral number is written without
    a decimal point, so `2` in training and `2.0` in a file with gaps (which pandas reads
    as float) are the same level."""
    if pd.isna(v):
        return None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def factorize(values: pd.Series) -> tuple[np.ndarray, list[Any], list[str | None]]:
    """`(codes, distinct values, their level names)`: codes index the distinct values,
    -1 where missing. Python runs once per distinct value, never per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int32)
        uniques = list(values.cat.categories)
    else:
        codes, found = pd.factorize(values, use_na_sentinel=True)
        codes = codes.astype(np.int32)  # half the memory of pandas' int64 codes
        uniques = list(found)
    return codes, uniques, [level_name(v) for v in uniques]


def used(codes: np.ndarray, count: int) -> np.ndarray:
    """Which of `count` codes occur in `codes` (-1 = missing is ignored)."""
    if count <= 64:  # a few classes: one comparison each, no copy of the codes
        return np.array([bool((codes == k).any()) for k in range(count)], dtype=bool)
    return np.bincount(codes[codes >= 0], minlength=count) > 0


def level_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """The index of each value's level in `levels`, -1 where missing or unseen."""
    codes, _, names = factorize(values)
    where = {name: i for i, name in enumerate(levels)}
    table = np.array([where.get(n, -1) if n is not None else -1 for n in names] + [-1],
                     dtype=np.int32)
    return table[codes]  # code -1 picks the last entry: -1


def present_levels(values: pd.Series, rows: np.ndarray | None = None) -> set[str]:
    """The level names that occur in `values` (in the rows where `rows` is true)."""
    codes, _, names = factorize(values)
    if rows is not None:
        codes = codes[rows]
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(names)))
    return {names[i] for i in used if names[i] is not None}


# ----------------------------------------------------------------------------- numbers


def numeric_values(values: pd.Series, column: str, where: str) -> np.ndarray:
    """A column as float64 with NaN where missing; text in it is refused by name."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        # a float64 column comes back as a view of the caller's frame: never write into it
        return out.copy() if np.shares_memory(out, values.to_numpy()) else out
    number = pd.to_numeric(values, errors="coerce")
    bad = number.isna() & values.notna()
    if bad.any():
        raise UserError(
            f"column {column!r} of {where} has a non-numeric value "
            f"{values[bad].iloc[0]!r}; it was numeric in training"
        )
    return number.to_numpy(dtype=np.float64, na_value=np.nan)


def refuse_unusable(column: str, where: str, n_rows: int, n_missing: int, n_inf: int) -> None:
    """One `UserError` for a column that is entirely missing or holds +-inf."""
    fix = (f"leave it out with data.features=[...] (every column but {column!r}), or fill it "
           "in the file")
    if n_inf:
        raise UserError(f"column {column!r} of {where} holds {n_inf} infinite values (inf or "
                        f"-inf), which no scaling can use; {fix}")
    if n_rows and n_missing == n_rows:
        raise UserError(f"column {column!r} of {where} is entirely missing (all {n_rows} "
                        f"values); {fix}")


def encode_block(frame: pd.DataFrame, state: dict[str, Any], where: str,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Raw rows -> `(rows, n_features)` float32 with the fitted preprocessing `state`.

    Numeric columns: gaps filled with the median (or refused with `missing=reject`),
    then `(x - shift) / scale` in float64, written as float32; categorical columns: one
    column per level, 1 where the row has it (an unseen or missing level is all zeros).
    """
    n = len(frame)
    width = len(state["feature_names"])
    if out is None:
        out = np.empty((n, width), dtype=np.float32)
    numeric = state["numeric"]
    median = state["median"].numpy().astype(np.float64)
    shift = state["shift"].numpy().astype(np.float64)
    scale = state["scale"].numpy().astype(np.float64)
    for j, column in enumerate(numeric):
        v = numeric_values(frame[column], column, where)
        if np.isnan(v).any() and state["missing"] == "reject":
                counts = {c: int(frame[c].isna().sum()) for c in numeric if frame[c].isna().any()}
                raise UserError(
                    f"{where} has missing values in {counts} and data.missing=reject; fill "
                    "them, or set data.missing=impute (training median)"
                )
        scale_column(v, median[j], shift[j], scale[j])
        out[:, j] = v
    base = len(numeric)
    if base < width:
        out[:, base:] = 0
    for column, levels in state["categorical"].items():
        idx = level_codes(frame[column], levels)
        hit = np.flatnonzero(idx >= 0)
        out[hit, base + idx[hit]] = 1
        base += len(levels)
    return out


def scale_column(v: np.ndarray, median: float, shift: float, scale: float) -> np.ndarray:
    """In place, float64: gaps filled with `median`, then `(v - shift) / scale`; the
    arithmetic of every numeric feature, in training and in `transform` alike."""
    gaps = np.isnan(v)
    if gaps.any():
        v[gaps] = np.float64(np.float32(median))
    v -= np.float64(np.float32(shift))
    v /= np.float64(np.float32(scale))
    return v


def write_by_split(x: np.ndarray, values: np.ndarray, assign: np.ndarray, column: int,
                   onehot: int = 0) -> None:
    """Column `column` of `x` (split order) from one value per source row; with
    `onehot`, `values` are level indices (-1 = none) and set columns
    `column .. column + onehot - 1` to 0/1."""
    start = 0
    for s in range(3):
        part = values[assign == s]
        if onehot:
            x[start : start + len(part), column : column + onehot] = 0
            hit = np.flatnonzero(part >= 0)
            x[start + hit, column + part[hit]] = 1
        else:
            x[start : start + len(part), column] = part
        start += len(part)


def write_columns(x: np.ndarray, columns: list[np.ndarray], rows_by_split: list[np.ndarray],
                  first: int, tile: int = 1 << 16) -> None:
    """Columns `first ..` of `x` (split order) from whole encoded columns (source order),
    written in tiles of whole rows, so each tile of the matrix is touched once."""
    start = 0
    for rows in rows_by_split:
        for t in range(0, len(rows), tile):
            r = rows[t : t + tile]
            block = np.empty((len(r), len(columns)), dtype=x.dtype)
            for g, column in enumerate(columns):
                block[:, g] = column[r]
            x[start + t : start + t + len(r), first : first + len(columns)] = block
        start += len(rows)


# ----------------------------------------------------------------------------- prepared


@dataclass
class Prepared:
    """A prepared table: `x` (rows, features) float32 and `y` (rows,), ordered by split
    (`counts` = rows of train, val, test); `rows[i]` is row i's number in the source;
    `state` is the fitted preprocessing; `directory` holds the files when on disk."""

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray
    counts: tuple[int, int, int]
    state: dict[str, Any]
    directory: Path | None = None

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        a, b, c = self.counts
        bounds = {"train": (0, a), "val": (a, a + b), "test": (a + b, a + b + c),
                  "all": (0, a + b + c)}[name]
        return self.x[bounds[0] : bounds[1]], self.y[bounds[0] : bounds[1]]


def allocate(shape: tuple[int, ...], dtype: Any, directory: Path | None, name: str) -> np.ndarray:
    """An uninitialized array, in RAM or as `directory/name.npy` (memory-mapped)."""
    if directory is None:
        return np.empty(shape, dtype=dtype)
    return np.lib.format.open_memmap(directory / f"{name}.npy", mode="w+", dtype=dtype,
                                     shape=shape)


def write_rows(source: Columns, names: list[str], assign: np.ndarray, state: dict[str, Any],
               x: np.ndarray, where: str) -> None:
    """The writing pass: every block of rows encoded and put at its split's place."""
    counts = np.bincount(assign, minlength=3)
    cursor = np.concatenate([[0], np.cumsum(counts)[:-1]])
    start = 0
    for frame in source.blocks(names):
        n = len(frame)
        if n == 0:
            continue
        part = assign[start : start + n]
        block = encode_block(frame, state, where)
        for s in range(3):
            mask = part == s
            k = int(np.count_nonzero(mask))
            if k == n:
                x[cursor[s] : cursor[s] + k] = block
            elif k:
                x[cursor[s] : cursor[s] + k] = block[mask]
            cursor[s] += k
        start += n


def by_split(values: np.ndarray, assign: np.ndarray) -> np.ndarray:
    """`values` reordered train, val, test (each in source order), without an index array."""
    return np.concatenate([values[assign == s] for s in range(3)])


def source_rows(assign: np.ndarray) -> np.ndarray:
    """The source row number of each row of the prepared matrix (train, val, test)."""
    rows = np.empty(len(assign), dtype=np.int32 if len(assign) < 2**31 else np.int64)
    start = 0
    for s in range(3):
        idx = np.flatnonzero(assign == s)
        rows[start : start + len(idx)] = idx
        start += len(idx)
        del idx
    return rows


# ----------------------------------------------------------------------------- the cache


def cache_key(path: Path, settings: dict[str, Any]) -> str:
    """A key of the source file (absolute path, size, modification time) and of every
    setting that changes the prepared arrays."""
    stat = path.stat()
    blob = json.dumps({"format": FORMAT, "path": str(path.resolve()), "size": stat.st_size,
                       "mtime_ns": stat.st_mtime_ns, "settings": settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_prepared(directory: Path) -> Prepared | None:
    """A complete prepared directory, memory-mapped (copy-on-write), or None."""
    meta_file = directory / "meta.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    state = torch.load(directory / "state.pt", weights_only=True)
    x = np.load(directory / "x.npy", mmap_mode="c")
    y = np.load(directory / "y.npy", mmap_mode="c")
    rows = np.load(directory / "rows.npy", mmap_mode="r")
    return Prepared(x, y, rows, tuple(meta["counts"]), state, directory)


def staging_dir(cache_dir: Path, key: str) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))


def publish(staging: Path, prepared: Prepared, final: Path, info: dict[str, Any]) -> Prepared:
    """Finish a prepared directory: state and metadata written, then renamed into place
    in one step, so that a concurrent trial sees either nothing or a complete one."""
    for array in (prepared.x, prepared.y):
        if isinstance(array, np.memmap):
            array.flush()
    np.save(staging / "rows.npy", prepared.rows)
    torch.save(prepared.state, staging / "state.pt")
    (staging / "meta.json").write_text(json.dumps({"counts": list(prepared.counts), **info},
                                                  indent=1, default=str))
    staging.chmod(0o755)  # mkdtemp made it private
    try:
        os.rename(staging, final)
    except OSError:  # another process published the same key first: use that one
        shutil.rmtree(staging, ignore_errors=True)
    loaded = load_prepared(final)
    assert loaded is not None
    return loaded
