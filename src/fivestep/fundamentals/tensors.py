"""Lesson 1: creating and converting tensors.

A tensor from a Python list, indexing, a float dtype, its size and number of
dimensions, a new `view` of the same memory, and the round trips to NumPy (shared
memory), pandas and back to a list. The DataModules (`fivestep.data`) do exactly
this to tabular data: NumPy or pandas columns become one float32 tensor
`x: (rows, features)` that batches are sliced from.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fivestep.fundamentals.lesson import Lesson

TITLE = "tensors: creating and converting"


def run(lesson: Lesson, out: Path) -> None:
    """Fill `lesson` with the tensor steps (`out` is unused: this lesson draws nothing)."""
    t = lesson.step(
        "t = torch.tensor([1, 2, 3, 4, 5])",
        torch.tensor([1, 2, 3, 4, 5]),
        "a tensor from a Python list; whole numbers give int64",
    )
    lesson.step("t.dtype", t.dtype)
    lesson.step("t[0]", t[0], "indexing gives a 0-dimensional tensor")
    lesson.step("t[0].item()", t[0].item(), "`.item()` turns it into a Python number")
    lesson.step("t[-1].item()", t[-1].item())
    lesson.step("t[1:4]", t[1:4], "a slice is a view of the same memory")

    f = lesson.step(
        "f = torch.tensor([1, 2, 3, 4, 5], dtype=torch.float32)",
        torch.tensor([1, 2, 3, 4, 5], dtype=torch.float32),
        "a network's inputs and weights are float32",
    )
    lesson.step("f.dtype", f.dtype)
    lesson.step("f.type()", f.type(), "the legacy type name")
    lesson.note(
        "torch.FloatTensor([1, 2, 3])",
        "torch.tensor([1, 2, 3], dtype=torch.float32)",
        "the legacy type constructors still work but are discouraged",
    )

    lesson.step("t.size()", t.size())
    lesson.step("t.shape", t.shape, "the same `torch.Size`, as an attribute")
    lesson.step("t.ndimension()", t.ndimension(), "the article's spelling")
    lesson.step("t.ndim", t.ndim, "today's spelling (also `t.dim()`)")
    lesson.step("t.dim()", t.dim())
    lesson.note(
        "t.ndimension()",
        "t.ndim or t.dim()",
        "`ndimension()` is an old alias kept for compatibility",
    )

    r = lesson.step("r = torch.arange(6)", torch.arange(6), "a 1-D tensor of 6 elements")
    m = lesson.step("m = r.view(2, 3)", r.view(2, 3), "2 rows of 3: same data, new shape")
    lesson.step("m.ndim", m.ndim)
    lesson.step("r.view(-1, 1)", r.view(-1, 1), "-1: PyTorch works out that size (6 rows)")
    lesson.step("r.view(3, -1).shape", r.view(3, -1).shape)
    lesson.step(
        "m.data_ptr() == r.data_ptr()",
        m.data_ptr() == r.data_ptr(),
        "a view copies nothing",
    )
    try:
        m.t().view(6)
        transposed_view = "no error"
    except RuntimeError as err:
        transposed_view = f"RuntimeError: {str(err).split('.')[0]}"
    lesson.step(
        "m.t().view(6)",
        transposed_view,
        "a view needs compatible memory; a transpose has none",
    )
    lesson.step("m.t().reshape(6)", m.t().reshape(6), "`reshape` copies when it must")

    a = lesson.step("a = np.array([1.0, 2.0, 3.0])", np.array([1.0, 2.0, 3.0]))
    from_numpy = lesson.step(
        "n = torch.from_numpy(a)", torch.from_numpy(a), "float64 stays float64"
    )
    a[0] = 100.0
    lesson.step(
        "a[0] = 100.0; n",
        from_numpy,
        "n shares a's memory: changing the array changes the tensor",
    )
    from_numpy[1] = -1.0
    lesson.step(
        "n[1] = -1.0; a",
        a,
        "and the other way round",
    )
    copied = torch.tensor(a)
    a[2] = 7.0
    lesson.step(
        "c = torch.tensor(a); a[2] = 7.0; c",
        copied,
        "`torch.tensor` copies, so c keeps 3.0",
    )
    back = lesson.step("n.numpy()", from_numpy.numpy(), "back to NumPy, again sharing memory")
    lesson.step("np.shares_memory(n.numpy(), a)", bool(np.shares_memory(back, a)))

    s = lesson.step("s = pd.Series([0.5, 2.0, 3.5])", pd.Series([0.5, 2.0, 3.5]))
    lesson.step(
        "torch.tensor(s.to_numpy())",
        torch.tensor(s.to_numpy()),
        "a pandas column becomes a float64 tensor (copied)",
    )
    lesson.step(
        "s.to_numpy().flags.writeable",
        s.to_numpy().flags.writeable,
        "False with pandas >= 3: read-only under copy-on-write",
    )
    lesson.note(
        "torch.from_numpy(s.values)",
        "torch.tensor(s.to_numpy())",
        "with pandas >= 3 `s.values` is read-only, so from_numpy warns that "
        "writing to the tensor is undefined; `torch.tensor` takes a copy",
    )

    lesson.step("t.tolist()", t.tolist(), "back to a list of Python ints")
    lesson.step("f.tolist()", f.tolist(), "and of Python floats")
