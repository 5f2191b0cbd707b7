"""A request's JSON body -> the raw rows as a DataFrame, or a `BadRequest` naming the field.

The checks here are what JSON adds to a table file: a body that is not JSON, rows
that are not objects, a column left out (with the likely misspelling named), text or
a non-finite number where the model takes a number. What is left, the values
themselves, goes through the checkpoint's own preprocessing (`transform`), exactly
as `predict.py` sends a file's rows. A category level never seen in training is
answered (it encodes as all zeros, as in `predict.py`) and flagged per row.

Numbers: JSON has no NaN or Infinity; the literals Python's `json` would accept
(`NaN`, `Infinity`) are refused, and so is a number too large for a float (`1e999`):
a missing value is `null`, imputed like an empty cell of a CSV.
"""

import difflib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fivestep.data.prepared import level_name
from fivestep.serving.bad_request import BadRequest

EXAMPLE = '{"rows": [{"column": value, ...}, ...]}'


@dataclass(frozen=True)
class Schema:
    """The raw columns a model takes.

    Attributes:
        columns: every input column, in the training table's order.
        numeric: the numeric ones.
        categorical: each categorical column's levels seen in training.
    """

    columns: list[str]
    numeric: list[str]
    categorical: dict[str, list[str]]

    def describe(self) -> dict[str, Any]:
        """Columns, types and training levels, as the metadata endpoint shows them."""
        return {"columns": [
            {"name": c, "type": "number"} if c in self.numeric
            else {"name": c, "type": "category", "categories": self.categorical[c]}
            for c in self.columns
        ]}


@dataclass
class Rows:
    """Valid rows, held by column (so that the rows of many requests join cheaply).

    Attributes:
        columns: each input column's values, numeric ones as floats (NaN = missing).
        n: how many rows.
        numeric: which columns are numeric.
        unseen: per row, the categorical values not seen in training (`{column: value}`).
        ignored: keys of the rows that are not input columns (ignored, as predict.py does).
    """

    columns: dict[str, list[Any]]
    n: int
    numeric: frozenset[str]
    unseen: list[dict[str, Any]]
    ignored: list[str]

    def frame(self) -> pd.DataFrame:
        """The rows as `transform` takes them: numeric columns float64, the others objects."""
        return pd.DataFrame({
            c: np.array(v, dtype=np.float64) if c in self.numeric else pd.Series(v, dtype=object)
            for c, v in self.columns.items()
        })

    @staticmethod
    def join(parts: "list[Rows]") -> "Rows":
        """The rows of several requests, one after another."""
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        columns = {c: [v for p in parts for v in p.columns[c]] for c in first.columns}
        return Rows(columns, sum(p.n for p in parts), first.numeric,
                    [u for p in parts for u in p.unseen], [])


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity literals), or a 400 saying where it breaks."""
    try:
        return json.loads(body, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BadRequest(400, "body", "the body is not UTF-8 text",
                         f"send UTF-8 encoded JSON: {EXAMPLE}") from None
    except json.JSONDecodeError as err:
        raise BadRequest(400, "body", f"malformed JSON at line {err.lineno} column "
                         f"{err.colno}: {err.msg}", f"send a JSON object: {EXAMPLE}") from None
    except ValueError as err:
        raise BadRequest(400, "body", f"malformed JSON: {err}",
                         "write a missing value as null; numbers must be finite") from None


def _number(value: Any, field: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise BadRequest(422, field, f"{field} is {value!r}, not a finite number",
                             "give a finite number, or null for a missing value")
        return number
    shown = f"the text {value[:40]!r}" if isinstance(value, str) else (
        f"a JSON {type(value).__name__}")
    raise BadRequest(422, field, f"{field} is {shown}; this column is numeric",
                     "send a JSON number (not a string), or null for a missing value")


def _category(value: Any, field: str) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(422, field, f"{field} is {value!r}",
                             "give the category as text, or null for a missing value")
        return value
    raise BadRequest(422, field, f"{field} is a JSON {type(value).__name__}; this column "
                     "is a category", "give the category as text, or null for a missing value")


def _missing_column(i: int, missing: list[str], row: dict[str, Any], schema: Schema) -> BadRequest:
    column = missing[0]
    extra = [k for k in row if k not in schema.columns]
    close = difflib.get_close_matches(column, extra, n=1, cutoff=0.6)
    hint = f" (it has {close[0]!r}: a misspelling of {column!r}?)" if close else ""
    also = f" and {len(missing) - 1} more ({', '.join(missing[1:4])})" if len(missing) > 1 else ""
    return BadRequest(
        422, f"rows[{i}].{column}",
        f"rows[{i}] lacks the column {column!r}{also}{hint}",
        f"every row needs all of {schema.columns} (null for a missing value)",
    )


def parse_rows(body: bytes, schema: Schema, max_rows: int) -> Rows:
    """Check a request body and return its rows, or raise the `BadRequest` of its first fault."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequest(422, "body", f"the body is a JSON {type(data).__name__}, not an object",
                         f"send {EXAMPLE}")
    if "rows" not in data:
        raise BadRequest(422, "rows", "the body has no 'rows'", f"send {EXAMPLE}")
    extra_keys = [k for k in data if k != "rows"]
    if extra_keys:
        raise BadRequest(422, extra_keys[0], f"the body has a key {extra_keys[0]!r} besides "
                         "'rows'", f"send only {EXAMPLE}")
    rows = data["rows"]
    if not isinstance(rows, list):
        raise BadRequest(422, "rows", f"rows is a JSON {type(rows).__name__}, not a list",
                         f"send {EXAMPLE}")
    if not rows:
        raise BadRequest(422, "rows", "rows is empty", "send at least one row")
    if len(rows) > max_rows:
        raise BadRequest(413, "rows", f"{len(rows)} rows in one request; the limit is "
                         f"{max_rows} (max_rows)", f"split them into requests of at most "
                         f"{max_rows} rows")
    numeric = {c: [] for c in schema.numeric}  # type: dict[str, list[Any]]
    categorical = {c: [] for c in schema.categorical}  # type: dict[str, list[Any]]
    levels = {c: set(v) for c, v in schema.categorical.items()}
    unseen: list[dict[str, Any]] = [{} for _ in rows]
    ignored: set[str] = set()
    width = len(schema.columns)
    for i, row in enumerate(rows):  # the fast path of each check first: plain floats, text
        if type(row) is not dict:
            raise BadRequest(422, f"rows[{i}]", f"rows[{i}] is a JSON {type(row).__name__}, "
                             "not an object", 'give each row as {"column": value, ...}')
        if len(row) != width or any(c not in row for c in schema.columns):
            missing = [c for c in schema.columns if c not in row]
            if missing:
                raise _missing_column(i, missing, row, schema)
            ignored.update(k for k in row if k not in numeric and k not in categorical)
        for c, values in numeric.items():
            v = row[c]
            if type(v) is not float or not math.isfinite(v):
                v = _number(v, f"rows[{i}].{c}")
            values.append(v)
        for c, values in categorical.items():
            v = row[c]
            if type(v) is not str:
                v = _category(v, f"rows[{i}].{c}")
                if v is not None and level_name(v) not in levels[c]:
                    unseen[i][c] = v
            elif v not in levels[c]:
                unseen[i][c] = v
            values.append(v)
    columns = {c: numeric[c] if c in numeric else categorical[c] for c in schema.columns}
    return Rows(columns, len(rows), frozenset(schema.numeric), unseen, sorted(ignored))
