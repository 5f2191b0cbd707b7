"""LightningModules ("systems"): they receive a plain `nn.Module` and own the loss,
the metrics and the optimizer. The five steps of the seed's loop map onto them:
Lightning zeroes the gradients, calls `training_step` (forward + loss), runs
`backward` and steps the optimizer returned by `configure_optimizers`."""

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from fivestep.config.types import ClassCount, PositiveInt
from fivestep.errors import UserError
from fivestep.models.losses import build_loss
from fivestep.models.metrics import MetricFactories, best_trackers, build_metrics, logged_names
from fivestep.models.task import Task, loss_inputs, predictions

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler | ReduceLROnPlateau]


class System(L.LightningModule):
    """Binary (one logit), multi-class (K logits) or regression (one value) training.

    Logs per epoch `train/loss`; `val/loss`, `val/<metric>` and, for a metric with a
    direction, `val/<metric>_best`; `test/loss`, `test/<metric>` (`logged_names`).
    The metrics come from `model/metrics` (`fivestep.models.metrics`); by default
    acc, auroc, f1 for classification, mse, mae, r2 for regression.

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
        step_batch_size: cut each training batch into optimizer steps of this many
            rows, several steps per Lightning step (Keras' `steps_per_execution`):
            `data.batch_size=8192 model.step_batch_size=1024` makes the same steps, on
            the same rows in the same order, as `data.batch_size=1024`, but pays
            Lightning's per-step hooks and bookkeeping once per 8 steps. Uses manual
            optimization; null = one automatic step per batch.
        metrics: `{"classification": {name: factory}, "regression": {...}}`, torchmetrics
            classes (Hydra `_partial_: true`); None = `fivestep.models.metrics.DEFAULT`.
        compile: `torch.compile` the net (in place, `nn.Module.compile`, so the
            checkpoint's keys stay those of the plain net); the first steps pay the
            compilation. The config key users know from other templates
            (`model.compile=true`), hence the builtin's name.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        loss: str | nn.Module = "auto",
        scheduler: SchedulerFactory | None = None,
        task: Task | None = None,
        num_classes: ClassCount | None = None,
        step_batch_size: PositiveInt | None = None,
        metrics: MetricFactories | None = None,
        compile: bool = False,  # noqa: A002 - the config key `model.compile`
    ) -> None:
        super().__init__()
        if task is None:
            raise UserError(
                "model.task is null; it is filled in from the data by fivestep.train, "
                "so set model.task=binary|multiclass|regression when building a model alone"
            )
        if task == "multiclass" and not num_classes:
            raise UserError("model.num_classes is null for a multiclass task; set it to K")
        self.net = net
        if compile:
            self.net.compile()
        self.task = task  # callbacks and predict read this
        self.num_classes = 2 if task == "binary" else num_classes
        self.loss_fn = build_loss(loss, task) if isinstance(loss, str) else loss
        _refuse_sparse_adam(optimizer, net)
        if step_batch_size is not None:
            _check_step_batch_size(step_batch_size, optimizer)
            self.automatic_optimization = False  # several optimizer steps per training_step
        self.step_batch_size = step_batch_size
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        collection = build_metrics(metrics, task, self.num_classes)
        self.val_metrics = collection.clone(prefix="val/")
        self.test_metrics = collection.clone(prefix="test/")
        self.val_best = best_trackers(collection)  # name -> MaxMetric/MinMetric, checkpointed
        self.logged_names = logged_names(collection, self.val_best)
        self._logged_step: tuple[int, int] | None = None
        # train/loss: a running sum of loss x rows, added to every step and logged once
        # per epoch as the mean, because one `self.log` call costs more than a whole
        # step of a small net (and a torchmetrics update per step a third of one)
        # A plain tensor made on the loss's device, not a registered buffer: DDP copies
        # rank 0's buffers to every rank before each forward (`broadcast_buffers`), which
        # overwrote the other ranks' running sums, so the logged train/loss under DDP was
        # mostly rank 0's (0.676 against 0.696 for one process on the same rows).
        self._train_loss_sum: Tensor | None = None
        self._train_rows = 0

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, features)` -> the net's raw output `(batch, 1)` or `(batch, K)`."""
        return self.net(x)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Forward and loss; returns `(loss, output, y as the loss took it)`: the output
        `(batch,)`, or `(batch, K)` logits, as the loss takes it."""
        x, y = batch
        output, y = loss_inputs(self.net(x), y, self.task)
        return self.loss_fn(output, y), output, y

    def _step(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Forward and loss; returns `(loss, predictions, targets for the metrics)`.

        A regression target trained on in standardized units (`data.target_scaling`)
        is mapped back by the datamodule's `inverse_target`, so `val/mae`, `test/mse`
        and the rest are in the target's own units; the loss stays in training units."""
        loss, output, y = self._loss(batch)
        preds = predictions(output.detach(), self.task)
        if self.task != "regression":
            return loss, preds, y.long()
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "inverse_target"):
            preds, y = datamodule.inverse_target(preds), datamodule.inverse_target(y)
        return loss, preds, y

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | None:
        counted = True
        if not self.automatic_optimization:
            self._several_steps(batch)
        else:
            loss, _, y = self._loss(batch)
            # L-BFGS calls this closure many times per step (its line search tries other
            # weights); count only the first call: the loss at the weights before the step.
            step = (self.trainer.global_step, batch_idx) if self._trainer else None
            counted = step != self._logged_step or step is None
            if counted:
                self._logged_step = step
                self._add_train_loss(loss, len(y))
        if counted and self._trainer and batch_idx + 1 == self.trainer.num_training_batches:
            # the epoch's last step; logged here, not in on_train_epoch_end, so callbacks
            # see it at epoch end; under DDP the ranks' means are averaged (equal shards)
            self.log("train/loss", self._train_loss_sum / self._train_rows,
                     on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
            self._train_loss_sum.zero_()
            self._train_rows = 0
        return None if not self.automatic_optimization else loss

    def _add_train_loss(self, loss: Tensor, rows: int) -> None:
        if self._train_loss_sum is None or self._train_loss_sum.device != loss.device:
            self._train_loss_sum = torch.zeros((), device=loss.device)
        self._train_loss_sum.add_(loss.detach(), alpha=rows)
        self._train_rows += rows

    def _several_steps(self, batch: tuple[Tensor, Tensor]) -> None:
        """`batch` cut into optimizer steps of `step_batch_size` rows, each the arithmetic
        of one automatic step: forward, loss, zero the gradients, backward, step.

        Every step goes through Lightning's optimizer wrapper, so `trainer.global_step`
        counts optimizer steps and `on_before_optimizer_step` runs for each. The backward
        goes through `manual_backward` (and so the `on_before_backward` /
        `on_after_backward` hooks, the FiniteGuard's loss check among them) once per
        Lightning step, on its last optimizer step; the steps before it call
        `loss.backward()` directly, which is all `manual_backward` does on one device
        without a gradient scaler, less the hooks (a tenth of a millisecond a step with
        the default callbacks). Under DDP, or with `16-mixed` precision (whose gradient
        scaler scales the loss first), every step uses `manual_backward`."""
        optimizer = self.optimizers()
        direct = self._direct_backward()
        x, y = batch
        x_steps, y_steps = x.split(self.step_batch_size), y.split(self.step_batch_size)
        last = len(x_steps) - 1
        for i, (x_step, y_step) in enumerate(zip(x_steps, y_steps, strict=True)):
            loss, _, target = self._loss((x_step, y_step))
            optimizer.zero_grad()
            if direct and i < last:
                loss.backward()
            else:
                self.manual_backward(loss)
            optimizer.step()
            self._add_train_loss(loss, len(target))

    def _direct_backward(self) -> bool:
        """Whether `loss.backward()` is what `manual_backward` would run (hooks aside):
        one device, and a precision plugin without a gradient scaler. Called only from
        `_several_steps`, which needs the trainer already (`self.optimizers()`)."""
        trainer = self.trainer
        return (isinstance(trainer.strategy, SingleDeviceStrategy)
                and getattr(trainer.precision_plugin, "scaler", None) is None)

    def on_train_epoch_end(self) -> None:
        # Lightning steps epoch schedulers itself only under automatic optimization; here,
        # at the same point (after validation, before the next epoch), as it would.
        if self.automatic_optimization or self.scheduler_factory is None:
            return
        scheduler = self.lr_schedulers()
        if isinstance(scheduler, ReduceLROnPlateau):
            if "val/loss" not in self.trainer.callback_metrics:
                raise UserError("model/scheduler=plateau watches val/loss, but this run has no "
                                "validation split; set data.val_fraction > 0")
            scheduler.step(self.trainer.callback_metrics["val/loss"])
        else:
            scheduler.step()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, preds, target = self._step(batch)
        self.val_metrics.update(preds, target)
        self.log("val/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=True)
        if self.trainer.sanity_checking:  # a sanity check must not count as the best
            return
        for name, best in self.val_best.items():
            best.update(values[f"val/{name}"])
        self.log_dict({f"val/{name}_best": best.compute() for name, best in self.val_best.items()})

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, preds, target = self._step(batch)
        self.test_metrics.update(preds, target)
        self.log("test/loss", loss, on_step=False, on_epoch=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def predict_step(self, batch: Tensor | tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """Binary `(batch,)` positive-class probabilities, multi-class `(batch, K)`
        probabilities, or regression values `(batch,)` (in the units trained on:
        `predict.py` maps them to the target's with the datamodule's `inverse_target`)."""
        x = batch[0] if isinstance(batch, tuple | list) else batch
        return predictions(self.net(x), self.task)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        config: dict[str, Any] = {"scheduler": scheduler, "interval": "epoch"}
        if isinstance(scheduler, ReduceLROnPlateau):
            config["monitor"] = "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}


def _check_step_batch_size(rows: int, optimizer: OptimizerFactory) -> None:
    """Refuse what several steps per Lightning step cannot do."""
    if rows < 1:
        raise UserError(f"model.step_batch_size={rows} must be a positive number of rows, or null")
    if getattr(optimizer, "func", optimizer) is torch.optim.LBFGS:
        raise UserError(
            "model.step_batch_size cannot be combined with model/optimizer=lbfgs (L-BFGS "
            "re-evaluates the loss in a closure); set model.step_batch_size=null"
        )


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
