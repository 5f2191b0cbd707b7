"""The TensorBoard dashboard of a run, read back with TensorBoard's own event reader:
every scalar, image and histogram tag with the right number of points, the HParams
session, and the PNG files under `plots/` (valid, and byte-identical to the images
in the event file)."""

import io
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata
from torch import nn

from fivestep.data.base import InMemoryDataModule
from fivestep.data.synthetic import SyntheticDataModule
from fivestep.models.nets import TwoLayerNet
from fivestep.models.system import System
from fivestep.monitoring.callbacks import EvaluationFigures, LossCurves, ProbabilityChart
from fivestep.train import train

EPOCHS, EVERY = 5, 2  # figures before training, after epochs 2 and 4, and after the last


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "histograms": 0})
    return events.Reload()


def _png_ok(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()  # raises on a truncated or corrupt file
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture(scope="module")
def two_layer_run(tmp_path_factory):
    """A 5-epoch `experiment=two_layer` run with figures and histograms every 2 epochs."""
    from ..conftest import compose_config

    out = tmp_path_factory.mktemp("run")
    cfg = compose_config(
        [
            "experiment=two_layer",
            f"trainer.max_epochs={EPOCHS}",
            f"callbacks.probability_chart.every_n_epochs={EVERY}",
            f"callbacks.parameter_histograms.every_n_epochs={EVERY}",
            "callbacks.progress_bar.refresh_rate=0",
        ],
        out,
    )
    metrics = train(cfg)
    return out, metrics, _events(out / "tensorboard")


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_every_scalar_has_one_point_per_epoch_and_test_one(two_layer_run):
    out, metrics, events = two_layer_run
    scalars = events.Tags()["scalars"]
    per_epoch = ["train/loss", "train/lr", "val/loss", "val/acc", "val/auroc", "val/f1",
                 "val/acc_best"]
    for tag in per_epoch:
        assert len(events.Scalars(tag)) == EPOCHS, tag
    for tag in ["test/loss", "test/acc", "test/auroc", "test/f1"]:
        assert len(events.Scalars(tag)) == 1, tag
        assert events.Scalars(tag)[0].value == pytest.approx(metrics[tag], abs=1e-6)
    assert [s.value for s in events.Scalars("train/lr")] == pytest.approx([0.1] * EPOCHS)
    assert set(scalars) >= set(per_epoch)


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_figures_are_images_at_the_due_epochs_and_identical_pngs(two_layer_run):
    out, _, events = two_layer_run
    due = [0, 2, 4, 5]
    steps = {tag: [e.step for e in events.Images(tag)] for tag in events.Tags()["images"]}
    assert steps == {
        "figures/probabilities": due,
        "figures/loss_curves": [EPOCHS],
        "figures/roc": [EPOCHS],
        "figures/confusion_matrix": [EPOCHS],
    }
    files = {p.name for p in (out / "plots").iterdir()}
    assert files == {f"probabilities_epoch_{e:03d}.png" for e in due} | {
        "loss_curves.png", "roc.png", "confusion_matrix.png"
    }
    for tag in steps:
        for event in events.Images(tag):
            name = tag.split("/")[1]
            if name == "probabilities":
                name = f"probabilities_epoch_{event.step:03d}"
            path = out / "plots" / f"{name}.png"
            assert _png_ok(path) == (event.width, event.height)
            assert path.read_bytes() == event.encoded_image_string


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_histograms_of_every_parameter_and_gradient(two_layer_run):
    _, _, events = two_layer_run
    names = [n for n, _ in TwoLayerNet().named_parameters()]
    assert len(names) == 6
    tags = events.Tags()["histograms"]
    assert sorted(tags) == sorted([f"weights/net.{n}" for n in names]
                                  + [f"gradients/net.{n}" for n in names])
    for n in names:
        assert [e.step for e in events.Histograms(f"weights/net.{n}")] == [0, 2, 4]
        gradients = events.Histograms(f"gradients/net.{n}")
        assert [e.step for e in gradients] == [2, 4]
        assert all(e.histogram_value.num > 0 for e in gradients)


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_hparams_session_holds_the_flat_config(two_layer_run):
    out, _, events = two_layer_run
    content = events.PluginTagToContent("hparams")
    assert set(content) == {metadata.SESSION_START_INFO_TAG}  # no experiment record
    info = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG]
    )
    hp = info.hparams
    assert hp["model/optimizer"].string_value == "SGD"
    assert hp["model/optimizer/lr"].number_value == pytest.approx(0.1)
    assert hp["model/net/hidden1"].number_value == 8
    assert hp["model/loss"].string_value == "bce"  # `auto`, resolved for the binary task
    assert hp["trainer/max_epochs"].number_value == EPOCHS
    assert hp["train"].WhichOneof("kind") == "bool_value" and hp["train"].bool_value
    assert not any(k.startswith(("callbacks", "logger", "paths")) for k in hp)


@pytest.mark.slow  # >0.5 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_loss_curve_history_is_the_logged_loss_and_lives_in_the_checkpoint(two_layer_run):
    out, _, events = two_layer_run
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    state = ckpt["callbacks"]["LossCurves"]
    assert state["train"] == pytest.approx([s.value for s in events.Scalars("train/loss")])
    assert state["val"] == pytest.approx([s.value for s in events.Scalars("val/loss")])
    assert state["val_epochs"] == list(range(1, EPOCHS + 1))


def test_figures_run_the_model_only_in_epochs_where_one_is_due(tmp_path):
    """No validation split -> figures use all 100 rows; training sees 80 (batches of
    80), so a forward pass on 100 rows is a chart's. 4 charts, then 1 ROC/confusion
    pass on a sample of `max_rows=30` rows."""
    torch.manual_seed(0)
    data = SyntheticDataModule(val_fraction=0.0, test_fraction=0.2)
    model = System(TwoLayerNet(), lambda p: torch.optim.SGD(p, lr=0.1),
                   loss=nn.BCEWithLogitsLoss(), task="binary")
    rows_seen: list[int] = []
    model.net.register_forward_hook(lambda m, args, out: rows_seen.append(len(args[0])))
    trainer = L.Trainer(
        max_epochs=EPOCHS, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[ProbabilityChart(str(tmp_path), every_n_epochs=EVERY),
                   EvaluationFigures(str(tmp_path), max_rows=30)],
    )
    trainer.fit(model, datamodule=data)
    assert rows_seen.count(100) == 4
    assert rows_seen.count(30) == 1
    assert rows_seen.count(80) == EPOCHS
    assert len(rows_seen) == EPOCHS + 5
    assert model.training  # the callbacks put the module back in training mode
    assert len(list(tmp_path.glob("*.png"))) == 4 + 2  # no logger: files only


class _Rows(InMemoryDataModule):
    """Regression rows `y = x @ w`: the smallest DataModule of the contract."""

    task, num_classes, n_features = "regression", None, 3

    def load(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(60, 3, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 0.5])
        return {"train": (x[:40], y[:40]), "val": (x[40:], y[40:]), "test": (x[:0], y[:0]),
                "all": (x, y)}


class _Regressor(L.LightningModule):
    """The smallest regression system of the contract: `task`, `net`, `val/loss`."""

    task = "regression"

    def __init__(self) -> None:
        super().__init__()
        self.net = TwoLayerNet(in_features=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self.net(batch[0]).squeeze(-1), batch[1])
        self.log("train/loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self.net(batch[0]).squeeze(-1), batch[1])
        self.log("val/loss", loss)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def test_regression_gets_predicted_vs_true_and_no_probability_chart(tmp_path):
    torch.manual_seed(0)
    logger = L.pytorch.loggers.TensorBoardLogger(tmp_path, name=None, version="")
    curves = LossCurves(str(tmp_path / "plots"))
    trainer = L.Trainer(
        max_epochs=4, check_val_every_n_epoch=2, logger=logger, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
        callbacks=[ProbabilityChart(str(tmp_path / "plots"), every_n_epochs=1), curves,
                   EvaluationFigures(str(tmp_path / "plots"))],
    )
    trainer.fit(_Regressor(), datamodule=_Rows())
    assert len(curves.train) == 4 and curves.val_epochs == [2, 4]  # validation every 2
    files = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert files == ["loss_curves.png", "predicted_vs_true.png"]
    assert _png_ok(tmp_path / "plots" / "predicted_vs_true.png")[0] > 100
    events = _events(tmp_path)
    assert sorted(events.Tags()["images"]) == ["figures/loss_curves",
                                               "figures/predicted_vs_true"]


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_multiclass_figures_from_torchmetrics():
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    target = torch.tensor([0, 1, 2, 1])
    drawn = EvaluationFigures.draw("multiclass", probs, target, "val", ["a", "b", "c"])
    assert sorted(drawn) == ["confusion_matrix", "roc"]
    for png in drawn.values():
        Image.open(io.BytesIO(png)).verify()


@pytest.mark.slow
def test_ddp_two_processes_draw_and_log_everything_once(tmp_path):
    """Under `trainer=ddp_sim` only rank 0 draws and writes; the other process's
    TensorBoard writer is a stand-in that must never be written to."""
    import subprocess
    import sys

    from ..conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "train.py", "experiment=two_layer", "trainer=ddp_sim",
         "trainer.max_epochs=4", "data.batch_size=8", f"paths.log_dir={tmp_path}",
         "callbacks.probability_chart.every_n_epochs=2",
         "callbacks.parameter_histograms.every_n_epochs=2",
         "callbacks.progress_bar.refresh_rate=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()
    events = _events(run / "tensorboard")
    steps = {tag: [e.step for e in events.Images(tag)] for tag in events.Tags()["images"]}
    assert steps == {"figures/probabilities": [0, 2, 4], "figures/loss_curves": [4],
                     "figures/roc": [4], "figures/confusion_matrix": [4]}
    assert [e.step for e in events.Histograms("gradients/net.output.bias")] == [2, 4]
    assert len(events.Scalars("train/lr")) == 4
    assert list(events.PluginTagToContent("hparams")) == [metadata.SESSION_START_INFO_TAG]
    assert len(list((run / "plots").glob("*.png"))) == 6
