"""LightningModules ("systems"): they receive a plain `nn.Module` and own the loss,
the metrics and the optimizer. The five steps of the seed's loop map onto them:
Lightning zeroes the gradients, calls `training_step` (forward + loss), runs
`backward` and steps the optimizer returned by `configure_optimizers`."""

from collections.abc import Callable, Iterable
from typing import Any, Literal

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import AUROC, Accuracy, F1Score
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from fivestep.errors import UserError
from fivestep.models.losses import build_loss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler | ReduceLROnPlateau]
Task = Literal["binary", "multiclass", "regression"]


class System(L.LightningModule):
    """Binary (one logit), multi-class (K logits) or regression (one value) training.

    Logs per epoch, classification: `train/loss`; `val/loss`, `val/acc`, `val/auroc`,
    `val/f1`, `val/acc_best`; `test/loss`, `test/acc`, `test/auroc`, `test/f1`.
    Regression: `train/loss`; `val/loss`, `val/mse`, `val/mae`, `val/r2`,
    `val/r2_best`; `test/loss`, `test/mse`, `test/mae`, `test/r2`.

    Args:
        net: maps `x: (batch, features)` to `(batch, 1)` (binary logit, regression
            value) or `(batch, K)` logits.
        optimizer: factory taking the parameters (Hydra `_partial_: true`).
        loss: a name in `fivestep.models.losses.LOSSES` ("auto" = the task's usual loss),
            checked against the task; or a loss module, used as given.
        scheduler: optional factory taking the optimizer, stepped once per epoch
            (`ReduceLROnPlateau` watches `val/loss`).
        task: "binary", "multiclass" or "regression"; `fivestep.train` fills it in
            from the data when the config leaves it null.
        num_classes: K for multi-class (2 for binary; None for regression).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        loss: str | nn.Module = "auto",
        scheduler: SchedulerFactory | None = None,
        task: Task | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self._automatic = True
        if task is None:
            raise UserError(
                "model.task is null; it is filled in from the data by fivestep.train, "
                "so set model.task=binary|multiclass|regression when building a model alone"
            )
        if task == "multiclass" and not num_classes:
            raise UserError("model.num_classes is null for a multiclass task; set it to K")
        self.net = net
        self.task = task  # callbacks and predict read this
        self.num_classes = 2 if task == "binary" else num_classes
        self.loss_fn = build_loss(loss, task) if isinstance(loss, str) else loss
        _refuse_sparse_adam(optimizer, net)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        if task == "regression":
            metrics = MetricCollection(
                {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score()}
            )
            self.best_key = "r2"
        else:
            kind: dict[str, Any] = {"task": "binary"} if task == "binary" else {
                "task": "multiclass", "num_classes": num_classes
            }
            metrics = MetricCollection(
                {"acc": Accuracy(**kind), "auroc": AUROC(**kind), "f1": F1Score(**kind)}
            )
            self.best_key = "acc"
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_best = MaxMetric()
        self.val_best.persistent(True)  # in checkpoints: a resumed run keeps its best so far
        self._logged_step: tuple[int, int] | None = None
        # train/loss: a running sum of loss x rows, added to every step and logged once
        # per epoch as the mean, because one `self.log` call costs more than a whole
        # step of a small net (and a torchmetrics update per step a third of one)
        self.register_buffer("_train_loss_sum", torch.zeros(()), persistent=False)
        self._train_rows = 0

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, features)` -> the net's raw output `(batch, 1)` or `(batch, K)`."""
        return self.net(x)

    def _output(self, x: Tensor) -> Tensor:
        """The net's output as the loss takes it: `(batch,)`, or `(batch, K)` logits."""
        out = self.net(x)
        return out if self.task == "multiclass" else out.squeeze(-1)

    def _predictions(self, output: Tensor) -> Tensor:
        """Probabilities of the positive class `(batch,)` or of each class `(batch, K)`,
        or regression values `(batch,)`."""
        if self.task == "binary":
            return torch.sigmoid(output)
        if self.task == "multiclass":
            return torch.softmax(output, dim=-1)
        return output

    def _loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Forward and loss; returns `(loss, output, y as the loss took it)`."""
        x, y = batch
        output = self._output(x)
        y = y.long() if self.task == "multiclass" else y.to(output.dtype)
        return self.loss_fn(output, y), output, y

    def _step(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Forward and loss; returns `(loss, predictions, targets for the metrics)`."""
        loss, output, y = self._loss(batch)
        target = y if self.task == "regression" else y.long()
        return loss, self._predictions(output.detach()), target

    # ------------------------------------------------------ several steps per batch
    # With `data.steps_per_batch=K` a training batch holds K batches stacked, `(K, B, ...)`,
    # and training_step runs K optimizer steps on it (manual optimization): each step is
    # today's arithmetic (zero_grad, forward, loss, backward, step), but Lightning's
    # per-step cost is paid once per K steps.

    def _steps_per_batch(self) -> int:
        trainer = self._trainer
        datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
        return int(getattr(datamodule, "steps_per_batch", 1) or 1)

    @property  # type: ignore[override]
    def automatic_optimization(self) -> bool:
        if self._steps_per_batch() == 1:
            return self._automatic
        # Lightning reads this first when it checks the loop's configuration: refuse
        # here, in our words, what manual optimization cannot honour
        self._refuse_what_steps_per_batch_cannot_do(None, None)
        return False

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        self._automatic = value

    def _refuse_what_steps_per_batch_cannot_do(self, optimizer: Any, scheduler: Any) -> None:
        k = self._steps_per_batch()
        if k == 1:
            return
        trainer = self._trainer
        reasons = []
        if trainer is None:
            return
        if trainer.accumulate_grad_batches != 1:
            reasons.append(f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches}")
        if trainer.gradient_clip_val:
            reasons.append(f"trainer.gradient_clip_val={trainer.gradient_clip_val}")
        if isinstance(optimizer, torch.optim.LBFGS):
            reasons.append("model/optimizer=lbfgs (it re-evaluates the loss in each step)")
        if isinstance(scheduler, ReduceLROnPlateau):
            reasons.append("a ReduceLROnPlateau scheduler")
        if reasons:
            raise UserError(
                f"data.steps_per_batch={k} runs {k} optimizer steps in one training step and "
                f"cannot be combined with {', '.join(reasons)}; set data.steps_per_batch=1"
            )

    def _manual_steps(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        optimizer = self.optimizers()
        xs, ys = batch
        total = torch.zeros((), device=xs.device)
        for x, y in zip(xs, ys, strict=True):
            optimizer.zero_grad()
            loss, _, target = self._loss((x, y))
            self.manual_backward(loss)
            optimizer.step()
            total = total + loss.detach() * len(target)
        self._train_loss_sum += total
        self._train_rows += xs.shape[0] * xs.shape[1]
        return total / (xs.shape[0] * xs.shape[1])

    def on_train_epoch_end(self) -> None:
        if not self.automatic_optimization:  # epoch schedulers: stepped here by hand
            scheduler = self.lr_schedulers()
            if scheduler is not None:
                scheduler.step()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        if not self.automatic_optimization:
            loss = self._manual_steps(batch)
            if batch_idx + 1 == self.trainer.num_training_batches:
                self.log("train/loss", self._train_loss_sum / self._train_rows,
                         on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
                self._train_loss_sum.zero_()
                self._train_rows = 0
            return loss
        loss, _, y = self._loss(batch)
        # L-BFGS calls this closure many times per step (its line search tries other
        # weights); count only the first call: the loss at the weights before the step.
        step = (self.trainer.global_step, batch_idx) if self._trainer else None
        if step != self._logged_step or step is None:
            self._logged_step = step
            rows = len(y)
            self._train_loss_sum += loss.detach() * rows
            self._train_rows += rows
            if batch_idx + 1 == self.trainer.num_training_batches:  # the epoch's last step
                # logged here, not in on_train_epoch_end, so callbacks see it at epoch end;
                # under DDP the ranks' means are averaged (their shards are equal)
                self.log("train/loss", self._train_loss_sum / self._train_rows,
                         on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
                self._train_loss_sum.zero_()
                self._train_rows = 0
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, preds, target = self._step(batch)
        self.val_metrics.update(preds, target)
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        if not self.trainer.sanity_checking:  # a sanity check must not count as the best
            self.val_best.update(values[f"val/{self.best_key}"])
        self.log_dict(values, prog_bar=True)
        self.log(f"val/{self.best_key}_best", self.val_best.compute())

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, preds, target = self._step(batch)
        self.test_metrics.update(preds, target)
        self.log("test/loss", loss, on_step=False, on_epoch=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def predict_step(self, batch: Tensor | tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """Binary `(batch,)` positive-class probabilities, multi-class `(batch, K)`
        probabilities, or regression values `(batch,)` (in the units trained on)."""
        x = batch[0] if isinstance(batch, tuple | list) else batch
        return self._predictions(self._output(x))

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            if self._trainer is not None:
                self._refuse_what_steps_per_batch_cannot_do(optimizer, None)
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        if self._trainer is not None:
            self._refuse_what_steps_per_batch_cannot_do(optimizer, scheduler)
        config: dict[str, Any] = {"scheduler": scheduler, "interval": "epoch"}
        if isinstance(scheduler, ReduceLROnPlateau):
            config["monitor"] = "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}


class Classifier(System):
    """The foundation's classifier signature, kept for code that calls it positionally:
    `Classifier(net, loss, optimizer, scheduler=None, num_classes=2)` is a `System`
    for a binary (2) or multi-class (K) task."""

    def __init__(
        self,
        net: nn.Module,
        loss: str | nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int = 2,
    ) -> None:
        task = "binary" if num_classes == 2 else "multiclass"
        super().__init__(net, optimizer, loss, scheduler, task=task, num_classes=num_classes)


def _refuse_sparse_adam(optimizer: OptimizerFactory, net: nn.Module) -> None:
    """SparseAdam steps only sparse gradients (from `nn.Embedding(sparse=True)`); on a
    net with dense gradients it would fail at the first step, so refuse it now."""
    if getattr(optimizer, "func", optimizer) is not torch.optim.SparseAdam:
        return
    sparse = {
        id(p) for m in net.modules()
        if isinstance(m, nn.Embedding | nn.EmbeddingBag) and m.sparse
        for p in m.parameters()
    }
    dense = [name for name, p in net.named_parameters() if id(p) not in sparse]
    if dense:
        raise UserError(
            f"model/optimizer=sparse_adam: SparseAdam updates only parameters with sparse "
            f"gradients (nn.Embedding(sparse=True)), but {type(net).__name__} has dense ones "
            f"({', '.join(dense[:3])}{', ...' if len(dense) > 3 else ''}); pick "
            "model/optimizer=adam, the same method for dense gradients"
        )
