"""`predict(cfg)`: raw rows in (CSV or Parquet, in chunks), one prediction per row out."""

import numpy as np
import pandas as pd
import pytest
import torch

from fivestep.checkpointing.reading import restore
from fivestep.errors import UserError
from fivestep.export import Standalone, raw_input, standalone
from fivestep.predict import predict

from ..trained import table_frame


def _new_rows() -> pd.DataFrame:
    rows = table_frame(rows=25, seed=7).drop(columns="label")
    rows.insert(0, "customer", [f"c{i:03d}" for i in range(25)])
    rows["note"] = "extra column"
    rows.loc[3, "color"] = "purple"  # a level never seen in training
    rows.loc[4, "a"] = np.nan  # a missing number: imputed with the training median
    return rows


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_predict_streams_chunks_one_row_per_input_row(table_run, make_cfg, tmp_path):
    ckpt = table_run / "checkpoints" / "last.ckpt"
    rows = _new_rows()
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet")

    outputs = {}
    for suffix in ("csv", "parquet"):
        cfg = make_cfg(
            f"ckpt_path={ckpt}", f"input={tmp_path}/rows.{suffix}",
            f"output={tmp_path}/from_{suffix}.csv", "id_column=customer", "chunk_size=7",
            config_name="predict",
        )
        with pytest.warns(UserWarning, match=r"ignoring columns .*'note'"):
            outputs[suffix] = pd.read_csv(predict(cfg))
    out = outputs["csv"]
    pd.testing.assert_frame_equal(out, outputs["parquet"])
    assert list(out.columns) == ["customer", "prediction", "probability_no", "probability_yes"]
    assert out["customer"].tolist() == rows["customer"].tolist()

    # The same rows in one piece, through the checkpoint's model.
    restored = restore(ckpt, make_cfg(config_name="predict"), "test")
    with pytest.warns(UserWarning):
        x = restored.datamodule.transform(rows)
    with torch.no_grad():
        p_yes = restored.model.predict_step(x, 0).numpy()
    np.testing.assert_allclose(out["probability_yes"], p_yes, atol=1e-6)
    np.testing.assert_allclose(out["probability_no"] + out["probability_yes"], 1, atol=1e-6)
    assert out["prediction"].tolist() == np.where(p_yes >= 0.5, "yes", "no").tolist()
    assert x[3, -3:].tolist() == [0.0, 0.0, 0.0]  # the unseen level: no one-hot bit


def test_exported_torchscript_of_a_table_matches_predict(table_run, make_cfg, tmp_path):
    """The in-graph preprocessing (imputation, standardization) equals the DataModule's."""
    ckpt = table_run / "checkpoints" / "last.ckpt"
    restored = restore(ckpt, make_cfg(config_name="predict"), "test")
    module, spec = standalone(restored)
    assert isinstance(module, Standalone)
    assert spec["input"]["columns"] == ["a", "b", "color=blue", "color=green", "color=red"]
    rows = _new_rows().drop(columns=["customer", "note"])
    path = tmp_path / "model.pt"
    x = raw_input(restored.datamodule, rows)
    assert torch.isnan(x[4, 0])
    torch.jit.trace(module, (x,), check_trace=False).save(str(path))
    got = torch.jit.load(str(path))(x).detach()
    with torch.no_grad():
        expected = restored.model.predict_step(restored.datamodule.transform(rows), 0)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_bad_predict_inputs_are_one_clear_error_and_write_nothing(
    table_run, two_layer_run, make_cfg, tmp_path
):
    ckpt = table_run / "checkpoints" / "last.ckpt"
    out = tmp_path / "out.csv"

    def run(rows: pd.DataFrame | None, *overrides: str) -> None:
        if rows is not None:
            rows.to_csv(tmp_path / "rows.csv", index=False)
        overrides = (f"ckpt_path={ckpt}", f"input={tmp_path}/rows.csv", f"output={out}", *overrides)
        predict(make_cfg(*overrides, config_name="predict"))

    rows = _new_rows()
    with pytest.raises(UserError, match=r"rows\.csv' lacks feature columns .*: b, color;"):
        run(rows.drop(columns=["b", "color"]))
    with pytest.raises(UserError, match=r"id_column='id' is not a column"):
        run(rows, "id_column=id")
    with pytest.raises(UserError, match=r"no such file"):
        run(None, f"input={tmp_path}/none.csv")
    with pytest.raises(UserError, match=r"no saved preprocessing for raw rows"):
        run(rows, f"ckpt_path={two_layer_run / 'checkpoints' / 'last.ckpt'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]  # no output, no temp

    out.write_text("keep me")
    with pytest.raises(UserError, match="exists; choose another output or add overwrite=true"):
        run(rows)
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_predict_and_export_for_multiclass_and_regression(task):
    """Class names and probabilities for K classes; values back in the target's units."""
    from functools import partial

    from fivestep.checkpointing.reading import Restored
    from fivestep.data.tabular import TabularDataModule
    from fivestep.models.nets import MLP
    from fivestep.models.system import System
    from fivestep.predict import predict_frame

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 3)) * [1, 10, 100] + [0, 5, 50], columns=list("abc"))
    score = frame["a"] + frame["b"] / 10 - frame["c"] / 100
    if task == "multiclass":
        frame["y"] = np.array(["low", "mid", "high"])[np.digitize(score, [-0.5, 0.5])]
    else:
        frame["y"] = 1000 + 300 * score  # far from mean 0 / std 1
    dm = TabularDataModule(frame=frame, target="y", task=task, target_scaling="standard")
    dm.setup("fit")
    torch.manual_seed(0)
    k = dm.num_classes if task == "multiclass" else 1
    model = System(MLP(3, [8], k), partial(torch.optim.SGD, lr=0.1), task=task,
                   num_classes=dm.num_classes).eval()
    restored = Restored(None, {}, None, model, dm)

    rows = frame.drop(columns="y")
    out = predict_frame(restored, rows, None)
    module, spec = standalone(restored)
    exported = torch.jit.trace(module, (raw_input(dm, rows),), check_trace=False)
    y = exported(raw_input(dm, rows)).detach().numpy()
    if task == "multiclass":
        assert list(out.columns) == ["prediction"] + [f"probability_{n}" for n in dm.label_names]
        probs = out[[f"probability_{n}" for n in dm.label_names]].to_numpy()
        np.testing.assert_allclose(probs, y, atol=1e-5)
        np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
        assert out["prediction"].tolist() == [dm.label_names[i] for i in probs.argmax(axis=1)]
    else:
        assert list(out.columns) == ["prediction"]
        with torch.no_grad():
            scaled = model.net(dm.transform(rows)).squeeze(-1)
        expected = scaled * dm.state_dict()["target_scale"] + dm.state_dict()["target_shift"]
        np.testing.assert_allclose(out["prediction"], expected.numpy(), rtol=1e-6)
        np.testing.assert_allclose(y, out["prediction"], rtol=1e-6)
        assert abs(out["prediction"].mean()) > 100  # in the target's units, not standardized
