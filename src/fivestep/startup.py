"""`loading_libraries()`: the entry points import torch, Lightning and the rest with
Python's garbage collector off, and keep what they loaded out of its later passes.

Importing `fivestep.train` makes ~450,000 objects. The collector starts a full pass
over every tracked object each time enough new ones have survived, so the imports set
off 7 full passes, ~0.6-0.9 s of the ~6.5 s a one-epoch `train.py experiment=two_layer`
takes on the 2-core machine (`gc.callbacks`, 2026-12-07); none of those objects is
garbage, they live as long as the process.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_FROZEN = False  # once per process: a later freeze would also keep a job's garbage


@contextmanager
def loading_libraries() -> Iterator[None]:
    """The collector off inside; after it, the objects alive then are frozen
    (`gc.freeze`: moved out of every later pass), the first time in a process. Later
    times (the jobs of a multirun, whose imports are done) change nothing."""
    global _FROZEN
    if _FROZEN:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()
        _FROZEN = True
