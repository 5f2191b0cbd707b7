"""LightningModules ("systems"): they receive a plain `nn.Module` and own the loss,
the metrics and the optimizer. The five steps of the seed's loop map onto them:
Lightning zeroes the gradients, calls `training_step` (forward + loss), runs
`backward` and steps the optimizer returned by `configure_optimizers`."""

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import AUROC, Accuracy, F1Score

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


class Classifier(L.LightningModule):
    """Binary (one logit) or multi-class (K logits) classification.

    Logs per epoch: `train/loss`; `val/loss`, `val/acc`, `val/auroc`, `val/f1`,
    `val/acc_best`; `test/loss`, `test/acc`, `test/auroc`, `test/f1`.

    Args:
        net: maps `x: (batch, features)` to logits `(batch, 1)` or `(batch, K)`.
        loss: called as `loss(logits, target)`; binary: `(batch,)` logits against
            float targets; multi-class: `(batch, K)` logits against class indices.
        optimizer: factory taking the parameters (Hydra `_partial_: true`).
        scheduler: optional factory taking the optimizer, stepped once per epoch.
        num_classes: 2 for binary (the net has one output), K for multi-class.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.num_classes = num_classes
        self.binary = num_classes == 2
        self.task = "binary" if self.binary else "multiclass"  # callbacks read this
        kind = {"task": "binary"} if self.binary else {
            "task": "multiclass", "num_classes": num_classes
        }
        metrics = MetricCollection(
            {"acc": Accuracy(**kind), "auroc": AUROC(**kind), "f1": F1Score(**kind)}
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_acc_best = MaxMetric()
        # train/loss: a running mean updated every step, logged once per epoch, because
        # one `self.log` call costs more than a whole step of a small net
        self.train_loss = MeanMetric()

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, features)` -> logits `(batch, 1)` or `(batch, K)`."""
        return self.net(x)

    def _step(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Forward and loss; returns `(loss, probabilities, integer targets)`."""
        x, y = batch
        logits = self.net(x)
        if self.binary:
            logits = logits.squeeze(-1)
            loss = self.loss_fn(logits, y.to(logits.dtype))
            probs = torch.sigmoid(logits)
        else:
            loss = self.loss_fn(logits, y.long())
            probs = torch.softmax(logits, dim=-1)
        return loss, probs, y.long()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss, _, _ = self._step(batch)
        self.train_loss.update(loss.detach(), weight=len(batch[1]))
        if batch_idx + 1 == self.trainer.num_training_batches:  # the epoch's last step
            # logged here, not in on_train_epoch_end, so callbacks see it at epoch end
            self.log("train/loss", self.train_loss.compute(), on_step=False, on_epoch=True,
                     prog_bar=True)
            self.train_loss.reset()
        return loss

    def on_train_start(self) -> None:
        # Sanity-check validation must not count towards the best accuracy.
        self.val_acc_best.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, probs, target = self._step(batch)
        self.val_metrics.update(probs, target)
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.val_acc_best.update(values["val/acc"])
        self.log_dict(values, prog_bar=True)
        self.log("val/acc_best", self.val_acc_best.compute())

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, probs, target = self._step(batch)
        self.test_metrics.update(probs, target)
        self.log("test/loss", loss, on_step=False, on_epoch=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def predict_step(self, batch: Tensor | tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """Probabilities: `(batch,)` of the positive class, or `(batch, K)`."""
        x = batch[0] if isinstance(batch, tuple | list) else batch
        logits = self.net(x)
        return torch.sigmoid(logits.squeeze(-1)) if self.binary else torch.softmax(logits, -1)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
