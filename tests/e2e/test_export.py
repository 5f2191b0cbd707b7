"""Exported models (ONNX, torch.export, TorchScript) give the checkpoint's predictions,
on their own."""

import json

import numpy as np
import onnxruntime
import pytest
import torch

from fivestep.checkpointing.reading import restore
from fivestep.errors import UserError
from fivestep.export import export


# The ONNX exporter (torch.export + onnxscript) takes seconds to start: slow.
@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=pytest.mark.slow),
                                 pytest.param("pt2", marks=pytest.mark.slow), "torchscript"])
def test_exported_model_matches_the_checkpoint(two_layer_run, make_cfg, tmp_path, fmt):
    ckpt = two_layer_run / "checkpoints" / "last.ckpt"
    cfg = make_cfg(f"ckpt_path={ckpt}", f"format={fmt}", config_name="export")
    path = export(cfg)
    assert path.parent == tmp_path and path.is_file()
    spec = json.loads(path.with_suffix(path.suffix + ".json").read_text())
    assert spec["input"]["columns"] == [f"x{i}" for i in range(5)]
    assert spec["check"]["rows"] == 20 and spec["check"]["max_abs_difference"] <= 1e-5

    # Independently: the checkpoint's model on the test rows, against the file alone.
    restored = restore(ckpt, cfg, "test")
    restored.datamodule.setup("test")
    x = restored.datamodule.splits["test"][0]
    with torch.no_grad():
        expected = torch.sigmoid(restored.model.net(x).squeeze(-1)).numpy()
    for rows in (x, x[:1]):  # any number of rows
        if fmt == "onnx":
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, {"x": rows.numpy()})[0]
        elif fmt == "pt2":  # an ExportedProgram, the preprocessing in its graph
            program = torch.export.load(str(path))
            assert isinstance(program, torch.export.ExportedProgram)
            got = program.module()(rows).detach().numpy()
        else:
            got = torch.jit.load(str(path))(rows).detach().numpy()
        assert got.shape == (len(rows),)
        np.testing.assert_allclose(got, expected[: len(rows)], atol=1e-5, rtol=0)


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_export_refuses_a_bad_format_and_an_existing_file(two_layer_run, make_cfg, tmp_path):
    ckpt = two_layer_run / "checkpoints" / "last.ckpt"
    with pytest.raises(UserError, match="'pdf' is not supported; use format=onnx, format=pt2"):
        export(make_cfg(f"ckpt_path={ckpt}", "format=pdf", config_name="export"))
    taken = tmp_path / "mine.pt"
    taken.write_text("keep me")
    with pytest.raises(UserError, match="exists; choose another output or add overwrite=true"):
        export(make_cfg(f"ckpt_path={ckpt}", "format=torchscript", f"output={taken}",
                        config_name="export"))
    assert taken.read_text() == "keep me"


def test_export_needs_only_the_checkpoint(table_run, make_cfg, tmp_path):
    """With the training table gone, the export is still written (just not checked)."""
    ckpt = table_run / "checkpoints" / "last.ckpt"
    cfg = make_cfg(f"ckpt_path={ckpt}", "format=torchscript", f"+data.path={tmp_path}/gone.csv",
                   config_name="export")
    path = export(cfg)
    spec = json.loads(path.with_suffix(".pt.json").read_text())
    assert spec["check"] is None
    assert spec["input"]["columns"] == ["a", "b", "color=blue", "color=green", "color=red"]
    assert spec["label_names"] == ["no", "yes"]
    x = torch.tensor([[0.5, -1.0, 0.0, 0.0, 1.0], [float("nan"), 2.0, 1.0, 0.0, 0.0]])
    p = torch.jit.load(str(path))(x).detach()
    assert p.shape == (2,) and bool(((p > 0) & (p < 1)).all())


@pytest.mark.slow  # >1 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_pt2_holds_the_preprocessing_and_matches_the_checkpoint(table_run, make_cfg):
    """A table with gaps and categories: imputation and scaling run inside the program."""
    ckpt = table_run / "checkpoints" / "last.ckpt"
    path = export(make_cfg(f"ckpt_path={ckpt}", "format=pt2", config_name="export"))
    spec = json.loads(path.with_suffix(".pt2.json").read_text())
    assert spec["format"] == "pt2" and spec["check"]["max_abs_difference"] <= 1e-5
    program = torch.export.load(str(path))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert any("isnan" in op for op in ops) and any("sigmoid" in op for op in ops)
    x = torch.tensor([[0.5, -1.0, 0.0, 0.0, 1.0], [float("nan"), 2.0, 1.0, 0.0, 0.0]])
    p = program.module()(x).detach()
    assert p.shape == (2,) and bool(((p > 0) & (p < 1)).all())
