"""Data that is not a table, end to end: scikit-learn's digits as `(rows, 1, 8, 8)`
images with the small CNN, through train -> eval -> predict (`.npy`) -> export."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

from fivestep.checkpointing.reading import restore
from fivestep.errors import UserError
from fivestep.evaluate import evaluate
from fivestep.export import export
from fivestep.predict import predict

from ..trained import train_into

# train, eval, predict and export of one run: ~10 s on 2 busy cores (ONNX alone ~5 s)
pytestmark = pytest.mark.slow

# docs/extending.md: python train.py data=digits model/net=cnn model/optimizer=adam
COMMAND = ["data=digits", "model/net=cnn", "model/optimizer=adam"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A 3-epoch run of the documented command (checkpoints, no figures: faster)."""
    out = tmp_path_factory.mktemp("digits_run")
    train_into(out, [*COMMAND, "trainer.max_epochs=3", "callbacks=[checkpoints]", "logger=[]"])
    return out, json.loads((out / "metrics.json").read_text())


def test_train_sizes_the_cnn_from_the_images_and_learns(digits_run):
    out, summary = digits_run
    metrics = summary["metrics"]
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    net = ckpt["fivestep"]["config"]["model"]["net"]
    assert (net["in_channels"], net["out_features"]) == (1, 10)
    assert ckpt["state_dict"]["net.features.0.weight"].shape == (16, 1, 3, 3)
    assert metrics["test/acc"] > 0.5  # ten classes: chance is 0.1


def test_eval_gives_the_runs_test_metrics(digits_run, make_cfg):
    out, summary = digits_run
    best = summary["best_checkpoint"]
    metrics = evaluate(make_cfg(f"ckpt_path={best}", config_name="eval"))
    for key in ("test/acc", "test/auroc", "test/f1", "test/loss"):
        assert metrics[key] == pytest.approx(summary["metrics"][key], abs=1e-6), key


def test_predict_takes_a_npy_array_of_images(digits_run, make_cfg, tmp_path):
    out, _ = digits_run
    ckpt = out / "checkpoints" / "last.ckpt"
    restored = restore(ckpt, make_cfg(config_name="predict"), "test")
    # docs/extending.md's x.npy, 50 rows here
    np.save(tmp_path / "x.npy", (load_digits().images[:50, None] / 16).astype("float32"))
    x = torch.from_numpy(np.load(tmp_path / "x.npy"))
    restored.datamodule.setup("test")
    torch.testing.assert_close(x, restored.datamodule.splits["all"][0][:50])  # as trained on
    cfg = make_cfg(f"ckpt_path={ckpt}", f"input={tmp_path / 'x.npy'}",
                   f"output={tmp_path / 'p.csv'}", "chunk_size=16", config_name="predict")
    table = pd.read_csv(predict(cfg))
    assert list(table.columns) == ["row", "prediction", *[f"probability_{i}" for i in range(10)]]
    assert table["row"].tolist() == list(range(50))
    with torch.no_grad():
        expected = torch.softmax(restored.model.net(x), dim=1)
    probs = table[[f"probability_{i}" for i in range(10)]].to_numpy()
    np.testing.assert_allclose(probs, expected.numpy(), atol=1e-6)
    assert table["prediction"].tolist() == expected.argmax(dim=1).tolist()


def test_predict_refuses_inputs_that_do_not_fit_the_images(digits_run, make_cfg, tmp_path):
    ckpt = digits_run[0] / "checkpoints" / "last.ckpt"
    np.save(tmp_path / "flat.npy", np.zeros((3, 64), np.float32))
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "rows.csv", index=False)
    for given, message in [
        ("flat.npy", r"holds an array of shape \(3, 64\), but this checkpoint's net takes "
                     r"x: \(rows, 1, 8, 8\)"),
        ("rows.csv", r"no saved preprocessing for raw rows; give input= a \.npy array of "
                     r"x: \(rows, 1, 8, 8\)"),
    ]:
        cfg = make_cfg(f"ckpt_path={ckpt}", f"input={tmp_path / given}",
                       f"output={tmp_path / 'p.csv'}", config_name="predict")
        with pytest.raises(UserError, match=message):
            predict(cfg)
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_export_takes_the_images_as_they_are(digits_run, make_cfg, tmp_path, fmt):
    ckpt = digits_run[0] / "checkpoints" / "last.ckpt"
    path = export(make_cfg(f"ckpt_path={ckpt}", f"format={fmt}", config_name="export"))
    spec = json.loads(path.with_suffix(path.suffix + ".json").read_text())
    assert spec["input"]["shape"] == ["rows", 1, 8, 8] and spec["input"]["columns"] is None
    assert spec["input"]["numeric_columns"] == 0  # no preprocessing in the graph
    assert spec["check"]["rows"] == 256 and spec["check"]["max_abs_difference"] <= 1e-5
