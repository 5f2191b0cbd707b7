"""Lightning callbacks that show a run the way the article does: the learning rate, the
seed's probability chart every N epochs, the loss curves, ROC curve and confusion matrix (or
predicted-vs-true for regression), and weight/gradient histograms. Public Lightning
and TensorBoard APIs only.

Figures are PNG files under `dirpath` (the run's `plots/`) and, when the run has a
TensorBoard logger, images in its event file with the same bytes; their step is the
number of epochs trained (0 = before training). They read the rows of
`trainer.datamodule.splits["val"]` (`"all"` when there is no validation split) and
`pl_module.task`, and run the forward pass only in epochs where a figure is due, in
eval mode without gradients, so an epoch without a figure costs nothing. Only the
global-zero process draws.
"""

import io
import logging
import struct
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from fivestep.data.base import InMemoryDataModule
from fivestep.models.task import predictions
from fivestep.monitoring import figures

log = logging.getLogger(__name__)

# Figures of a split larger than this show evenly spaced rows of it, this many: a chart
# of 200,000 points reads the same as one of 20 million, whose forward pass alone would
# need gigabytes (a memory-mapped table's validation split).
MAX_FIGURE_ROWS = 200_000


def _rows(trainer: L.Trainer) -> tuple[str, Tensor, Tensor] | None:
    """`(split name, x: (rows, features), y: (rows,))` of the rows figures show."""
    if not isinstance(trainer.datamodule, InMemoryDataModule):
        log.warning("figures: the datamodule is not an InMemoryDataModule; no figure is drawn")
        return None
    splits = trainer.datamodule.splits
    name = "val" if "val" in splits and len(splits["val"][0]) else "all"
    x, y = splits[name]
    if len(x) > MAX_FIGURE_ROWS:
        step = -(-len(x) // MAX_FIGURE_ROWS)
        x, y = x[::step], y[::step]
    return name, x, y.cpu()  # with data.on_device=true the tables sit on the GPU


@torch.no_grad()
def _outputs(pl_module: L.LightningModule, x: Tensor) -> Tensor:
    """`predictions` for `x` in eval mode: binary `(rows,)` probability of class 1,
    multi-class `(rows, K)`, regression `(rows,)`. The mode is restored after."""
    was_training = pl_module.training
    pl_module.eval()
    try:
        out = pl_module(x.to(pl_module.device)).float().cpu()
    finally:
        pl_module.train(was_training)
    return predictions(out, pl_module.task)


def _class_names(trainer: L.Trainer, k: int) -> list[str]:
    names = trainer.datamodule.label_names
    return [str(n) for n in names] if names and len(names) == k else [str(i) for i in range(k)]


def _writer(trainer: L.Trainer) -> Any:
    """The run's TensorBoard `SummaryWriter`, or None without a TensorBoard logger."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def publish(
    trainer: L.Trainer, dirpath: str | Path, name: str, tag: str, png: bytes, step: int
) -> Path:
    """Save `png` as `<dirpath>/<name>.png` and log the same bytes to TensorBoard as
    the image `figures/<tag>` at `step`."""
    path = Path(dirpath) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    writer = _writer(trainer)
    if writer is None:
        return path
    if writer.file_writer is not None:
        # The event file takes the encoded PNG as it is: one render per figure, and the
        # image in TensorBoard is byte for byte the file on disk.
        from tensorboard.compat.proto.summary_pb2 import Summary

        width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
        image = Summary.Image(height=height, width=width, colorspace=4,
                              encoded_image_string=png)
        summary = Summary(value=[Summary.Value(tag=f"figures/{tag}", image=image)])
        writer.file_writer.add_summary(summary, step)
    else:  # a closed writer: `add_image` reopens it (and re-encodes the pixels)
        from matplotlib.image import imread

        writer.add_image(f"figures/{tag}", imread(io.BytesIO(png)), step, dataformats="HWC")
    return path


class LearningRate(L.Callback):
    """Logs `train/lr` (the first optimizer's first parameter group; `train/lr/<i>`
    for every further group) once per epoch, as in effect during that epoch, at the
    epoch's first step. It writes to the loggers directly, as Lightning's
    `LearningRateMonitor` does, but keeps the split-first key style, and a run
    without a logger is no error (`LearningRateMonitor` refuses to start then)."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not trainer.loggers:
            return
        groups = [g for opt in trainer.optimizers for g in opt.param_groups]
        rates = {
            "train/lr" if i == 0 else f"train/lr/{i}": float(group["lr"])
            for i, group in enumerate(groups)
        }
        for logger in trainer.loggers:
            logger.log_metrics(rates, step=trainer.global_step)


class ProbabilityChart(L.Callback):
    """The seed's chart: every row's predicted probability, coloured by its true
    class, before training, every `every_n_epochs` epochs and after the last epoch.
    Saved as `probabilities_epoch_NNN.png`; TensorBoard tag `figures/probabilities`.
    Classification only (a regression run gets `EvaluationFigures`' scatter).

    Args:
        dirpath: folder for the PNG files (the run's `plots/`).
        every_n_epochs: draw after every this many epochs; 0 = only before and after
            training.
        max_rows: chart at most the first this many rows (one bar each).
    """

    def __init__(self, dirpath: str, every_n_epochs: int = 10, max_rows: int = 200) -> None:
        self.dirpath = dirpath
        self.every_n_epochs = every_n_epochs
        self.max_rows = max_rows
        self._drawn_at: int | None = None
        self._epochs_done = 0
        self._figure: figures.ProbabilityChart | None = None  # built once, redrawn

    def _draw(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        if not trainer.is_global_zero or pl_module.task == "regression":
            return
        rows = _rows(trainer)
        if rows is None:
            return
        _, x, y = rows
        x, y = x[: self.max_rows], y[: self.max_rows]
        probs, target = _outputs(pl_module, x), y.long()
        if pl_module.task == "multiclass":
            k = probs.shape[-1]
            probs = probs.gather(1, target.unsqueeze(1)).squeeze(1)
        else:
            k = 2
        names = _class_names(trainer, k)
        if self._figure is None or not self._figure.matches(target.numpy(), names):
            self._figure = figures.ProbabilityChart(target.numpy(), names)
        png = self._figure.render(probs.numpy(), epoch)
        name = f"probabilities_epoch_{epoch:03d}"
        publish(trainer, self.dirpath, name, "probabilities", png, epoch)
        self._drawn_at = epoch

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epochs_done = trainer.current_epoch
        self._draw(trainer, pl_module, trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epochs_done = trainer.current_epoch + 1
        if self.every_n_epochs and self._epochs_done % self.every_n_epochs == 0:
            self._draw(trainer, pl_module, self._epochs_done)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._drawn_at != self._epochs_done:
            self._draw(trainer, pl_module, self._epochs_done)
        self._figure = None  # a later fit builds its own


class LossCurves(L.Callback):
    """`train/loss` and `val/loss` per epoch as one figure after training
    (`loss_curves.png`, tag `figures/loss_curves`). Each epoch only copies the
    numbers already logged; the history is kept in checkpoints, so a resumed run
    draws its whole curve.

    Args:
        dirpath: folder for the PNG file (the run's `plots/`).
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath
        self.train: list[float] = []  # one per epoch
        self.val: list[float] = []  # one per validation run ...
        self.val_epochs: list[int] = []  # ... after this many epochs

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Here, as for EarlyStopping, the epoch's validation metrics are final.
        # `trainer.callback_metrics` gathers the logged values anew on each read: once here
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val/loss")
        if value is not None:
            self.val.append(float(value))
            self.val_epochs.append(trainer.current_epoch + 1)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("train/loss")
        if value is not None:
            self.train.append(float(value))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.train:
            png = figures.loss_curves(self.train, self.val, self.val_epochs)
            publish(trainer, self.dirpath, "loss_curves", "loss_curves", png,
                    trainer.current_epoch)

    def state_dict(self) -> dict[str, list]:
        return {"train": list(self.train), "val": list(self.val),
                "val_epochs": list(self.val_epochs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.train = list(state_dict["train"])
        self.val = list(state_dict["val"])
        self.val_epochs = list(state_dict["val_epochs"])


class EvaluationFigures(L.Callback):
    """After training, on the validation rows (all rows without a split), with the
    final weights: classification -> ROC curve (`roc.png`) and confusion matrix at
    the argmax / 0.5 threshold (`confusion_matrix.png`), both computed by
    torchmetrics; regression -> predicted vs true (`predicted_vs_true.png`).
    TensorBoard tags `figures/<name>`.

    Args:
        dirpath: folder for the PNG files (the run's `plots/`).
        max_rows: draw from at most this many rows, a seeded random sample of them
            (a picture of a ROC curve or a scatter gains nothing from a million points,
            and drawing them would cost seconds at the end of every run).
    """

    def __init__(self, dirpath: str, max_rows: int = 20_000) -> None:
        self.dirpath = dirpath
        self.max_rows = max_rows

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = _rows(trainer) if trainer.is_global_zero else None
        if rows is None:
            return
        split, x, y = rows
        if len(y) > self.max_rows:
            keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
            keep = keep[: self.max_rows].to(y.device)
            x, y = x[keep], y[keep]
        out = _outputs(pl_module, x)
        if pl_module.task == "regression":  # in the target's units (data.target_scaling)
            inverse = getattr(trainer.datamodule, "inverse_target", lambda v: v)
            out, y = inverse(out), inverse(y.float())
        k = out.shape[-1] if pl_module.task == "multiclass" else 2
        drawn = self.draw(pl_module.task, out, y, split, _class_names(trainer, k))
        for name, png in drawn.items():
            publish(trainer, self.dirpath, name, name, png, trainer.current_epoch)

    @staticmethod
    def draw(
        task: str, out: Tensor, y: Tensor, split: str, class_names: list[str]
    ) -> dict[str, bytes]:
        """PNG bytes by figure name for `out` (probabilities `(rows,)` / `(rows, K)`
        or values `(rows,)`) against the targets `y: (rows,)`."""
        from torchmetrics.functional import r2_score
        from torchmetrics.functional.classification import (
            binary_auroc,
            binary_confusion_matrix,
            binary_roc,
            multiclass_auroc,
            multiclass_confusion_matrix,
            multiclass_roc,
        )

        if task == "regression":
            r2 = float(r2_score(out, y.float()))
            return {"predicted_vs_true": figures.predicted_vs_true(
                out.numpy(), y.float().numpy(), r2, split)}
        target = y.long()
        if task == "binary":
            fpr, tpr, _ = binary_roc(out, target)
            curves = [(fpr.numpy(), tpr.numpy())]
            aucs = [float(binary_auroc(out, target))]
            labels = [f"{class_names[1]} vs {class_names[0]}"]
            counts = binary_confusion_matrix(out, target)
        else:
            k = out.shape[-1]
            fprs, tprs, _ = multiclass_roc(out, target, num_classes=k)
            curves = [(f.numpy(), t.numpy()) for f, t in zip(fprs, tprs, strict=True)]
            aucs = multiclass_auroc(out, target, num_classes=k, average=None).tolist()
            labels = [f"{n} vs rest" for n in class_names]
            counts = multiclass_confusion_matrix(out, target, num_classes=k)
        return {
            "roc": figures.roc_curve(curves, aucs, labels, split),
            "confusion_matrix": figures.confusion_matrix(counts.numpy(), class_names, split),
        }


class ParameterHistograms(L.Callback):
    """Histograms of every parameter (`weights/<name>`) and of its gradient
    (`gradients/<name>`) in TensorBoard every `every_n_epochs` epochs; weights also
    before training. The gradient is the one of the epoch's last optimizer step (the
    whole epoch's with full-batch training). Needs a TensorBoard logger.

    Args:
        every_n_epochs: log after every this many epochs; 0 = off.
    """

    def __init__(self, every_n_epochs: int = 0) -> None:
        self.every_n_epochs = every_n_epochs

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int,
             gradients: bool) -> None:
        writer = _writer(trainer)
        if writer is None or not trainer.is_global_zero:
            return
        # numpy's "auto" bins: TensorBoard's default ("tensorflow", ~1,500 fixed
        # exponential buckets) took 1.5 ms per histogram against 0.3 ms
        for name, param in pl_module.named_parameters():
            writer.add_histogram(f"weights/{name}", param.detach().cpu(), step, bins="auto")
            if gradients and param.grad is not None:
                writer.add_histogram(f"gradients/{name}", param.grad.detach().cpu(), step,
                                     bins="auto")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs:
            self._log(trainer, pl_module, trainer.current_epoch, gradients=False)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        # After the epoch's last step, before validation (which drops the gradients).
        done = trainer.current_epoch + 1
        if self.every_n_epochs and done % self.every_n_epochs == 0 and trainer.is_last_batch:
            self._log(trainer, pl_module, done, gradients=True)
