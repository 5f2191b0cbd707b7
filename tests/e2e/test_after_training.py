"""The whole path after training, as a user types it: train breast_cancer -> eval.py ->
predict.py on held-out rows -> export.py -> the exported model predicts the same."""

import json

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer

from fivestep.checkpointing.reading import restore
from fivestep.data.split import split_indices
from fivestep.export import raw_input

from ..cli import run_cli


@pytest.mark.slow
def test_train_eval_predict_export_on_breast_cancer(tmp_path, make_cfg):
    logs = f"paths.log_dir={tmp_path / 'logs'}"
    quiet = "callbacks.progress_bar.refresh_rate=0"
    trained = run_cli(
        "train.py", "experiment=breast_cancer", "trainer.max_epochs=15", "logger=[]", quiet, logs,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    (run,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    (best,) = (run / "checkpoints").glob("epoch_*.ckpt")

    evaluated = run_cli("eval.py", f"ckpt_path={best}", logs)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    (eval_run,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((eval_run / "metrics.json").read_text())["metrics"]
    assert metrics["test/acc"] > 0.85  # 15 full-batch epochs of Adam: already well above chance

    # The held-out rows, raw, as a user would have them: the same seeded split.
    restored = restore(best, make_cfg(config_name="predict"), "test")
    frame = load_breast_cancer(as_frame=True)
    rows = frame.frame.assign(target=np.asarray(frame.target_names)[frame.target])
    codes = rows["target"].map(restored.datamodule.label_names.index).to_numpy()
    data = restored.config.data
    _, _, test = split_indices(
        codes, data.val_fraction, data.test_fraction, data.split_seed, stratify=True
    )
    held_out = rows.iloc[test].reset_index(drop=True)
    held_out.insert(0, "row_id", test)
    held_out.to_csv(tmp_path / "held_out.csv", index=False)

    predicted = run_cli(
        "predict.py", f"ckpt_path={best}", f"input={tmp_path / 'held_out.csv'}",
        f"output={tmp_path / 'predictions.csv'}", "id_column=row_id", "chunk_size=50", logs,
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    out = pd.read_csv(tmp_path / "predictions.csv")
    assert out["row_id"].tolist() == test.tolist()
    accuracy = (out["prediction"] == held_out["target"]).mean()
    assert accuracy == pytest.approx(metrics["test/acc"], abs=1e-6)  # eval's test split

    exported = run_cli("export.py", f"ckpt_path={best}", "format=onnx", logs)
    assert exported.returncode == 0, exported.stderr[-2000:]
    (export_run,) = (tmp_path / "logs" / "export" / "runs").iterdir()
    session = onnxruntime.InferenceSession(
        str(export_run / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    x = raw_input(restored.datamodule, held_out.drop(columns=["row_id", "target"]))
    (p_positive,) = session.run(None, {"x": x.numpy()})
    positive = restored.datamodule.label_names[1]
    np.testing.assert_allclose(p_positive, out[f"probability_{positive}"], atol=1e-5, rtol=0)
    assert torch.from_numpy(p_positive).shape == (len(test),)


@pytest.mark.slow
def test_bad_checkpoints_on_the_command_line_are_one_line_and_leave_no_run(tmp_path):
    logs = f"paths.log_dir={tmp_path / 'logs'}"
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    cases = [
        (("eval.py", f"ckpt_path={broken}"), "cannot be read: it is truncated or corrupt"),
        (("predict.py", f"ckpt_path={tmp_path}/none.ckpt", f"input={broken}"),
         "unknown file type '.ckpt'"),
        (("export.py", "format=onnx"), "ckpt_path is required: python export.py"),
        (("train.py", "experiment=two_layer", "ckpt_path=last"),
         "ckpt_path=last: no last.ckpt of experiment=two_layer"),
    ]
    for args, message in cases:
        proc = run_cli(*args, logs)
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], (args, errors)
        assert "Traceback" not in proc.stderr
    leftovers = [p for p in (tmp_path / "logs").rglob("*") if p.is_file()]
    assert not leftovers, leftovers
