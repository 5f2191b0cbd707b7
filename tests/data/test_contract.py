"""Every DataModule of `configs/data/` keeps the contract of `fivestep.data.base`:
tables (`x: (rows, n_features)`) and data of other shapes (`data=digits`' images)."""

import math

import pandas as pd
import pytest
import torch

from fivestep.config.instantiate import build
from fivestep.data.base import SPLITS, DataShape, InGraph, InMemoryDataModule
from fivestep.models.task import TASKS

from ..conftest import CONFIGS, ROOT

EXTRA = {"tabular": [f"data.path={ROOT / 'data' / 'csv_example.csv'}", "data.target=renewed"]}
OPTIONS = sorted(p.stem for p in (CONFIGS / "data").glob("*.yaml"))


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
@pytest.mark.parametrize("option", OPTIONS)
def test_datamodule_keeps_the_contract(option, make_cfg, tmp_path):
    cfg = make_cfg(f"data={option}", *EXTRA.get(option, []))
    dm = build(cfg.data)
    assert isinstance(dm, InMemoryDataModule)

    shape = dm.shape()  # reads the data once ...
    assert isinstance(shape, DataShape) and shape.task in TASKS
    splits = dm.splits
    dm.setup("fit")  # ... and Lightning's setup reuses it
    assert dm.splits is splits
    assert set(splits) == set(SPLITS)

    x_all, y_all = splits["all"]
    assert x_all.dtype == torch.float32 and x_all.shape[1:] == shape.input_shape
    assert shape.input_shape == tuple(dm.input_shape)
    assert math.prod(shape.input_shape) == shape.n_features
    assert y_all.dtype == (torch.int64 if shape.task == "multiclass" else torch.float32)
    assert sum(len(splits[s][0]) for s in ("train", "val", "test")) == len(x_all)
    for name in ("train", "val", "test"):
        x, y = splits[name]
        assert x.shape[1:] == shape.input_shape and len(y) == len(x)
    if shape.task == "regression":
        assert shape.num_classes is None and dm.label_names is None
    else:
        assert len(dm.label_names) == shape.num_classes
        assert set(y_all.long().tolist()) <= set(range(shape.num_classes))

    graph = dm.in_graph()  # column-wise preprocessing of a table, or None
    if len(shape.input_shape) == 1:
        assert len(dm.feature_names) == shape.n_features
    if graph is not None:
        assert isinstance(graph, InGraph) and len(shape.input_shape) == 1
        assert len(graph.median) == len(graph.shift) == len(graph.scale) <= shape.n_features
    if dm.raw_rows:  # raw rows are table rows
        assert len(shape.input_shape) == 1
    y = torch.arange(3, dtype=torch.float32)
    assert dm.inverse_target(y).shape == y.shape

    state = dm.state_dict()  # plain data: loads without pickle
    torch.save(state, tmp_path / "state.pt")
    reloaded = build(cfg.data)
    reloaded.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    if dm.raw_rows:  # the fitted preprocessing alone turns raw rows into the same x
        assert reloaded.input_columns == dm.input_columns
        raw = _raw_rows(dm, option)
        x_raw = reloaded.transform(raw)
        rows = getattr(dm, "source_rows", None)  # a table's "all" is ordered by split
        if rows is not None:
            x_raw = x_raw[torch.from_numpy(rows.astype("int64"))]
        torch.testing.assert_close(x_raw, x_all, rtol=0, atol=1e-6)


def _raw_rows(dm: InMemoryDataModule, option: str) -> pd.DataFrame:
    if option == "tabular":
        return pd.read_csv(ROOT / "data" / "csv_example.csv")
    return dm._load()


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_evaluation_batches_have_their_own_size_and_give_the_same_metrics(make_cfg):
    """`data.eval_batch_size` sizes validation/test/predict batches (training keeps
    `data.batch_size`); the validation metrics equal batch-by-batch ones to rounding."""
    import lightning as L

    from fivestep.config.sizes import sized_from_data

    results = {}
    for eval_rows in (None, 70):
        cfg = make_cfg("data=breast_cancer", "data.batch_size=16",
                       f"data.eval_batch_size={'null' if eval_rows is None else eval_rows}")
        dm = build(cfg.data)
        cfg.model = sized_from_data(cfg.model, dm.shape())
        torch.manual_seed(0)
        model = build(cfg.model)
        trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                            enable_model_summary=False)
        results[eval_rows] = trainer.validate(model, datamodule=dm, verbose=False)[0]
        val_rows = len(dm.splits["val"][0])  # 114 of 569
        assert len(dm.train_dataloader()) == -(-len(dm.splits["train"][0]) // 16)
        assert len(dm.val_dataloader()) == -(-val_rows // (eval_rows or 16))
        assert len(dm.predict_dataloader()) == -(-len(dm.splits["all"][0]) // (eval_rows or 16))
    assert results[70].keys() == results[None].keys()
    assert results[70] == pytest.approx(results[None], abs=1e-6)
