"""`FiniteGuard`: stop training the moment the loss or the weights stop being finite numbers.

A NaN or infinite training loss (a learning rate far too high, inputs on wildly
different scales, a NaN or inf that reached the net) poisons every weight it touches
on the next optimizer step; from then on the run only trains noise, yet Lightning
goes on, logs `loss=nan`, exits 0 and may even keep a "best" checkpoint of it.

The guard checks the loss before its backward pass (`on_before_backward`: nothing has
been changed yet) and the weights after every optimizer step (`on_train_batch_end`,
which Lightning calls before the checkpoint callbacks, always last, get their turn).
On the first non-finite value it raises `NonFiniteTraining`, a `UserError` naming
the epoch, the step and the likely causes. Lightning then ends `fit`: the checkpoint
callbacks' `on_exception` writes only checkpoints of earlier, finite epochs (a
`BufferedCheckpoint` holds copies taken when they were made), no checkpoint of the
poisoned state is made, and `train()` marks the run failed in `metrics.json`.
"""

import json
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from fivestep.errors import UserError


class NonFiniteTraining(UserError):
    """Training produced a NaN or infinite loss or weight; the message says where and why."""


class FiniteGuard(L.Callback):
    """Raise `NonFiniteTraining` on a non-finite training loss or weight (always on).

    Args:
        run_dir: the run folder; when the guard stops a run it writes `metrics.json`
            there with `"status": "failed"` and the error, which the sweep summary reads
            (`None`: write nothing).
    """

    def __init__(self, run_dir: str | Path | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._params: list[torch.nn.Parameter] | None = None

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if not bool(torch.isfinite(loss.detach()).all()):
            value = loss.detach().float()
            shown = f"{value.item():g}" if value.numel() == 1 else "non-finite"
            self._stop(trainer, trainer.global_step, f"the training loss is {shown}")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the parameters once: walking the module tree every step (the system's metric
        # modules included) cost more than the check itself
        self._params = list(pl_module.parameters())
        if getattr(pl_module, "guards_its_members", False):  # fivestep.models.members: a
            self._params = []  # member whose weights fail stops alone; Members checks them

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        params = self._params if self._params is not None else list(pl_module.parameters())
        if not params:
            return
        # one reduction per tensor and one sync: a sum is non-finite iff an element is
        # (or the sum overflows float, which only weights near 1e38 do)
        with torch.no_grad():
            finite = bool(torch.stack([p.sum(dtype=torch.float32) for p in params])
                          .isfinite().all())
        if finite:
            return
        names = [n for n, p in pl_module.named_parameters() if not bool(torch.isfinite(p).all())]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        step = trainer.global_step - 1  # the step just made
        self._stop(trainer, step, f"after the optimizer step the weights {shown} are not finite")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._params = None

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, NonFiniteTraining):
            return
        # the checkpoint callbacks' turn comes after this one: one asked to save on an
        # exception (ModelCheckpoint(save_on_exception=True)) would save the NaN state
        for callback in trainer.checkpoint_callbacks:
            if getattr(callback, "save_on_exception", False):
                callback.save_on_exception = False
        if self.run_dir is None or not trainer.is_global_zero:
            return
        last = {k: float(v) for k, v in trainer.callback_metrics.items()
                if math.isfinite(float(v))}
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        # no "metrics": a sweep's table and best.yaml must not rank a broken run; what was
        # logged before it broke is kept under its own key
        summary = {"status": "failed", "error": str(exception), "metrics": {},
                   "metrics_before_failure": last, "best_checkpoint": best or None}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "metrics.json").write_text(json.dumps(summary, indent=2))

    @staticmethod
    def _stop(trainer: L.Trainer, step: int, what: str) -> None:
        lrs = [g.get("lr") for opt in trainer.optimizers for g in opt.param_groups]
        lr = lrs[0] if lrs else None
        known = isinstance(lr, int | float)
        lr_text = f"the learning rate (model.optimizer.lr={lr:g})" if known else "the learning rate"
        if known and not math.isfinite(lr):
            hint = f"{lr_text} is not a number: give a positive finite one"
        else:
            hint = f"{lr_text} may be too high (try a tenth of it)"
        raise NonFiniteTraining(
            f"training stopped at epoch {trainer.current_epoch}, step {step}: "
            f"{what}. Likely causes: {hint}; inputs on very different scales (standardize "
            "them) or holding NaN/inf. The last finite checkpoint is kept; nothing after it "
            "was saved"
        )
