"""The project's pipeline against a raw PyTorch loop: same data, model and initial weights.

    python scripts/benchmark.py                      # every case, 3 repetitions
    python scripts/benchmark.py --cases seed,startup --repeat 5
    python scripts/benchmark.py --device cuda        # trainer=gpu data.on_device=true

Cases (each repetition of each side runs in a fresh Python process, so a side's import
cost, caches and peak memory never leak into the other):

- `seed`: the `two_layer` experiment exactly as users run it (validation every epoch,
  TensorBoard, best and last checkpoints, model summary, progress bar), composed from
  `configs/` and run by `fivestep.train.train`, against the seed's five-step loop
  (`fivestep.fundamentals.five_steps.train_five_steps`) on the same training rows and
  initial weights. Measured: wall time of the 200-epoch fit (`on_fit_start` to
  `on_fit_end`; data generation is outside it on both sides).
- `tabular`: 1,000,000 x 20 `make_classification` rows, batch 1024, reshuffled, one
  epoch of the two-layer network, through the same experiment (all rows for
  training, `test=false`). Measured: training samples per second and the
  process's peak RSS (`os.wait4` on each child).

`seed` and `tabular` also time the same run with the opt-in speed-ups of
`src/fivestep/fast/` (`callbacks=fast logger=tensorboard_fast`); `tabular` also with
several optimizer steps per Lightning step (`data.batch_size=8192
model.step_batch_size=1024`: the same steps); and both a "floor": the same system in a
Lightning Trainer with every extra off (no validation, logger, checkpoint, progress bar,
summary), i.e. what Lightning itself costs over the raw loop; no project change can go below it.
- `startup`: wall time of `python train.py experiment=two_layer trainer.max_epochs=1`
  against `python -c "import lightning"`, the framework's own floor.
- `test-suite`: wall time of the default `pytest` run, against its 45 s budget.
- `tables`: your own table at scale (issue 13). For each size in `--table-rows` (default
  1M, 5M, 20M rows x `--features` numeric columns, a Parquet file written in streamed
  chunks under `--table-dir`): `train.py` with `data=tabular` (the two-layer net, batch
  `--batch-size`, one epoch, `test=false`, a fresh cache) end to end against a
  hand-written script (pyarrow read into a float32 matrix, seeded 60/20/20 split,
  standardized on the training rows, one epoch of the same net and SGD, validation
  accuracy): process wall time as the marginal cost over a 1,000-row file, and peak RSS;
  the preparation (read -> tensors, no cache) against the I/O floor (pyarrow reading the
  same columns into float32); a cache hit (a second run on the same file and settings:
  the share of its wall time spent preparing); and peak RSS against 4 GiB at the largest
  size.
- `panel`: the default command (`data=tabular data.path=... data.target=...`, nothing
  else) on each real table of `scripts/make_panel.py`, beside the majority, linear,
  LightGBM and scikit-learn MLP baselines on the same split, and its wall time
  (`scripts/panel.py`; its own table and `panel.json`). `--panel-seeds 12345,1,2`: each
  table once per seed, reported as the mean over the splits.
- `sweep`: the marginal cost of a `two_layer` trial (200 epochs, TPE over the learning
  rate): a hand-written Optuna loop (one process, the seed's five steps, validation
  accuracy per epoch), `train.py -m hydra/sweeper=optuna` one job per trial, and the
  same with `hydra.sweeper.members=true` (all trials asked at once and trained as
  members of one run); each as (wall(2 + N trials) - wall(2 trials)) / N, process wall
  times. Beside one job per trial, its floor: the same sweep at `trainer.max_epochs=1`
  (Hydra's job and the run's set-up, test and files), and a 200-epoch fit doing the
  loop's work in stock Lightning (a module that logs nothing, no logger, checkpoint or
  bar; `sweep:floor`, median of 5 fits in one process). Then the trial's own run,
  `train()` in one process without Hydra's job (`sweep:system`, median of 3 runs): as
  configured, without the figures, `last.ckpt`, summary and learning-rate monitor, and
  the same with Lightning's `self.log` made free (an instrument patched in that process
  only; `tests/e2e/test_benchmark.py` checks it changes no metric). And
  `+model.members=K` (a K-seed ensemble) against one run, process wall times.
- `mmap`: `--mmap-rows` (default 100M) x `--features` float32 rows trained with
  `data.mmap=true` for one epoch (batch `--mmap-batch-size`): peak anonymous memory
  (RssAnon, sampled from /proc/self/status; the mapped file's page cache is not counted)
  against 4 GiB, the preparation and the epoch's time. The source file is written in
  chunks, never whole in memory.

Prints a table of medians and ratios project/raw, and writes it as JSON (`--out`).
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# What "within reach" means (issue 8): (direction, target, stretch).
TARGETS: dict[str, tuple[str, float, float]] = {
    "seed": ("<=", 3.0, 1.5),
    "seed_reference": ("<=", 1.0, 0.5),  # the default fit vs the same system, Lightning's defaults
    "tabular": (">=", 0.6, 0.85),
    "tabular_rss": ("<=", 1.5, 1.5),
    "startup": ("<=", 1.5, 1.5),
    "test-suite": ("<=", 1.0, 1.0),
    "tables_time": ("<=", 1.25, 1.0),  # train.py vs the hand-written script, end to end
    "tables_rss": ("<=", 1.2, 1.0),
    "tables_prep": ("<=", 3.0, 1.5),  # preparation vs pyarrow reading into float32
    "tables_cache": ("<=", 0.05, 0.02),  # share of a cache-hit run spent preparing
    "tables_4gb": ("<=", 1.0, 0.5),  # peak RSS / 4 GiB
    "mmap_anon": ("<=", 1.0, 0.5),  # peak RssAnon / 4 GiB
    "sweep_alone": ("<=", 10.0, 10.0),  # a trial, one job each, vs a hand-written Optuna loop's
    "sweep_floor": ("<=", 99.0, 99.0),  # what one job per trial cannot go under (reference)
    "sweep_members": ("<=", 1.0, 0.2),  # the same with members
    "sweep_ensemble": ("<=", 2.0, 1.2),  # a K-seed ensemble's run vs one run (wall time)
    "folds_members": ("<=", 1.5, 1.2),  # k folds as members of one run vs one fold's run
    "folds_sequential": ("<=", 99.0, 99.0),  # k fold jobs one after another (reference)
}
GIB_MIB = 4096.0
SUITE_BUDGET_S = 45.0


# ----------------------------------------------------------------------------- workers
# A worker runs one side of one case in its own process and writes a JSON result.


def compose(overrides: list[str], out_dir: Path) -> Any:
    """The run config as `train.py` composes it, writing into `out_dir`."""
    from fivestep.config.compose import compose_run_config

    return compose_run_config(ROOT / "configs", overrides, out_dir)


def weights_fingerprint(net: Any) -> float:
    """A number that differs when the initial weights differ (sum of |w| * position)."""
    import torch

    with torch.no_grad():
        flat = torch.cat([p.detach().float().cpu().flatten() for p in net.parameters()])
        return float((flat.abs() * torch.arange(1, len(flat) + 1)).sum())


class FitClock:
    """A Lightning callback (built through the config) that times `trainer.fit`.

    Hydra instantiates it from `+callbacks.fit_clock._target_=__main__.FitClock`, so
    the run stays the user's run with one passive callback added.
    """

    def __new__(cls, path: str) -> Any:  # subclass Lightning's Callback lazily
        import lightning as L

        class _FitClock(L.Callback):
            def __init__(self, path: str) -> None:
                self.path = path
                self.start = 0.0
                self.fingerprint = 0.0

            def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
                self.fingerprint = weights_fingerprint(pl_module.net)
                self.loop = 0.0
                self.start = time.perf_counter()
                self.cpu_start = time.process_time()

            def on_train_epoch_start(self, *_: Any) -> None:
                self.epoch_start = time.perf_counter()

            def on_train_epoch_end(self, *_: Any) -> None:
                self.loop += time.perf_counter() - self.epoch_start

            def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
                seconds = time.perf_counter() - self.start
                cpu_seconds = time.process_time() - self.cpu_start
                rows = trainer.datamodule.splits["train"][0].shape[0]
                epochs = trainer.current_epoch
                Path(self.path).write_text(
                    json.dumps(
                        {"seconds": seconds, "fingerprint": self.fingerprint,
                         "rows": rows, "epochs": epochs, "loop_seconds": self.loop,
                         "cpu_seconds": cpu_seconds}
                    )
                )

        return _FitClock(path)


EXTRA_OVERRIDES: list[str] = []  # --override: appended to every seed/tabular config


# The opt-in speed-ups on Lightning's private members (src/fivestep/fast/).
FAST = ["callbacks=fast", "logger=tensorboard_fast"]


def seed_overrides(device: str) -> list[str]:
    extra = ["trainer=gpu", "data.on_device=true"] if device == "cuda" else []
    return ["experiment=two_layer", *extra, *EXTRA_OVERRIDES]


def tabular_overrides(args: argparse.Namespace) -> list[str]:
    extra = ["trainer=gpu", "data.on_device=true"] if args.device == "cuda" else []
    return [
        "experiment=two_layer",
        f"data.n_samples={args.rows}",
        f"data.n_features={args.features}",
        f"data.batch_size={args.batch_size}",
        "data.val_fraction=0",
        "data.test_fraction=0",
        "trainer.max_epochs=1",
        "test=false",
        *extra,
        *EXTRA_OVERRIDES,
    ]


def project_worker(overrides: list[str], result: Path) -> None:
    """Run `fivestep.train.train` on the composed config; `FitClock` writes `result`."""
    from fivestep.train import train

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg = compose(
            [*overrides, "+callbacks.fit_clock._target_=__main__.FitClock",
             f"+callbacks.fit_clock.path={result}"],
            Path(tmp),
        )
        train(cfg)


def seed_raw_worker(args: argparse.Namespace, result: Path) -> None:
    """The seed's loop on the training rows and initial weights `train(cfg)` would use."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from fivestep.config.sizes import sized_from_data
    from fivestep.fundamentals.five_steps import train_five_steps

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg = compose(seed_overrides(args.device), Path(tmp))
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # as train(cfg) does
    datamodule = instantiate(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    net = instantiate(cfg.model).net
    x, y = datamodule.splits["train"]
    fingerprint = weights_fingerprint(net)
    device = torch.device(args.device)
    net, x, y = net.to(device), x.to(device), y.to(device)
    epochs, lr = cfg.trainer.max_epochs, cfg.model.optimizer.lr
    sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        train_five_steps(net, x, y, epochs=epochs, lr=lr)
    sync(device)
    seconds = time.perf_counter() - start
    result.write_text(
        json.dumps({"seconds": seconds, "fingerprint": fingerprint, "rows": len(x),
                    "epochs": epochs, "loop_seconds": seconds,
                    "cpu_seconds": time.process_time() - cpu_start})
    )


def plain_trainer_worker(
    args: argparse.Namespace, overrides: list[str], result: Path,
    trainer_kwargs: Callable[[str], dict[str, Any]],
) -> None:
    """The project's system and data (as `train(cfg)` builds them from `overrides`) in a
    Trainer built from `trainer_kwargs(tmp_dir)` alone, none of the run's callbacks or
    loggers; `FitClock` times the fit."""
    import lightning as L
    from hydra.utils import instantiate

    from fivestep.config.sizes import sized_from_data

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg = compose(overrides, Path(tmp))
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = instantiate(cfg.data)
        cfg.model = sized_from_data(cfg.model, datamodule.shape())
        model = instantiate(cfg.model)
        kwargs = trainer_kwargs(tmp)
        callbacks = [*kwargs.pop("callbacks", []), FitClock(str(result))]
        trainer = L.Trainer(
            accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
            max_epochs=cfg.trainer.max_epochs, default_root_dir=tmp, callbacks=callbacks,
            **kwargs,
        )
        trainer.fit(model, datamodule=datamodule)


def bare_worker(args: argparse.Namespace, overrides: list[str], result: Path) -> None:
    """Lightning's floor: the same system and data, a Trainer with every extra off (no
    validation, logger, checkpoint, progress bar or summary). What is left is the
    framework's own per-epoch cost, which no project code can remove."""
    plain_trainer_worker(args, overrides, result, lambda tmp: {
        "limit_val_batches": 0, "logger": False, "enable_checkpointing": False,
        "enable_progress_bar": False, "enable_model_summary": False,
    })


def stock_worker(args: argparse.Namespace, overrides: list[str], result: Path) -> None:
    """A reference: the same system and data in a Trainer with Lightning's own defaults
    for the features the issue names (validation every epoch, Lightning's TensorBoard
    logger, a best checkpoint on `val/loss` plus `save_last`, written at once, the
    default progress bar and model summary), and none of the project's additions
    (figures, histograms, learning-rate logging, buffered checkpoints, run state)."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    plain_trainer_worker(args, overrides, result, lambda tmp: {
        "num_sanity_val_steps": 0, "log_every_n_steps": 1,
        "logger": TensorBoardLogger(tmp, name="tensorboard"),
        "callbacks": [ModelCheckpoint(dirpath=f"{tmp}/checkpoints", monitor="val/loss",
                                      save_last=True)],
    })


def tabular_raw_worker(args: argparse.Namespace, result: Path, index_select: bool = False) -> None:
    """A careful hand-written loop: the same table in memory, batches sliced from a
    per-epoch permutation, the five steps; no Lightning imported. Rows are gathered
    with `x[rows]`, as the seed and most tutorials write it; `index_select=True`
    gathers them with `x.index_select(0, rows)`, the ~4x faster call on CPU that the
    project's `TensorBatches` uses, for the strict comparison."""
    import numpy as np
    import torch
    from sklearn.datasets import make_classification
    from torch import nn

    from fivestep.models.nets import TwoLayerNet

    # The same rows SyntheticDataModule makes (configs/data/synthetic.yaml defaults).
    x_np, y_np = make_classification(
        n_samples=args.rows, n_features=args.features, n_informative=3, n_redundant=2,
        n_classes=2, random_state=101,
    )
    x = torch.from_numpy(x_np.astype(np.float32))
    y = torch.from_numpy(y_np.astype(np.float32))
    del x_np, y_np
    torch.manual_seed(0)  # the experiment's seed; train(cfg) seeds before building the net
    net = TwoLayerNet(args.features, 8, 4, 1)
    fingerprint = weights_fingerprint(net)
    device = torch.device(args.device)
    net, x, y = net.to(device), x.to(device), y.to(device)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    sync(device)
    start = time.perf_counter()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(device)
    total = torch.zeros((), device=device)
    for i in range(0, len(x), args.batch_size):
        rows = order[i : i + args.batch_size]
        if index_select:
            xb, yb = x.index_select(0, rows), y.index_select(0, rows)
        else:
            xb, yb = x[rows], y[rows]
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(net(xb).squeeze(-1), yb)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    sync(device)
    seconds = time.perf_counter() - start
    result.write_text(
        json.dumps({"seconds": seconds, "fingerprint": fingerprint, "rows": len(x),
                    "epochs": 1, "loop_seconds": seconds,
                    "mean_loss": float(total) / -(-len(x) // args.batch_size)})
    )


# ----------------------------------------------------------------------------- tables


def write_table(path: Path, rows: int, features: int, dtype: str = "float64",
                chunk: int = 1_000_000, seed: int = 0) -> Path:
    """A Parquet file of `rows` x `features` numeric columns `x0..` and a 0/1 `target`
    (a noisy linear rule of the first three columns), written `chunk` rows at a time
    (one row group each): memory stays at one chunk, whatever `rows` is."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    names = [f"x{i}" for i in range(features)]
    schema = pa.schema([*(pa.field(n, dtype) for n in names), pa.field("target", pa.int8())])
    weights = np.array([1.5, -1.0, 0.5])[: min(3, features)]
    # no dictionary encoding (random floats have no repeats: pyarrow would try, then give
    # up, for every column chunk) and snappy: the writer keeps up with the generator
    with pq.ParquetWriter(tmp, schema, use_dictionary=False, compression="snappy") as writer:
        for i, start in enumerate(range(0, rows, chunk)):
            n = min(chunk, rows - start)
            rng = np.random.default_rng([seed, i])
            x = rng.standard_normal((features, n), dtype=np.float32)  # a row per column
            logit = weights @ x[: len(weights)] + rng.standard_normal(n, dtype=np.float32)
            columns = [pa.array(x[j].astype(dtype, copy=False)) for j in range(features)]
            columns.append(pa.array((logit > 0).astype(np.int8)))
            writer.write_table(pa.Table.from_arrays(columns, schema=schema),
                               row_group_size=chunk)
            del x, logit, columns
    tmp.rename(path)
    return path


class AnonPeak:
    """The process's peak RssAnon (anonymous memory, not page cache), sampled every 20 ms
    from /proc/self/status by a daemon thread."""

    def __init__(self) -> None:
        import threading

        self.peak = self.read()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def read() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.read())

    def done(self) -> float:
        self.stop.set()
        self.thread.join()
        return max(self.peak, self.read())


def tables_overrides(args: argparse.Namespace, cache: str, mmap: bool = False) -> list[str]:
    batch = args.mmap_batch_size if mmap else args.batch_size
    # an --override of data.batch_size (with model.step_batch_size, several optimizer steps
    # per Lightning step) replaces the default one: Hydra refuses a key given twice
    sized = any(o.startswith("data.batch_size=") for o in EXTRA_OVERRIDES)
    return [
        # the seed's net and SGD (experiment=two_layer keeps recipe=none on a table too)
        # and standardized columns, as the hand-written script does
        "experiment=two_layer", "data=tabular", f"data.path={args.table}",
        "data.target=target", "data.scaling=standard",
        *([] if sized else [f"data.batch_size={batch}"]),
        "trainer.max_epochs=1",
        "test=false", f"paths.cache_dir={cache}", f"data.mmap={str(mmap).lower()}",
        *EXTRA_OVERRIDES,
    ]


def tables_project_worker(args: argparse.Namespace, result: Path, mmap: bool = False) -> None:
    """`train(cfg)` on the table; the DataModule's `load` (the preparation) is timed."""
    anon = AnonPeak()
    start = time.perf_counter()
    from fivestep.data.tabular import TabularDataModule
    from fivestep.train import train

    timing: dict[str, Any] = {}
    load = TabularDataModule.load

    def timed_load(self: Any) -> Any:
        t = time.perf_counter()
        splits = load(self)
        timing.update(prep_seconds=time.perf_counter() - t, cache_hit=self.cache_hit,
                      memory_mapped=self.memory_mapped, rows=int(splits["train"][0].shape[0]))
        return splits

    TabularDataModule.load = timed_load  # type: ignore[method-assign]
    # the run's TensorBoard writer thread can still add a file while the folder is
    # removed (CI, 2026-12-07: "Directory not empty: 'tensorboard'"): a scratch folder
    # left behind is no failure of the measured run
    with tempfile.TemporaryDirectory(prefix="bench-", ignore_cleanup_errors=True) as tmp:
        cfg = compose(tables_overrides(args, args.cache, mmap), Path(tmp))
        metrics = train(cfg)
    result.write_text(json.dumps({
        **timing, "seconds": time.perf_counter() - start, "rss_anon_peak_mib": anon.done(),
        "val_acc": float(metrics.get("val/acc", float("nan"))),
    }))


def tables_raw_worker(args: argparse.Namespace, result: Path) -> None:
    """The hand-written script: read, float32, seeded 60/20/20 split, standardize on the
    training rows, one epoch of the same net and optimizer, validation accuracy.

    Four straightforward ways of reading and splitting were tried (issue 22; 1M x 20
    float64 rows, fresh processes, a 2-core machine at load 15-30; CPU seconds of read
    + split): pyarrow's columns into a float32 array of one row per column (each copy
    contiguous) with the split gathering rows from its transpose, 2.26 s, kept; the
    former script's columns written into a row-major matrix one strided column at a
    time, 2.08-2.29 s (a tie); the same with an explicit transposed copy, 2.58 s;
    `pd.read_parquet(...).to_numpy(np.float32)`, 2.73 s. docs/performance-small-runs.md."""
    anon = AnonPeak()
    start = time.perf_counter()
    import numpy as np
    import pyarrow.parquet as pq
    import torch
    from torch import nn

    from fivestep.models.nets import TwoLayerNet

    table = pq.read_table(args.table)
    names = [n for n in table.column_names if n != "target"]
    columns = np.empty((len(names), table.num_rows), dtype=np.float32)
    for j, name in enumerate(names):
        columns[j] = table.column(name).to_numpy()
    y = table.column("target").to_numpy().astype(np.float32)
    del table
    x = columns.T  # (rows, features), a view: the split below makes the row-major copies
    n = len(x)
    order = np.random.default_rng(0).permutation(n)
    n_test, n_val = int(0.2 * n), int(0.2 * n)
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    x_train, y_train = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    x_val, y_val = torch.from_numpy(x[val]), torch.from_numpy(y[val])
    del columns, x, order, test
    mean, std = x_train.mean(0), x_train.std(0)
    x_train.sub_(mean).div_(std)
    x_val.sub_(mean).div_(std)
    torch.manual_seed(0)
    net = TwoLayerNet(len(names), 8, 4, 1)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(x_train), args.batch_size):
        rows = perm[i : i + args.batch_size]
        xb, yb = x_train.index_select(0, rows), y_train.index_select(0, rows)
        optimizer.zero_grad()
        loss = loss_fn(net(xb).squeeze(-1), yb)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        correct = sum(
            int(((net(x_val[i : i + 65536]).squeeze(-1) > 0).float() == y_val[i : i + 65536])
                .sum()) for i in range(0, len(x_val), 65536))
    result.write_text(json.dumps({"seconds": time.perf_counter() - start,
                                  "rss_anon_peak_mib": anon.done(), "rows": len(x_train),
                                  "val_acc": correct / max(len(x_val), 1)}))


def tables_prep_worker(args: argparse.Namespace, result: Path) -> None:
    """The preparation alone: read -> tensors, no cache."""
    from fivestep.data.tabular import TabularDataModule

    dm = TabularDataModule(path=args.table, target="target")
    start = time.perf_counter()
    dm.setup()
    result.write_text(json.dumps({"seconds": time.perf_counter() - start}))


def tables_floor_worker(args: argparse.Namespace, result: Path) -> None:
    """The I/O floor: pyarrow reading the same columns into float32, one contiguous copy
    per column (the fastest way found, see `tables_raw_worker`)."""
    import numpy as np
    import pyarrow.parquet as pq

    start = time.perf_counter()
    table = pq.read_table(args.table)
    x = np.empty((table.num_columns, table.num_rows), dtype=np.float32)
    for j, name in enumerate(table.column_names):
        x[j] = table.column(name).to_numpy()
    result.write_text(json.dumps({"seconds": time.perf_counter() - start}))


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def worker_main(args: argparse.Namespace) -> None:
    if args.profile:  # cProfile the worker: `--worker seed:project --profile seed.prof`
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
        try:
            run_worker_side(args)
        finally:
            profile.disable()
            profile.dump_stats(args.profile)
    else:
        run_worker_side(args)


def run_worker_side(args: argparse.Namespace) -> None:
    result = Path(args.result)
    if args.worker == "sweep:raw":
        sweep_raw_worker(args, result)
    elif args.worker == "sweep:floor":
        sweep_floor_worker(args, result)
    elif args.worker in SYSTEM_SIDES:
        sweep_system_worker(args, result)
    elif args.worker == "seed:raw":
        seed_raw_worker(args, result)
    elif args.worker == "seed:project":
        project_worker(seed_overrides(args.device), result)
    elif args.worker == "seed:fast":
        project_worker([*seed_overrides(args.device), *FAST], result)
    elif args.worker == "seed:bare":
        bare_worker(args, seed_overrides(args.device), result)
    elif args.worker == "seed:stock":
        stock_worker(args, seed_overrides(args.device), result)
    elif args.worker == "tabular:bare":
        bare_worker(args, tabular_overrides(args), result)
    elif args.worker == "tabular:stock":
        stock_worker(args, tabular_overrides(args), result)
    elif args.worker == "tabular:raw":
        tabular_raw_worker(args, result)
    elif args.worker == "tabular:raw_index_select":
        tabular_raw_worker(args, result, index_select=True)
    elif args.worker == "tabular:project":
        project_worker(tabular_overrides(args), result)
    elif args.worker == "tables:project":
        tables_project_worker(args, result)
    elif args.worker == "tables:mmap":
        tables_project_worker(args, result, mmap=True)
    elif args.worker == "tables:raw":
        tables_raw_worker(args, result)
    elif args.worker == "tables:prep":
        tables_prep_worker(args, result)
    elif args.worker == "tables:floor":
        tables_floor_worker(args, result)
    elif args.worker == "tabular:steps":
        steps = [f"data.batch_size={args.batch_size * args.steps_per_batch}",
                 f"model.step_batch_size={args.batch_size}"]
        project_worker([*tabular_overrides(args), *steps], result)
    elif args.worker == "tabular:fast":
        project_worker([*tabular_overrides(args), *FAST], result)
    else:
        raise SystemExit(f"unknown worker {args.worker!r}")


# ----------------------------------------------------------------------------- parent


THREADS: int = 1  # set from --threads in main()


def child_env() -> dict[str, str]:
    """The environment of every measured process: the same torch thread count for all."""
    env = dict(os.environ)
    if THREADS > 0:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(THREADS)
    return env


def run_child(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float, int, str]:
    """Run `cmd`; return (wall seconds, peak RSS in MiB, exit status, output tail)."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=child_env()
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-3000:]
    return wall, usage.ru_maxrss / 1024, proc.returncode, tail


def run_worker(args: argparse.Namespace, name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [PY, str(Path(__file__).resolve()), "--worker", name, "--result", str(result),
               "--device", args.device, "--rows", str(args.rows),
               "--features", str(args.features), "--batch-size", str(args.batch_size),
               "--mmap-batch-size", str(args.mmap_batch_size),
               *(["--table", str(args.table)] if args.table else []),
               *(["--cache", str(args.cache)] if args.cache else []),
               "--steps-per-batch", str(args.steps_per_batch),
               "--sweep-trials", str(args.sweep_trials),
               *(f"--override={o}" for o in args.override)]
        wall, rss, code, tail = run_child(cmd)
        if code != 0 or not result.exists():
            raise SystemExit(f"benchmark worker {name} failed (exit {code}):\n{tail}")
        data = json.loads(result.read_text())
    data.update(wall=wall, rss_mib=rss)
    return data


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def paired_ratio(runs: dict[str, list[dict[str, Any]]], key: str, side: str = "project") -> float:
    """Median of side/raw over runs made back to back (they share the machine's load)."""
    return statistics.median(
        p[key] / r[key] for r, p in zip(runs["raw"], runs[side], strict=True)
    )


def paired_case(
    args: argparse.Namespace, case: str, sides: tuple[str, ...] = ("raw", "project")
) -> dict[str, list[dict[str, Any]]]:
    """Alternate raw and project runs so that machine load hits both alike."""
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for i in range(args.repeat):
        for side in sides:
            r = run_worker(args, f"{case}:{side}")
            runs[side].append(r)
            log(f"  {case} {side} #{i + 1}: fit {r['seconds']:.3f} s, "
                f"peak RSS {r['rss_mib']:.0f} MiB, process {r['wall']:.1f} s")
    fps = {round(r["fingerprint"], 4) for side in runs.values() for r in side}
    if len(fps) != 1:
        raise SystemExit(f"{case}: raw and project started from different weights: {fps}")
    return runs


def row(case: str, metric: str, raw: float | None, project: float, ratio: float,
        target_key: str, unit: str) -> dict[str, Any]:
    direction, target, stretch = TARGETS[target_key]
    # a marginal cost at or under zero (the few-trial processes swung by more than the
    # extra trials cost) or not finite measures nothing: never a met target
    measured = math.isfinite(ratio) and ratio > 0 and (raw is None or raw > 0)
    ok = measured and (ratio <= target if direction == "<=" else ratio >= target)
    stretch_ok = measured and (ratio <= stretch if direction == "<=" else ratio >= stretch)
    return {"case": case, "metric": metric, "unit": unit, "raw": raw, "project": project,
            "ratio": ratio, "target": f"{direction} {target:g}x", "ok": ok,
            "stretch": f"{direction} {stretch:g}x", "stretch_ok": stretch_ok}


def bench_seed(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = paired_case(args, "seed", ("raw", "project", "fast", "bare", "stock"))
    raw, proj = median(runs["raw"], "seconds"), median(runs["project"], "seconds")
    bare, stock = median(runs["bare"], "seconds"), median(runs["stock"], "seconds")
    epochs = runs["raw"][0]["epochs"]
    rows = [
        row("seed", f"{epochs}-epoch fit", raw, proj, paired_ratio(runs, "seconds"), "seed", "s"),
        row("seed", "  opt-in: callbacks=fast logger=tensorboard_fast", raw,
            median(runs["fast"], "seconds"), paired_ratio(runs, "seconds", "fast"), "seed", "s"),
        row("seed", "  floor: bare Lightning fit", raw, bare,
            paired_ratio(runs, "seconds", "bare"), "seed", "s"),
        row("seed", "  reference: Lightning defaults", raw, stock,
            paired_ratio(runs, "seconds", "stock"), "seed", "s"),
    ]
    # CPU seconds of the fit (the process's own, all threads): on a machine shared with
    # other jobs, waiting for a core inflates wall time but not this
    cpu_raw = median(runs["raw"], "cpu_seconds")
    for side, label in (("project", "fit CPU time"), ("fast", "  CPU, opt-in fast"),
                        ("bare", "  CPU, floor: bare Lightning"),
                        ("stock", "  CPU, reference: Lightning defaults")):
        rows.append(row("seed", label, cpu_raw, median(runs[side], "cpu_seconds"),
                        paired_ratio(runs, "cpu_seconds", side), "seed", "s"))
    # issue 22's bar: the default fit at most the same system under Lightning's defaults
    rows.append(row("seed", "default fit / Lightning defaults' (wall)", stock, proj,
                    statistics.median(p["seconds"] / s["seconds"] for p, s in
                                      zip(runs["project"], runs["stock"], strict=True)),
                    "seed_reference", "s"))
    rows[0]["runs"] = runs
    return rows


def bench_tabular(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = paired_case(args, "tabular",
                       ("raw", "project", "steps", "fast", "bare", "stock", "raw_index_select"))
    for side in runs.values():
        for r in side:
            r["samples_per_s"] = r["rows"] / r["seconds"]
            r["loop_samples_per_s"] = r["rows"] / r["loop_seconds"]
    bare = median(runs["bare"], "samples_per_s")
    raw_loop = median(runs["raw"], "loop_samples_per_s")
    proj_loop = median(runs["project"], "loop_samples_per_s")
    raw, proj = median(runs["raw"], "samples_per_s"), median(runs["project"], "samples_per_s")
    raw_rss, proj_rss = median(runs["raw"], "rss_mib"), median(runs["project"], "rss_mib")
    rows = [
        row("tabular", "samples/s (1 epoch)", raw, proj, paired_ratio(runs, "samples_per_s"),
            "tabular", "samples/s"),
        row("tabular", "  training epoch only", raw_loop, proj_loop,
            paired_ratio(runs, "loop_samples_per_s"), "tabular", "samples/s"),
        row("tabular", f"  training epoch, {args.steps_per_batch} steps per Lightning step",
            raw_loop, median(runs["steps"], "loop_samples_per_s"),
            paired_ratio(runs, "loop_samples_per_s", "steps"), "tabular", "samples/s"),
        row("tabular", "  opt-in: callbacks=fast logger=tensorboard_fast", raw,
            median(runs["fast"], "samples_per_s"), paired_ratio(runs, "samples_per_s", "fast"),
            "tabular", "samples/s"),
        row("tabular", "  floor: bare Lightning", raw, bare,
            paired_ratio(runs, "samples_per_s", "bare"), "tabular", "samples/s"),
        row("tabular", "  reference: Lightning defaults", raw,
            median(runs["stock"], "samples_per_s"),
            paired_ratio(runs, "samples_per_s", "stock"), "tabular", "samples/s"),
        row("tabular", "  strict: raw loop with index_select", median(
            runs["raw_index_select"], "samples_per_s"), proj_loop, statistics.median(
            p["loop_samples_per_s"] / r["samples_per_s"]
            for r, p in zip(runs["raw_index_select"], runs["project"], strict=True)),
            "tabular", "samples/s"),
        row("tabular", f"  strict, {args.steps_per_batch} steps per Lightning step", median(
            runs["raw_index_select"], "samples_per_s"), median(runs["steps"], "loop_samples_per_s"),
            statistics.median(
                p["loop_samples_per_s"] / r["samples_per_s"]
                for r, p in zip(runs["raw_index_select"], runs["steps"], strict=True)),
            "tabular", "samples/s"),
        row("tabular", "peak RSS", raw_rss, proj_rss, paired_ratio(runs, "rss_mib"),
            "tabular_rss", "MiB"),
    ]
    rows[0]["runs"] = runs
    return rows


def bench_startup(args: argparse.Namespace) -> list[dict[str, Any]]:
    floor, train = [], []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for i in range(args.repeat):
            wall, _, code, tail = run_child([PY, "-c", "import lightning"])
            floor.append(wall)
            cmd = [PY, "train.py", "experiment=two_layer", "trainer.max_epochs=1",
                   f"paths.log_dir={tmp}"]
            if args.device == "cuda":
                cmd += ["trainer=gpu", "data.on_device=true"]
            wall2, _, code2, tail2 = run_child(cmd)
            if code or code2:
                raise SystemExit(f"startup run failed:\n{tail}\n{tail2}")
            train.append(wall2)
            log(f"  startup #{i + 1}: import lightning {wall:.2f} s, train.py {wall2:.2f} s")
    raw, proj = statistics.median(floor), statistics.median(train)
    ratio = statistics.median(t / f for f, t in zip(floor, train, strict=True))
    r = row("startup", "train.py, 1 epoch", raw, proj, ratio, "startup", "s")
    r["runs"] = {"import_lightning": floor, "train_py": train}
    return [r]


def bench_test_suite(args: argparse.Namespace) -> list[dict[str, Any]]:
    walls = []
    for i in range(args.suite_repeat):
        wall, _, code, tail = run_child([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
        if code:
            raise SystemExit(f"the default pytest run failed:\n{tail}")
        walls.append(wall)
        summary = tail.strip().splitlines()[-1] if tail.strip() else ""
        log(f"  test-suite #{i + 1}: {wall:.1f} s ({summary})")
    proj = statistics.median(walls)
    r = row("test-suite", "default pytest", SUITE_BUDGET_S, proj, proj / SUITE_BUDGET_S,
            "test-suite", "s")
    r["runs"] = walls
    return [r]


def sizes(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v.strip()]


def bench_tables(args: argparse.Namespace) -> list[dict[str, Any]]:
    import shutil

    out: list[dict[str, Any]] = []
    table_dir = Path(args.table_dir)
    base = write_table(table_dir / f"table-1000x{args.features}.parquet", 1000, args.features)
    counts = sizes(args.table_rows)
    for n in counts:
        log(f"  writing {n:,} rows ...")
        path = write_table(table_dir / f"table-{n}x{args.features}.parquet", n, args.features)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in (
            "raw", "project", "raw_base", "project_base", "prep", "floor", "hit")}
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench-cache-", dir=table_dir) as cache:
                for key, worker, table in (("raw_base", "tables:raw", base),
                                           ("project_base", "tables:project", base),
                                           ("raw", "tables:raw", path),
                                           ("project", "tables:project", path),
                                           ("hit", "tables:project", path),
                                           ("prep", "tables:prep", path),
                                           ("floor", "tables:floor", path)):
                    sub = argparse.Namespace(**{**vars(args), "table": str(table),
                                                "cache": f"{cache}/{key}" if key not in (
                                                    "hit",) else f"{cache}/project"})
                    r = run_worker(sub, worker)
                    runs[key].append(r)
                    log(f"  tables {n:,} {key} #{i + 1}: {r['seconds']:.2f} s, process "
                        f"{r['wall']:.1f} s, peak RSS {r['rss_mib']:.0f} MiB"
                        + (f", prep {r['prep_seconds']:.2f} s" if "prep_seconds" in r else ""))
                    if key == "hit" and not r.get("cache_hit"):
                        raise SystemExit("tables: the second run did not hit the cache")
        marginal = {side: [r["wall"] - b["wall"] for r, b in zip(
            runs[side], runs[f"{side}_base"], strict=True)] for side in ("raw", "project")}
        ratio = statistics.median(p / r for p, r in zip(marginal["project"], marginal["raw"],
                                                        strict=True))
        case = f"tables {n / 1e6:g}M"
        out.append(row(case, "end to end (marginal over 1,000 rows)",
                       statistics.median(marginal["raw"]), statistics.median(marginal["project"]),
                       ratio, "tables_time", "s"))
        out[-1]["runs"] = runs
        out.append(row(case, "  peak RSS", median(runs["raw"], "rss_mib"),
                       median(runs["project"], "rss_mib"), paired_ratio(runs, "rss_mib"),
                       "tables_rss", "MiB"))
        prep, floor = median(runs["prep"], "seconds"), median(runs["floor"], "seconds")
        out.append(row(case, "  preparation vs I/O floor", floor, prep,
                       statistics.median(p["seconds"] / f["seconds"] for p, f in zip(
                           runs["prep"], runs["floor"], strict=True)), "tables_prep", "s"))
        share = statistics.median(r["prep_seconds"] / r["wall"] for r in runs["hit"])
        out.append(row(case, "  cache hit: share of the run preparing", None, share, share,
                       "tables_cache", "share"))
        if n == max(counts):
            rss = median(runs["project"], "rss_mib")
            out.append(row(case, "  peak RSS against 4 GiB", GIB_MIB, rss, rss / GIB_MIB,
                           "tables_4gb", "MiB"))
        if not args.keep_tables:
            path.unlink(missing_ok=True)
    if not args.keep_tables:
        base.unlink(missing_ok=True)
        shutil.rmtree(table_dir / "cache", ignore_errors=True)
    return out


def bench_mmap(args: argparse.Namespace) -> list[dict[str, Any]]:
    import shutil

    table_dir = Path(args.table_dir)
    n = int(args.mmap_rows)
    log(f"  writing {n:,} float32 rows ...")
    path = write_table(table_dir / f"table-{n}x{args.features}-f32.parquet", n, args.features,
                       dtype="float32")
    cache = table_dir / "mmap-cache"
    shutil.rmtree(cache, ignore_errors=True)
    try:
        sub = argparse.Namespace(**{**vars(args), "table": str(path), "cache": str(cache)})
        r = run_worker(sub, "tables:mmap")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if not args.keep_tables:
            path.unlink(missing_ok=True)
    if not r.get("memory_mapped"):
        raise SystemExit("mmap: the run did not train memory-mapped")
    log(f"  mmap {n:,}: RssAnon peak {r['rss_anon_peak_mib']:.0f} MiB, peak RSS "
        f"{r['rss_mib']:.0f} MiB (page cache of the mapped file included), prep "
        f"{r['prep_seconds']:.1f} s, run {r['seconds']:.1f} s")
    case = f"mmap {n / 1e6:g}M"
    out = row(case, "peak RssAnon against 4 GiB", GIB_MIB, r["rss_anon_peak_mib"],
              r["rss_anon_peak_mib"] / GIB_MIB, "mmap_anon", "MiB")
    out["runs"] = r
    return [out]


def bench_panel(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The default command on the real tables of `scripts/make_panel.py`, beside the
    baselines on the same split (`scripts/panel.py`: its own table, not a ratio row)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import panel

    names = [n.strip() for n in args.panel_tables.split(",")] if args.panel_tables else None
    panel.run_panel(names, args.override, Path(args.out).with_name("panel.json"),
                    args.panel_seeds)
    return []


# ----------------------------------------------------------------------------- sweep
# Issue 22: many small models at the cost of one (fivestep.models.members).

SWEEP_LR = "model.optimizer.lr=tag(log, interval(0.001, 1.0))"


def sweep_command(tmp: str, trials: int, members: bool, device: str) -> list[str]:
    """`train.py -m` over the learning rate of `two_layer` (TPE, 200 epochs, no logger,
    no pruning); with `members`, all `trials` asked at once and trained as members."""
    extra = ["trainer=gpu", "data.on_device=true"] if device == "cuda" else []
    return [PY, "train.py", "-m", "experiment=two_layer", "hydra/sweeper=optuna",
            "hydra/sweeper/pruner=none", "optimized_metric=val/acc_best", SWEEP_LR,
            f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.n_jobs={trials if members else 1}",
            f"hydra.sweeper.members={str(members).lower()}", "logger=[]",
            "callbacks.progress_bar.refresh_rate=0", f"paths.log_dir={tmp}", *extra]


def sweep_raw_worker(args: argparse.Namespace, result: Path) -> None:
    """A hand-written Optuna loop: TPE over the learning rate (the sweeper's sampler
    settings), each trial the seed's five steps on the full training batch for 200
    epochs with the validation accuracy after each epoch; the objective is its best.
    The rows and initial weights are `two_layer`'s."""
    import lightning as L
    import optuna
    import torch
    from hydra.utils import instantiate

    from fivestep.config.sizes import sized_from_data

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg = compose(seed_overrides(args.device), Path(tmp))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    datamodule.setup("fit")
    device = torch.device(args.device)
    x, y = (t.to(device) for t in datamodule.splits["train"])
    xv, yv = (t.to(device) for t in datamodule.splits["val"])
    epochs = cfg.trainer.max_epochs

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 0.001, 1.0, log=True)
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        # the net alone, as `System` gets it (the same initial weights): building the
        # whole System (its metrics) would add ~12 ms a trial to the loop's side
        net = instantiate(cfg.model.net).to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        best = torch.zeros((), device=device)
        for _ in range(epochs):
            optimizer.zero_grad()
            loss_fn(net(x).squeeze(-1), y).backward()
            optimizer.step()
            with torch.no_grad():
                best = torch.maximum(best, ((net(xv).squeeze(-1) > 0) == (yv > 0.5)).float().mean())
        return float(best)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=123, n_startup_trials=5))
    start = time.perf_counter()
    study.optimize(objective, n_trials=args.sweep_trials)
    result.write_text(json.dumps({"seconds": time.perf_counter() - start}))


def sweep_floor_worker(args: argparse.Namespace, result: Path) -> None:
    """The least a trial's fit can cost under stock Lightning while doing the loop's
    work: the seed's net and `two_layer`'s data (the project's datamodule), SGD, one
    full-batch step an epoch and the validation accuracy after each, in a LightningModule
    that logs nothing, in a Trainer with no logger, checkpoint, bar, summary or sanity
    check. Each trial builds its Trainer, as a job does; the median of
    `--sweep-trials` fits after one to warm up."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from fivestep.config.sizes import sized_from_data

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        cfg = compose(seed_overrides(args.device), Path(tmp))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())

    class Floor(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = instantiate(cfg.model.net)
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
            self.best = torch.zeros(())

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return self.loss_fn(self.net(x).squeeze(-1), y.float())

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            acc = ((self.net(x).squeeze(-1) > 0) == (y > 0.5)).float().mean()
            self.best = torch.maximum(self.best, acc)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    seconds = []
    for _ in range(args.sweep_trials + 1):
        start = time.perf_counter()
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        trainer = L.Trainer(
            accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
            max_epochs=cfg.trainer.max_epochs, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        )
        trainer.fit(Floor(), datamodule=datamodule)
        seconds.append(time.perf_counter() - start)
    result.write_text(json.dumps({"seconds": statistics.median(seconds[1:])}))


# What a `two_layer` trial's own run costs without Hydra's job around it, stripped of
# the callbacks a sweep trial could do without, and (an instrument, not the project)
# with Lightning's `self.log` made free: `_ResultMetric.to`, which copies each logged
# key's metadata on every call (~0.6 ms a key and epoch), replaced by a no-op for this
# process only. It says how far a trial that keeps the System's per-epoch metrics is
# from the 10x bar once everything it could drop is dropped.
LEAN_TRIAL = ["~callbacks.probability_chart", "~callbacks.parameter_histograms",
              "~callbacks.loss_curves", "~callbacks.evaluation_figures",
              "~callbacks.last_checkpoint", "~callbacks.model_summary",
              "~callbacks.learning_rate"]
# worker: (overrides, Lightning's logging made free, the row's label)
SYSTEM_SIDES = {
    "sweep:system": ([], False, "the System's run in-process (train(), no job)"),
    "sweep:system_lean": (LEAN_TRIAL, False, "the same, no figures/last.ckpt/summary/lr monitor"),
    "sweep:system_lean_nolog": (LEAN_TRIAL, True,
                                "the same, Lightning's self.log made free (instrument)"),
}


def sweep_system_worker(args: argparse.Namespace, result: Path) -> None:
    """`train()` of `two_layer` (200 epochs, no logger, no bar) in this process, without
    Hydra's job: the default callbacks (`sweep:system`), without the figures,
    `last.ckpt`, model summary and learning-rate monitor (`sweep:system_lean`), and the
    same with Lightning's `self.log` made free (`sweep:system_lean_nolog`, patched here
    only). The median of `--sweep-trials` runs after one to warm up."""
    import logging

    from fivestep.train import train

    extra, free_logging, _ = SYSTEM_SIDES[args.worker]
    if free_logging:
        from lightning.pytorch.trainer.connectors.logger_connector import result as results

        results._ResultMetric.to = lambda self, *a, **k: self
    logging.disable(logging.INFO)
    seconds, metrics = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for i in range(args.sweep_trials + 1):
            cfg = compose([*seed_overrides(args.device), "logger=[]",
                           "callbacks.progress_bar.refresh_rate=0", *extra], Path(tmp) / str(i))
            start = time.perf_counter()
            metrics = train(cfg)
            seconds.append(time.perf_counter() - start)
    result.write_text(json.dumps({"seconds": statistics.median(seconds[1:]), "metrics": metrics}))


def marginal(walls: dict[int, list[float]]) -> float:
    """Median over repetitions of (wall(many trials) - wall(few)) / (many - few)."""
    few, many = sorted(walls)
    return statistics.median((b - a) / (many - few)
                             for a, b in zip(walls[few], walls[many], strict=True))


def bench_sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Marginal cost of a `two_layer` trial: hand-written Optuna loop, the sweeper one
    trial per job, the sweeper with members; and a K-seed ensemble against one run."""
    counts = {"raw": (2, 2 + args.sweep_extra), "alone": (2, 2 + args.sweep_extra_alone),
              "job": (2, 2 + args.sweep_extra_alone), "members": (2, 2 + args.sweep_extra)}
    walls: dict[str, dict[int, list[float]]] = {s: {n: [] for n in c} for s, c in counts.items()}
    ensemble: dict[str, list[float]] = {"one": [], "members": []}
    floor_fits: list[float] = []
    systems: dict[str, list[float]] = {name: [] for name in SYSTEM_SIDES}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for i in range(args.repeat):
            for side, trial_counts in counts.items():
                for n in trial_counts:
                    if side == "raw":
                        cmd = [PY, str(Path(__file__).resolve()), "--worker", "sweep:raw",
                               "--result", f"{tmp}/raw.json", "--device", args.device,
                               "--sweep-trials", str(n)]
                    else:  # "job": one job per trial, of one epoch: what a job costs
                        cmd = sweep_command(f"{tmp}/{side}{n}_{i}", n, side == "members",
                                            args.device)
                        cmd += ["trainer.max_epochs=1"] if side == "job" else []
                    wall, _, code, tail = run_child(cmd)
                    if code:
                        raise SystemExit(f"sweep {side} ({n} trials) failed:\n{tail}")
                    walls[side][n].append(wall)
                    log(f"  sweep {side} {n} trials #{i + 1}: {wall:.1f} s")
            floor = run_worker(argparse.Namespace(**{**vars(args), "sweep_trials": 5}),
                               "sweep:floor")
            floor_fits.append(floor["seconds"])
            log(f"  sweep floor fit #{i + 1}: {floor['seconds']:.3f} s")
            for name in SYSTEM_SIDES:
                done = run_worker(argparse.Namespace(**{**vars(args), "sweep_trials": 3}), name)
                systems[name].append(done["seconds"])
                log(f"  {name} #{i + 1}: {done['seconds']:.3f} s")
            for side, extra in (("one", []), ("members", [f"+model.members={args.ensemble}"])):
                cmd = [PY, "train.py", "experiment=two_layer", "logger=[]",
                       "callbacks.progress_bar.refresh_rate=0", f"paths.log_dir={tmp}/e{i}",
                       *(["trainer=gpu", "data.on_device=true"] if args.device == "cuda" else []),
                       *extra]
                wall, _, code, tail = run_child(cmd)
                if code:
                    raise SystemExit(f"ensemble {side} failed:\n{tail}")
                ensemble[side].append(wall)
                log(f"  ensemble {side} #{i + 1}: {wall:.1f} s")
    raw, alone, job, members = (marginal(walls[s]) for s in ("raw", "alone", "job", "members"))
    fit = statistics.median(floor_fits)
    rows = [
        row("sweep", "trial, one job each", raw, alone, alone / raw, "sweep_alone", "s"),
        row("sweep", "  floor: the job, at 1 epoch", raw, job, job / raw, "sweep_floor", "s"),
        row("sweep", "  floor: stock Lightning fit, loop's work", raw, fit, fit / raw,
            "sweep_floor", "s"),
        row("sweep", "  floor: the two (a job + 199 epochs)", raw, job + fit * 199 / 200,
            (job + fit * 199 / 200) / raw, "sweep_floor", "s"),
        *(row("sweep", f"  {label}", raw, cost, cost / raw, "sweep_floor", "s")
          for name, (_, _, label) in SYSTEM_SIDES.items()
          for cost in [statistics.median(systems[name])]),
        row("sweep", f"trial, members ({counts['members'][1]} per run)", raw, members,
            members / raw, "sweep_members", "s"),
        row("sweep", f"{args.ensemble}-seed ensemble vs one run",
            statistics.median(ensemble["one"]), statistics.median(ensemble["members"]),
            statistics.median(
                m / o for o, m in zip(ensemble["one"], ensemble["members"], strict=True)),
            "sweep_ensemble", "s"),
    ]
    rows[0]["runs"] = {"walls": {s: {str(n): w for n, w in v.items()} for s, v in walls.items()},
                       "ensemble": ensemble, "floor_fits": floor_fits,
                       "systems": systems}
    return rows


def folds_command(tmp: str, side: str, folds: int, device: str) -> list[str]:
    """`train.py` on `breast_cancer` with `data.folds`: one fold (`one`), every fold as a
    job of a multirun one after another (`sequential`) or as members of one run
    (`members`). No logger and no table baselines on any side (a member run has neither)."""
    multirun = ["-m"] if side == "sequential" else []
    fold = {"one": "data.fold=0", "sequential": f"data.fold=range({folds})",
            "members": "data.fold=members"}[side]
    extra = ["trainer=gpu", "data.on_device=true"] if device == "cuda" else []
    return [PY, "train.py", *multirun, "experiment=breast_cancer", f"data.folds={folds}", fold,
            "logger=[]", "baselines.models=[]", "callbacks.progress_bar.refresh_rate=0",
            f"paths.log_dir={tmp}", *extra]


def bench_folds(args: argparse.Namespace) -> list[dict[str, Any]]:
    """`breast_cancer` (150 epochs, full batch) cross-validated over `--folds` folds: as
    members of one run, and as one job per fold one after another, each against one
    fold's run (process wall times, sides alternated in each repetition)."""
    walls: dict[str, list[float]] = {"one": [], "members": [], "sequential": []}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for i in range(args.repeat):
            for side in walls:
                wall, _, code, tail = run_child(
                    folds_command(f"{tmp}/{side}{i}", side, args.folds, args.device))
                if code:
                    raise SystemExit(f"folds {side} failed:\n{tail}")
                walls[side].append(wall)
                log(f"  folds {side} #{i + 1}: {wall:.1f} s")
    one = statistics.median(walls["one"])

    def ratio(side: str) -> float:
        return statistics.median(s / o for o, s in zip(walls["one"], walls[side], strict=True))

    rows = [
        row("folds", f"{args.folds} folds as members vs 1 fold", one,
            statistics.median(walls["members"]), ratio("members"), "folds_members", "s"),
        row("folds", f"{args.folds} folds one after another vs 1 fold", one,
            statistics.median(walls["sequential"]), ratio("sequential"), "folds_sequential", "s"),
    ]
    rows[0]["runs"] = walls
    return rows


CASES = {"seed": bench_seed, "tabular": bench_tabular, "startup": bench_startup,
         "test-suite": bench_test_suite, "tables": bench_tables, "mmap": bench_mmap,
         "panel": bench_panel,
         "sweep": bench_sweep, "folds": bench_folds}


def machine(device: str) -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = subprocess.run(
        [PY, "-c", "import torch, lightning; print(torch.__version__, lightning.__version__)"],
        capture_output=True, text=True,
    ).stdout.split()
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": THREADS or "default",
            "load_avg_1_5_15": list(os.getloadavg()),
            "python": platform.python_version(), "torch": versions[0] if versions else "?",
            "lightning": versions[1] if len(versions) > 1 else "?", "device": device,
            "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "samples/s":
        return f"{value:,.0f}"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "share":
        return f"{value:.1%}"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def table(rows: list[dict[str, Any]]) -> str:
    head = ["case", "measure", "raw", "project", "project/raw", "target", "ok"]
    body = [
        [r["case"], r["metric"], fmt(r["raw"], r["unit"]), fmt(r["project"], r["unit"]),
         f"{r['ratio']:.2f}x", r["target"],
         ("yes" if r["ok"] else "NO") + (" (stretch too)" if r["stretch_ok"] and r["ok"] else "")]
        for r in rows
    ]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from panel import markdown_table

    return markdown_table(head, body)


def panel_seeds(text: str) -> list[int]:
    """`--panel-seeds`: `scripts/panel.py`'s own reading of `--seeds` (imported only then)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from panel import parse_seeds

    return parse_seeds(text)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="seed,tabular,startup,test-suite",
                   help="comma-separated subset of: " + ", ".join(CASES))
    p.add_argument("--repeat", type=int, default=3, help="repetitions per side (median)")
    p.add_argument("--suite-repeat", type=int, default=1, help="repetitions of the pytest run")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (OMP_NUM_THREADS) of every measured process, both sides; "
                   "0 = torch's default. On a shared machine, threads spinning against other "
                   "jobs swamp the measurement")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: trainer=gpu (bf16-mixed) data.on_device=true; raw in bf16 autocast")
    p.add_argument("--rows", type=int, default=1_000_000, help="tabular rows")
    p.add_argument("--features", type=int, default=20, help="tabular features")
    p.add_argument("--batch-size", type=int, default=1024, help="tabular batch size")
    p.add_argument("--table-rows", default="1000000,5000000,20000000",
                   help="tables: comma-separated row counts (e.g. 1e6,5e6)")
    p.add_argument("--mmap-rows", default="100000000", help="mmap: rows of the float32 table")
    p.add_argument("--mmap-batch-size", type=int, default=4096, help="mmap: batch size")
    p.add_argument("--table-dir", default=str(Path(tempfile.gettempdir()) / "fivestep-tables"),
                   help="where the generated tables and caches go (deleted after the run)")
    p.add_argument("--keep-tables", action="store_true", help="keep the generated tables")
    p.add_argument("--panel-tables", help="panel: comma-separated subset of the tables of "
                   "scripts/make_panel.py (default: all)")
    p.add_argument("--panel-seeds", type=panel_seeds,
                   help="panel: comma-separated seeds, each table once per seed, reported as "
                   "the mean over them (default: one run with the configs' seed)")
    p.add_argument("--table", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--steps-per-batch", type=int, default=8,
                   help="tabular 'steps' side: data.batch_size=N*batch model.step_batch_size=batch")
    p.add_argument("--out", default=str(ROOT / "logs" / "bench" / "benchmark.json"),
                   help="where the JSON table goes")
    p.add_argument("--override", action="append", default=[],
                   help="a Hydra override for the seed/tabular runs (repeatable), e.g. "
                   "--override='~callbacks.probability_chart' to price one feature")
    p.add_argument("--sweep-extra", type=int, default=64,
                   help="sweep: trials beyond 2 for the marginal cost (raw and members sides); "
                   "64 rather than 32: the processes' start swings by seconds on a shared "
                   "machine, more than 32 member trials cost")
    p.add_argument("--sweep-extra-alone", type=int, default=4,
                   help="sweep: trials beyond 2 for the one-job-per-trial side (~5 s each)")
    p.add_argument("--sweep-trials", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--folds", type=int, default=5, help="folds: data.folds of breast_cancer")
    p.add_argument("--ensemble", type=int, default=8, help="sweep: members of the seed ensemble")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--profile", help="with --worker: write cProfile stats to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    EXTRA_OVERRIDES.extend(args.override)
    if args.worker:
        worker_main(args)
        return
    global THREADS
    THREADS = args.threads
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise SystemExit(f"error: unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    info = machine(args.device)
    log(f"machine: {info}")
    rows: list[dict[str, Any]] = []
    for case in cases:
        log(f"{case} ...")
        rows += CASES[case](args)
    info["load_avg_after"] = list(os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "repeat": args.repeat, "overrides": args.override,
                               "rows": rows}, indent=1))
    print(f"\n{info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
          f"lightning {info['lightning']}, device {args.device}, torch threads {info['threads']}, "
          f"load {info['load_avg_1_5_15']}; medians of {args.repeat}, ratio = median of paired "
          "runs")
    print(table(rows))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
