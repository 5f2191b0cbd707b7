"""Every value the tensors lesson shows, checked."""

import numpy as np
import pandas as pd
import torch

from fivestep.fundamentals import tensors

from .conftest import assert_every_step_printed, shown_by

shown = shown_by(tensors)


def test_from_a_list_indexing_and_dtype(shown):
    lesson = shown
    t = lesson["t = torch.tensor([1, 2, 3, 4, 5])"]
    assert t.tolist() == [1, 2, 3, 4, 5] and t.dtype == torch.int64
    assert lesson["t.dtype"] == torch.int64
    assert lesson["t[0]"].ndim == 0 and lesson["t[0]"].item() == 1
    assert lesson["t[0].item()"] == 1 and type(lesson["t[0].item()"]) is int
    assert lesson["t[-1].item()"] == 5
    assert lesson["t[1:4]"].tolist() == [2, 3, 4]
    f = lesson["f = torch.tensor([1, 2, 3, 4, 5], dtype=torch.float32)"]
    assert f.dtype == torch.float32 and f.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert lesson["f.dtype"] == torch.float32
    assert lesson["f.type()"] == "torch.FloatTensor"


def test_size_and_the_three_spellings_of_ndim(shown):
    lesson, printed = shown, shown.printed
    assert lesson["t.size()"] == torch.Size([5]) == lesson["t.shape"]
    assert lesson["t.ndimension()"] == lesson["t.ndim"] == lesson["t.dim()"] == 1
    assert "t.ndimension()" in printed and "t.ndim or t.dim()" in printed  # the then/now note


def test_view_reshapes_without_copying(shown):
    lesson = shown
    assert lesson["r = torch.arange(6)"].tolist() == [0, 1, 2, 3, 4, 5]
    assert lesson["m = r.view(2, 3)"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert lesson["m.ndim"] == 2
    assert lesson["r.view(-1, 1)"].shape == (6, 1)
    assert lesson["r.view(-1, 1)"].flatten().tolist() == [0, 1, 2, 3, 4, 5]
    assert lesson["r.view(3, -1).shape"] == torch.Size([3, 2])
    assert lesson["m.data_ptr() == r.data_ptr()"] is True
    assert lesson["m.t().view(6)"].startswith("RuntimeError: view size is not compatible")
    assert lesson["m.t().reshape(6)"].tolist() == [0, 3, 1, 4, 2, 5]


def test_numpy_round_trip_shares_memory_both_ways(shown):
    lesson = shown
    assert lesson["a = np.array([1.0, 2.0, 3.0])"].tolist() == [1.0, 2.0, 3.0]
    n = lesson["n = torch.from_numpy(a)"]
    assert n.dtype == torch.float64 and n.tolist() == [1.0, 2.0, 3.0]
    assert lesson["a[0] = 100.0; n"].tolist() == [100.0, 2.0, 3.0]  # array -> tensor
    assert lesson["n[1] = -1.0; a"].tolist() == [100.0, -1.0, 3.0]  # tensor -> array
    assert lesson["c = torch.tensor(a); a[2] = 7.0; c"].tolist() == [100.0, -1.0, 3.0]  # a copy
    assert lesson["n.numpy()"].tolist() == [100.0, -1.0, 7.0]
    assert lesson["np.shares_memory(n.numpy(), a)"] is True


def test_pandas_series_and_back_to_a_list(shown):
    lesson = shown
    s = lesson["s = pd.Series([0.5, 2.0, 3.5])"]
    assert isinstance(s, pd.Series)
    from_series = lesson["torch.tensor(s.to_numpy())"]
    assert from_series.dtype == torch.float64 and from_series.tolist() == [0.5, 2.0, 3.5]
    pandas_major = int(pd.__version__.split(".")[0])
    assert lesson["s.to_numpy().flags.writeable"] is (pandas_major < 3)
    as_list = lesson["t.tolist()"]
    assert as_list == [1, 2, 3, 4, 5] and all(type(v) is int for v in as_list)
    assert lesson["f.tolist()"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert all(type(v) is float for v in lesson["f.tolist()"])


def test_every_step_is_printed(shown):
    assert_every_step_printed(shown)
    assert isinstance(shown["a = np.array([1.0, 2.0, 3.0])"], np.ndarray)
