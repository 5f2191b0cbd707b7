"""`Members`: several models of one run, trained together in one Trainer.

Each member is a whole `System` (its own net, loss, optimizer settings and metrics),
kept as a submodule; `Members` only adds what training them together needs:

- **One stacked computation per shape.** Members whose nets have the same type and
  the same parameter shapes run as one `torch.func.vmap` over their parameters, which
  are stacked from each member's own leaf tensors inside the forward: the gradient of
  the summed losses flows back to every member's own leaves, and member `k`'s gradient
  is exactly the gradient of its own loss (no member's loss depends on another's
  weights). Nets of other shapes run one after another in the same step; the log says
  which members stack (`Members: ...` at construction).
- **One optimizer, one param group per member.** Each member's optimizer is built by
  its own factory on its own parameters, and their param groups (every setting filled
  in: lr, momentum, betas, weight decay, ...) make one optimizer of the same class.
  Optimizers step group by group, so this is each member's own update, and each
  parameter keeps its own state (momentum, Adam's moments).
- **One scheduler per member.** A member's learning-rate scheduler (`model/scheduler`)
  is built by its own factory on its own optimizer, whose param groups are pointed at
  that member's groups of the one optimizer that steps: it sets its own member's lr and
  no other. Each is
  stepped once per epoch after validation, where Lightning steps a standalone run's
  (`ReduceLROnPlateau` on the member's own `val/loss`).
- **Independence.** A member whose training loss is non-finite is marked failed before
  the step (as `FiniteGuard` stops a standalone run) and never updated again: its loss
  leaves the sum and its gradients are set to None, which every torch optimizer skips.
  A member whose weights turn non-finite after a step is marked failed likewise. The
  others go on; the run stops when every member has failed.
- **Early stopping per member.** The trainer's `EarlyStopping` callbacks are replaced
  by `MemberEarlyStopping`s with their settings (`configure_callbacks`): a member that
  stops early is not updated again but stays in the ensemble (`stopped`, not `failed`).
- **Per-member results.** `history[k]` holds member `k`'s per-epoch values under the
  keys a standalone run logs (`train/loss`, `val/loss`, `val/acc`, ..., `val/acc_best`),
  `best_state(k)` its weights at its lowest `val/loss` (the epoch a standalone run's
  best checkpoint holds), and after `trainer.test` `history[k]` has its test metrics.

What is logged is the ensemble's: `val/acc`, `val/auroc`, ... of the members' mean
prediction (`predict_step` and `net` give the same mean), `val/loss` and `train/loss`
as the members' mean, and the members' spread `val/<metric>_members_mean` and
`val/<metric>_members_std` (likewise for `test/`). With one member every value is the
member's own, as a standalone run logs it.

What cannot be trained together, refused with a clear error: L-BFGS (it re-evaluates
a closure per member), `model.step_batch_size`, and members of different optimizer
classes or tasks. A member with dropout runs alone (not
stacked), its masks drawn from its own copy of the CPU generator taken right after its
net was built: the stream its standalone run draws from, so it stays exact on the CPU
(on a GPU its masks come from the device's shared generator: not its standalone's).
Members share one DataModule, so one batch size and one
shuffle order, which is the order each member's standalone run sees (the shuffle is
seeded by `data.seed`, not by the run's seed). With `own_batches` (the folds of
`data.fold=members`) each member has a DataModule of its own instead, and each step
brings every member its own batch (`fivestep.data.member_data.MemberData`).
"""

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchmetrics import MaxMetric

from fivestep.errors import UserError
from fivestep.models.member_early_stopping import MemberEarlyStopping
from fivestep.models.member_metrics import StackedMetrics
from fivestep.models.metrics import best_trackers
from fivestep.models.system import System
from fivestep.models.task import loss_inputs, predictions

log = logging.getLogger(__name__)

DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
            nn.FeatureAlphaDropout)


class Members(L.LightningModule):
    """K `System`s trained as one LightningModule; see the module docstring.

    `FiniteGuard` leaves the weights to it (`guards_its_members`): one member's
    non-finite weights stop that member, not the run.

    Args:
        systems: the members, each built as its standalone run builds it (seeded the
            same way before its net is made).
        seeds: the seed each member was built from (stored for the log and checkpoints).
        rng_states: each member's CPU generator state right after its net was built (its
            dropout stream); None = the state now.
        own_batches: each member trains and is evaluated on its own rows
            (`fivestep.data.member_data.MemberData`: a batch is `(xs, ys)`, one `x_k`,
            `y_k` per member, None where member `k` has no batch this step), as folds
            do; the logged metrics are then the members' mean (no mean prediction).
    """

    def __init__(
        self, systems: Sequence[System], seeds: Sequence[int] | None = None,
        rng_states: Sequence[Tensor] | None = None, own_batches: bool = False,
    ) -> None:
        super().__init__()
        _refuse_unstackable(systems)
        self.members = nn.ModuleList(systems)
        first = systems[0]
        self.task, self.num_classes = first.task, first.num_classes
        self.seeds = list(seeds) if seeds is not None else None
        self.automatic_optimization = False  # one backward, one step for all members
        self.guards_its_members = True
        self.groups = stack_groups([s.net for s in systems])
        # a member with dropout draws its masks from its own copy of the global CPU
        # generator, taken right after its net was built: the stream its standalone run uses
        self._rng = [None if not has_dropout(s.net) else
                     (rng_states[k] if rng_states is not None else torch.get_rng_state())
                     for k, s in enumerate(systems)]
        self.register_buffer("failed", torch.zeros(len(systems), dtype=torch.bool))
        # stopped early (MemberEarlyStopping): not updated again, still in the ensemble
        self.register_buffer("stopped", torch.zeros(len(systems), dtype=torch.bool))
        self.val_metrics = first.val_metrics.clone()  # the ensemble's (mean prediction)
        self.test_metrics = first.test_metrics.clone()
        # the ensemble's best of each metric with a direction, as a System keeps its own
        self.val_best = best_trackers(first.val_metrics)
        self.logged_names = first.logged_names  # the ensemble logs every key a member does
        self.history: list[dict[str, list[float]]] = [{} for _ in systems]
        self.status: list[tuple[str, str] | None] = [None] * len(systems)  # (status, why)
        self._best_loss = [float("inf")] * len(systems)
        self._best_state: list[dict[str, Tensor] | None] = [None] * len(systems)
        # stacked groups' best weights, `(G, ...)` per parameter (`_keep_best`)
        self._best_stacks: dict[tuple[int, ...], dict[str, Tensor]] = {}
        self._plain: dict[tuple[int, ...], bool] = {}  # group: its nets hold only parameters
        self._schedulers: list[Any] = [None] * len(systems)  # built in configure_optimizers
        self._member_optimizers: list[torch.optim.Optimizer] = []
        self._one_optimizer: torch.optim.Optimizer | None = None
        self._scheduler_states: list[dict[str, Any] | None] | None = None
        self._params: list[list[nn.Parameter]] = []  # each member's, set with the optimizer
        self._flat: list[list[Tensor]] = []  # the same, as flat views where they allow it
        self._layers: list[nn.Module] | None = None  # what `_set_mode` flips
        self._net_params: dict[tuple[int, ...], list[dict[str, nn.Parameter]]] = {}
        # the last `member_outputs`' stacked groups, `(G, batch, out)`, by members
        self._stacked_outs: dict[tuple[int, ...], Tensor] = {}
        self._vector_losses: dict[tuple[int, ...], Any] = {}  # `_vector_loss` per group
        self.own_batches = own_batches
        # the members' metrics in one pass over a member axis, where they allow it
        # (`fivestep.models.member_metrics`); else each member's own collection
        self._stacked: dict[str, StackedMetrics | None] = {
            split: None if own_batches else
            StackedMetrics.of([getattr(s, f"{split}_metrics") for s in systems])
            for split in ("val", "test")}
        for split, stacked in self._stacked.items():
            if stacked is None:
                continue
            for system in systems:
                # the member's own collection is not used (`StackedMetrics` computes its
                # values): taken out of the module tree, kept as a plain attribute, so the
                # walks of every submodule that Lightning makes each epoch (eval/train
                # modes) skip its metrics: ~0.2 ms a member and epoch
                collection = getattr(system, f"{split}_metrics")
                delattr(system, f"{split}_metrics")
                object.__setattr__(system, f"{split}_metrics", collection)
        self._train_sum: Tensor | None = None  # per member: loss x rows, and rows
        self._train_rows: Tensor | None = None
        self._eval_sum: Tensor | None = None
        self._eval_rows: Tensor | None = None
        stacked = [g for g in self.groups if len(g) > 1]
        alone = [g[0] for g in self.groups if len(g) == 1]
        log.info("Members: %d; stacked groups %s; run one after another: %s", len(systems),
                 stacked or "none", alone or "none")

    def __len__(self) -> int:
        return len(self.members)

    # ---------------------------------------------------------------- outputs

    def member_outputs(self, x: Tensor | Sequence[Tensor | None]) -> list[Tensor | None]:
        """Each member's raw net output `(batch, out)`, from one `x: (batch, features)`
        every member takes, or from one batch per member (`own_batches`): `x[k]:
        (batch_k, features)`, None where member `k` has no batch this step (its output is
        None). Own batches of one stacked group stack by size: the members whose batches
        have the same shape run as one `vmap` over a leading member axis of `x` too (a
        fold one row shorter runs as a second stack, so no row is padded or dropped)."""
        outs: list[Tensor | None] = [None] * len(self.members)
        own = not isinstance(x, Tensor)
        self._stacked_outs = {}
        for group in self.groups:
            if own:  # the group's members with a batch, by the batch's shape
                stacks: dict[tuple[int, ...], list[int]] = {}
                for k in group:
                    if x[k] is not None:
                        stacks.setdefault(tuple(x[k].shape), []).append(k)
                subgroups = list(stacks.values())
            else:
                subgroups = [group]
            for sub in subgroups:
                if len(sub) == 1:
                    outs[sub[0]] = self._alone(sub[0], x[sub[0]] if own else x)
                    continue
                inputs = torch.stack([x[k] for k in sub]) if own else x
                nets = [self.members[k].net for k in sub]
                key = tuple(sub)
                outs_of_sub = stacked_forward(nets, inputs, per_member=own,
                                              params=self._group_params(key))
                if not own:
                    self._stacked_outs[key] = outs_of_sub
                for k, out in zip(sub, outs_of_sub, strict=True):
                    outs[k] = out
        return outs

    def _alone(self, k: int, x: Tensor) -> Tensor:
        """Member `k`'s net on `x`; in training, a net with dropout draws from its own
        generator state (swapped into the global CPU generator around its forward)."""
        net = self.members[k].net
        state = self._rng[k]
        if state is None or not self.training or x.device.type != "cpu":
            return net(x)
        outer = torch.get_rng_state()
        torch.set_rng_state(state)
        try:
            return net(x)
        finally:
            self._rng[k] = torch.get_rng_state()
            torch.set_rng_state(outer)

    def _active(self) -> list[int]:
        """The members that have not failed: the ensemble's."""
        return [k for k, bad in enumerate(self.failed.tolist()) if not bad]

    def training_members(self) -> list[int]:
        """The members still trained: neither failed nor stopped early."""
        return [k for k, done in enumerate((self.failed | self.stopped).tolist()) if not done]

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, features)` -> the ensemble's output as a net's (logit of the mean
        probability, log of the mean class probabilities, or the mean value)."""
        return self.net(x)

    @property
    def net(self) -> nn.Module:
        """The ensemble as one plain net (what `export.py` and the figures use)."""
        nets = [self.members[k].net for k in self._active()] or [m.net for m in self.members]
        return EnsembleNet(nets, self.task)

    def _member_losses(self, outs: Sequence[Tensor | None], ys: Sequence[Tensor | None]
                       ) -> tuple[list[Tensor | None], list[Tensor | None]]:
        """Each member's loss and its output as its loss took it (None without a batch):
        a stacked group whose members' losses are one plain loss of its task
        (`_vector_loss`) in one call over the member axis, the others member by member."""
        losses: list[Tensor | None] = [None] * len(outs)
        taken: list[Tensor | None] = [None] * len(outs)
        for sub, stacked in self._stacked_outs.items():
            if sub not in self._vector_losses:  # the group's losses and shapes do not change
                self._vector_losses[sub] = _vector_loss(
                    [self.members[k].loss_fn for k in sub], self.task, stacked)
            loss = self._vector_losses[sub]
            if loss is None:
                continue
            values, outputs = loss(stacked, ys[sub[0]])
            for i, k in enumerate(sub):
                losses[k], taken[k] = values[i], outputs[i]
        for k, out in enumerate(outs):
            if out is not None and losses[k] is None:
                losses[k], taken[k] = self._member_loss(k, out, ys[k])
        return losses, taken

    def _member_loss(self, k: int, output: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Member `k`'s loss as its `System` computes it; returns `(loss, y as taken)`."""
        output, y = loss_inputs(output, y, self.task)
        return self.members[k].loss_fn(output, y), output

    # ---------------------------------------------------------------- training

    def _per_member(self, batch: Sequence[Any]) -> tuple[Any, list[Tensor | None]]:
        """`(x, y)` -> `(x as member_outputs takes it, each member's y or None)`."""
        x, y = batch[0], batch[1]
        own = not isinstance(x, Tensor)
        return x, list(y) if own else [y] * len(self.members)

    def training_step(self, batch: Sequence[Any], batch_idx: int) -> None:
        """One optimizer step for every training member on its batch (see `own_batches`):
        the summed losses backward, then one step; a member without a batch this step
        (its epoch has fewer batches), failed or stopped gets no gradient (not updated)."""
        x, ys = self._per_member(batch)
        outs = self.member_outputs(x)
        losses, _ = self._member_losses(outs, ys)
        here = [loss is not None for loss in losses]
        zero = torch.zeros_like(next(loss for loss in losses if loss is not None).detach())
        values = torch.stack([zero if loss is None else loss.detach() for loss in losses])
        rows = torch.tensor([len(y) if y is not None else 0 for y in ys], dtype=values.dtype,
                            device=values.device)
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            for k in (~finite & ~self.failed).nonzero().flatten().tolist():
                self._fail(k, f"its training loss is {values[k].item():g}")
        running = self.training_members()
        active = [k for k in running if here[k]]
        optimizer = self.optimizers()
        optimizer.zero_grad()
        if active:
            self.manual_backward(torch.stack([losses[k] for k in active]).sum())
            for k in set(range(len(self.members))) - set(active):
                # stacked, a failed member's leaves got zero gradients: skip them
                for p in self._params[k]:
                    p.grad = None
            optimizer.step()
            self._check_weights(active)
        if self._train_sum is None or self._train_sum.device != values.device:
            self._train_sum = torch.zeros_like(values)
            self._train_rows = torch.zeros_like(values)
        self._train_sum.add_(torch.where(self.failed | (rows == 0), 0.0, values) * rows)
        self._train_rows.add_(rows)
        if batch_idx + 1 == self.trainer.num_training_batches:
            means = self._train_sum / self._train_rows.clamp(min=1)
            self._record("train/loss", means)
            self.log("train/loss", self._mean_of_active(means), on_step=False, on_epoch=True,
                     prog_bar=True, batch_size=1)
            self._train_sum.zero_()
            self._train_rows.zero_()
        if not running:
            log.error("Every member has failed or stopped; stopping.")
            self.trainer.should_stop = True

    def _check_weights(self, active: list[int]) -> None:
        """Mark failed the members whose weights the step made non-finite (one check of
        all the weights; member by member only when it fails)."""
        with torch.no_grad():
            weights = [w if w.dim() == 1 else w.reshape(-1) for k in active for w in self._flat[k]]
            if bool(torch.cat(weights).isfinite().all()):
                return
            sums = torch.stack([
                torch.stack([p.sum(dtype=torch.float32) for p in self._params[k]]).sum()
                for k in active
            ])
        if bool(sums.isfinite().all()):
            return
        for k, total in zip(active, sums.tolist(), strict=True):
            if not torch.isfinite(torch.tensor(total)):
                self._fail(k, "its weights are not finite after the optimizer step")

    def _fail(self, k: int, why: str) -> None:
        step = self.trainer.global_step if self._trainer else 0
        self.stop_member(k, f"failed at step {step}: {why}")

    def stop_member(self, k: int, why: str, status: str = "failed") -> None:
        """Stop member `k` for good (failed, or pruned by a sweep); the others go on.
        `status="stopped"` (early stopping): it is not updated again but stays a complete
        member, in the ensemble, with its best state."""
        if status == "stopped":
            self.stopped[k] = True
        else:
            self.failed[k] = True
            self.status[k] = (status, why)
        log.log(logging.ERROR if status == "failed" else logging.INFO,
                "Member %d %s; it stops, the others go on.", k, why)

    def configure_callbacks(self) -> list[L.Callback]:
        """Each `EarlyStopping` of the trainer acts per member (`MemberEarlyStopping`,
        which Lightning puts in its place)."""
        if self._trainer is None:
            return []
        return [MemberEarlyStopping.like(cb) for cb in self.trainer.callbacks
                if isinstance(cb, EarlyStopping) and not isinstance(cb, MemberEarlyStopping)]

    def configure_optimizers(self) -> Any:
        built = [s.optimizer_factory(s.parameters()) for s in self.members]
        kinds = {type(o) for o in built}
        if len(kinds) > 1:
            names = sorted(k.__name__ for k in kinds)
            raise UserError(f"members use different optimizers ({', '.join(names)}); train "
                            "members of one optimizer class together, the others in runs of "
                            "their own")
        groups = [g for o in built for g in o.param_groups]
        optimizer = type(built[0])(groups)
        # each member's scheduler is built on its own optimizer, whose param groups are
        # re-pointed at its groups of the one optimizer that steps (`_link_groups`)
        self._member_optimizers = built
        self._params = [list(s.parameters()) for s in self.members]  # the leaves it steps
        # flat views of them, made once: the optimizer and restores change them in place
        self._flat = [[p.detach().view(-1) if p.is_contiguous() else p.detach() for p in ps]
                      for ps in self._params]
        self._one_optimizer = optimizer
        self._link_groups()
        self._schedulers = [None if s.scheduler_factory is None else s.scheduler_factory(o)
                            for s, o in zip(self.members, built, strict=True)]
        if self._scheduler_states is not None:  # resuming: each member's schedule goes on
            for scheduler, state in zip(self._schedulers, self._scheduler_states, strict=True):
                if scheduler is not None and state is not None:
                    scheduler.load_state_dict(state)
        return optimizer

    def _link_groups(self) -> None:
        """Member `k`'s own optimizer (what its scheduler holds) given its param-group
        dicts of the one optimizer, so its scheduler sets the lr of exactly its own groups.
        Done again before every scheduler step: restoring a checkpoint
        (`Optimizer.load_state_dict`) gives the one optimizer new group dicts."""
        start = 0
        for member in self._member_optimizers:
            stop = start + len(member.param_groups)
            member.param_groups = self._one_optimizer.param_groups[start:stop]
            start = stop

    def _set_mode(self, training: bool) -> None:
        """Train or eval mode for this module, each member and each member's net (every
        layer of it): what the evaluation loops would set on every submodule, less the
        members' metric modules, which do not read it (walking them costs about 1 ms a
        member each epoch)."""
        if self._layers is None:  # each member, its net and every layer of it
            self._layers = [m for s in self.members for m in (s, *s.net.modules())]
        self.training = self.members.training = training
        for layer in self._layers:
            object.__setattr__(layer, "training", training)  # what Module.train sets

    def on_validation_model_zero_grad(self) -> None:
        """The members' gradients released before validation, as Lightning does with
        `zero_grad()`, without walking every metric module for them."""
        for params in self._params:
            for p in params:
                p.grad = None

    def on_validation_model_eval(self) -> None:
        self._set_mode(False)

    def on_validation_model_train(self) -> None:
        self._set_mode(True)

    def on_test_model_eval(self) -> None:
        self._set_mode(False)

    def on_test_model_train(self) -> None:
        self._set_mode(True)

    def on_train_epoch_end(self) -> None:
        """Step each training member's scheduler once per epoch, after validation, where
        Lightning steps a standalone run's (`ReduceLROnPlateau` on the member's own
        `val/loss`). A member that has stopped or failed keeps its last lr."""
        if any(s is not None for s in self._schedulers):
            self._link_groups()
        training = self.training_members()
        for k, scheduler in enumerate(self._schedulers):
            if scheduler is None or k not in training:
                continue
            with warnings.catch_warnings():
                # the member's own optimizer object never steps (the one optimizer holding
                # its groups does), which torch takes for a call out of order
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler")
                if isinstance(scheduler, ReduceLROnPlateau):
                    losses = self.history[k].get("val/loss")
                    if not losses:
                        raise UserError("model/scheduler=plateau watches val/loss, but this "
                                        "run has no validation split; set data.val_fraction > 0")
                    scheduler.step(losses[-1])
                else:
                    scheduler.step()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["member_schedulers"] = [None if s is None else s.state_dict()
                                           for s in self._schedulers]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._scheduler_states = checkpoint.get("member_schedulers")

    # ---------------------------------------------------------------- evaluation

    def _eval_step(self, batch: Sequence[Any], split: str) -> None:
        x, ys = self._per_member(batch)
        outs = self.member_outputs(x)
        member_losses, taken = self._member_losses(outs, ys)
        losses, preds, rows = [], [], []
        for k, out in enumerate(outs):
            if out is None:  # no rows of member k in this batch
                losses.append(None)
                preds.append(None)
                rows.append(0)
                continue
            y = ys[k]
            losses.append(member_losses[k].detach())
            pred = predictions(taken[k].detach(), self.task)
            preds.append(pred)
            rows.append(len(y))
            if self._stacked[split] is None:
                target = y if self.task == "regression" else y.long()
                getattr(self.members[k], f"{split}_metrics").update(pred, target)
        stacked = self._stacked[split]
        if stacked is not None:  # one x, one y: every member has its predictions
            stacked.update(torch.stack(preds), ys[0])
        zero = torch.zeros_like(next(loss for loss in losses if loss is not None))
        values = torch.stack([zero if loss is None else loss for loss in losses])
        counts = torch.tensor(rows, dtype=values.dtype, device=values.device)
        if self._eval_sum is None or self._eval_sum.device != values.device:
            self._eval_sum = torch.zeros_like(values)
            self._eval_rows = torch.zeros_like(values)
        self._eval_sum.add_(values * counts)
        self._eval_rows.add_(counts)
        if self.own_batches:  # members see other rows: no mean prediction to score
            return
        y = ys[0]
        active = self._active() or list(range(len(outs)))
        mean = torch.stack([preds[k] for k in active]).mean(0)
        getattr(self, f"{split}_metrics").update(mean, y if self.task == "regression" else y.long())

    def _eval_epoch_end(self, split: str) -> dict[str, Tensor]:
        losses = self._eval_sum / self._eval_rows.clamp(min=1)
        self._eval_sum.zero_()
        self._eval_rows.zero_()
        stacked = self._stacked[split]
        if stacked is not None:
            values = stacked.compute()  # {key: (members,)}
            stacked.reset()
        else:
            per_member: list[dict[str, Tensor]] = []
            for system in self.members:
                metrics = getattr(system, f"{split}_metrics")
                per_member.append(metrics.compute())
                metrics.reset()
            values = {key: torch.stack([m[key] for m in per_member]) for key in per_member[0]}
        active = self._active() or list(range(len(self.members)))
        if self.own_batches:  # each member on its own rows: the members' mean
            logged = {key: value[active].float().mean() for key, value in values.items()}
        else:
            logged = dict(getattr(self, f"{split}_metrics").compute())
            getattr(self, f"{split}_metrics").reset()
        logged[f"{split}/loss"] = self._mean_of_active(losses)
        for key, value in values.items():
            of_active = value[active].float()
            if not self.own_batches:  # with own batches, `key` itself is the members' mean
                logged[f"{key}_members_mean"] = of_active.mean()
            logged[f"{key}_members_std"] = of_active.std(unbiased=False)
        sanity = self._trainer is not None and self.trainer.sanity_checking
        if not sanity:
            self._record(f"{split}/loss", losses)
            for key, value in values.items():
                self._record(key, value)
        return logged

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        logged = self._eval_epoch_end("val")
        if not self.trainer.sanity_checking:
            training = self.training_members()
            improved = []
            for k in training:
                system = self.members[k]
                for name, best in system.val_best.items():
                    value = self.history[k][f"val/{name}"][-1]
                    before = self.history[k].get(f"val/{name}_best")
                    # the tracker is told only an improvement: the same best, fewer updates
                    if before is None or _better(best, value, before[0]):
                        best.update(value)
                        self.history[k][f"val/{name}_best"] = [float(best.compute())]
                loss = self.history[k]["val/loss"][-1]
                if loss < self._best_loss[k]:  # as ModelCheckpoint(monitor=val/loss, mode=min)
                    self._best_loss[k] = loss
                    improved.append(k)
            self._keep_best(improved)
            for name, best in self.val_best.items():
                best.update(logged[f"val/{name}"])
        for name, best in self.val_best.items():  # the ensemble's best so far
            if not self.trainer.sanity_checking or best.update_called:
                logged[f"val/{name}_best"] = best.compute()
        self.log_dict(logged, prog_bar=False)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._eval_epoch_end("test"))

    def predict_step(self, batch: Tensor | tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """The members' mean prediction: binary `(batch,)` probabilities, multi-class
        `(batch, K)`, regression `(batch,)` values."""
        x = batch[0] if isinstance(batch, tuple | list) else batch
        return predictions(self.net(x), self.task)

    # ---------------------------------------------------------------- per member

    def _record(self, key: str, values: Tensor) -> None:
        """Append member `k`'s value of `key`; a member that has failed or stopped keeps
        its history as it was then (new keys, such as the test metrics, are added)."""
        training = set(self.training_members())
        for k, value in enumerate(values.tolist()):
            if k in training or key not in self.history[k]:
                self.history[k].setdefault(key, []).append(float(value))

    def _mean_of_active(self, values: Tensor) -> Tensor:
        active = self._active()
        return values[active].mean() if active else values.mean()

    def _keep_best(self, improved: list[int]) -> None:
        """A copy of the weights of each member in `improved` (a new lowest `val/loss`).

        The members of a stacked group whose nets hold only parameters keep theirs in one
        `(G, ...)` tensor per parameter, written for the improved rows with one
        `index_copy_` per parameter; the other members keep a copy of their own
        `state_dict()` (which also holds buffers and extra state)."""
        if not improved:
            return
        chosen = set(improved)
        for group in self.groups:
            rows = [i for i, k in enumerate(group) if k in chosen]
            if not rows:
                continue
            params = self._plain_params(group)
            if params is None:
                for i in rows:
                    net = self.members[group[i]].net
                    self._best_state[group[i]] = {n: t.detach().clone()
                                                  for n, t in net.state_dict().items()}
                continue
            key = tuple(group)
            store = self._best_stacks.get(key)
            with torch.no_grad():
                if store is None:
                    store = self._best_stacks[key] = {
                        n: torch.stack([p[n] for p in params]).detach().clone()
                        for n in params[0]}
                    continue  # every row holds the weights now; the unimproved are unread
                index = torch.tensor(rows, device=next(iter(store.values())).device)
                for n, kept in store.items():
                    kept.index_copy_(0, index, torch.stack([params[i][n] for i in rows]))

    def _group_params(self, key: tuple[int, ...]) -> list[dict[str, nn.Parameter]]:
        """Each net's `dict(named_parameters())` of the members `key`, found once."""
        if key not in self._net_params:
            self._net_params[key] = [dict(self.members[k].net.named_parameters()) for k in key]
        return self._net_params[key]

    def _plain_params(self, group: list[int]) -> list[dict[str, nn.Parameter]] | None:
        """The group's nets' parameters by name (`_group_params`) when it is stacked and
        its nets' state is exactly their parameters (no buffers, no extra state); else None."""
        key = tuple(group)
        if key not in self._plain:
            params = self._group_params(key)
            self._plain[key] = len(group) > 1 and all(
                list(self.members[k].net.state_dict(keep_vars=True)) == list(p)
                for k, p in zip(group, params, strict=True))
        return self._group_params(key) if self._plain[key] else None

    def best_state(self, k: int) -> dict[str, Tensor] | None:
        """Member `k`'s net weights at its lowest validation loss (None before validation)."""
        if self._best_loss[k] == float("inf"):
            return None
        for key, store in self._best_stacks.items():
            if k in key:
                row = key.index(k)
                return {n: kept[row] for n, kept in store.items()}
        return self._best_state[k]

    def use_best_weights(self) -> None:
        """Every member's net set to its weights at its lowest `val/loss`, as a
        standalone run tests its best checkpoint."""
        for k, system in enumerate(self.members):
            state = self.best_state(k)
            if state is not None:
                system.net.load_state_dict(state)

    def member_metrics(self, k: int) -> dict[str, float]:
        """Member `k`'s last value of every key, as a standalone run's metrics.json holds."""
        return {key: values[-1] for key, values in self.history[k].items()}


class EnsembleNet(nn.Module):
    """The members' nets as one net whose `predictions` are the members' mean prediction.

    Args:
        nets: the members' nets, `(batch, features)` -> `(batch, out)`.
        task: "binary", "multiclass" or "regression".
    """

    def __init__(self, nets: Sequence[nn.Module], task: str) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.task = task

    def forward(self, x: Tensor) -> Tensor:
        """`x: (batch, features)` -> `(batch, 1)` logit of the mean probability (binary),
        `(batch, K)` log mean probabilities (multi-class), `(batch, 1)` mean value."""
        outs = [net(x) for net in self.nets]
        if self.task == "regression":
            return torch.stack(outs).mean(0)
        mean = torch.stack([predictions(o, self.task) for o in outs]).mean(0)
        if self.task == "binary":
            return torch.logit(mean).reshape(-1, 1)
        return torch.log(mean)


def has_dropout(net: nn.Module) -> bool:
    """Whether `net` draws random numbers in training (a dropout layer with `p > 0`)."""
    return any(isinstance(m, DROPOUTS) and m.p > 0 for m in net.modules())


def _better(tracker: Any, value: float, best: float) -> bool:
    """Whether `value` improves on `best` for a `MaxMetric`/`MinMetric` tracker
    (a NaN value does not: the tracker ignores it)."""
    if value != value:
        return False
    return value > best if isinstance(tracker, MaxMetric) else value < best


_PLAIN_LOSSES = {"binary": nn.BCEWithLogitsLoss, "regression": nn.MSELoss,
                 "multiclass": nn.CrossEntropyLoss}


def _vector_loss(fns: Sequence[nn.Module], task: str, stacked: Tensor) -> Any:
    """For members whose losses are all their task's plain loss (`BCEWithLogitsLoss`,
    `MSELoss`, `CrossEntropyLoss` with no weights, smoothing or other reduction than the
    mean) and whose stacked output is `(G, batch, 1)` (`(G, batch, K)` for classes): a
    function `(stacked, y) -> ((G,) losses, (G, batch[, K]) outputs as taken)`, each
    member's loss the mean over its rows, as its own loss computes it. Else None."""
    kind = _PLAIN_LOSSES[task]
    for fn in fns:
        if type(fn) is not kind or fn.reduction != "mean":
            return None
        if getattr(fn, "weight", None) is not None or getattr(fn, "pos_weight", None) is not None:
            return None
        if kind is nn.CrossEntropyLoss and (fn.label_smoothing != 0 or fn.ignore_index != -100):
            return None
    if stacked.dim() != 3 or (task != "multiclass" and stacked.shape[-1] != 1):
        return None

    def losses(out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        members, rows = out.shape[0], out.shape[1]
        if task == "multiclass":
            values = nn.functional.cross_entropy(
                out.flatten(0, 1), y.long().repeat(members), reduction="none")
            return values.view(members, rows).mean(1), out
        out = out[..., 0]
        target = y.to(out.dtype).expand(members, rows)
        if task == "binary":
            values = nn.functional.binary_cross_entropy_with_logits(out, target, reduction="none")
        else:
            values = nn.functional.mse_loss(out, target, reduction="none")
        return values.mean(1), out

    return losses


def stack_groups(nets: Sequence[nn.Module]) -> list[list[int]]:
    """Indices of the nets grouped by what can run as one stacked computation: the same
    type and the same parameter and buffer names, shapes and dtypes. A net with dropout
    runs alone: its masks must come from its own generator, in its standalone order."""
    groups: dict[Any, list[int]] = {}
    for k, net in enumerate(nets):
        if has_dropout(net):
            groups[("alone", k)] = [k]
            continue
        shape = (type(net),
                 tuple((n, tuple(p.shape), p.dtype) for n, p in net.named_parameters()),
                 tuple((n, tuple(b.shape), b.dtype) for n, b in net.named_buffers()))
        groups.setdefault(shape, []).append(k)
    return list(groups.values())


def stacked_forward(nets: Sequence[nn.Module], x: Tensor, per_member: bool = False,
                    params: Sequence[dict[str, Tensor]] | None = None) -> Tensor:
    """Nets of one shape on the same `x: (batch, features)` as one `vmap`: `(G, batch, out)`;
    with `per_member`, net `g` on its own `x[g]` of `x: (G, batch, features)`.

    The parameters are stacked here, from each net's own leaves, so autograd sends each
    net its own gradient; `nets[0]` serves as the module `functional_call` runs.
    `params`: each net's `dict(named_parameters())`, if the caller keeps them.
    """
    per_net = params if params is not None else [dict(net.named_parameters()) for net in nets]
    stacked = {n: torch.stack([p[n] for p in per_net]) for n in per_net[0]}
    buffers = {n: torch.stack([dict(net.named_buffers())[n] for net in nets])
               for n, _ in nets[0].named_buffers()}

    def one(p: dict[str, Tensor], b: dict[str, Tensor], rows: Tensor) -> Tensor:
        return functional_call(nets[0], (p, b), (rows,))

    return vmap(one, in_dims=(0, 0, 0 if per_member else None))(stacked, buffers, x)


def _refuse_unstackable(systems: Sequence[System]) -> None:
    """Refuse, with the fix, what members cannot do together (module docstring)."""
    if not systems:
        raise UserError("members: no member to train; set model.members to 1 or more")
    if len({(s.task, s.num_classes) for s in systems}) > 1:
        raise UserError("members must share one task and number of classes (one dataset)")
    for k, s in enumerate(systems):
        if getattr(s.optimizer_factory, "func", s.optimizer_factory) is torch.optim.LBFGS:
            raise UserError(f"member {k}: model/optimizer=lbfgs cannot train as a member (its "
                            "closure re-evaluates one model); train it in a run of its own")
        if s.step_batch_size is not None:
            raise UserError(f"member {k}: model.step_batch_size cannot train as a member; "
                            "set model.step_batch_size=null")


def build_systems(model_cfg: DictConfig, seeds: Sequence[int]) -> tuple[list[System], list[Tensor]]:
    """One `System` per seed, each built from `model_cfg` right after
    `L.seed_everything(seed)`, as `fivestep.train` builds a standalone run's model; and
    the CPU generator's state right after each (its dropout stream)."""
    from fivestep.config.instantiate import build

    systems, states = [], []
    for seed in seeds:
        L.seed_everything(seed, workers=True, verbose=False)
        systems.append(build(model_cfg))
        states.append(torch.get_rng_state())
    return systems, states


class SeedEnsemble(Members):
    """`model.members=K`: K seeds of one model config, predicting with their mean.

    The config a checkpoint stores is this class's node (`system` is the member's model
    config), so `eval.py`, `predict.py` and `export.py` rebuild the ensemble with
    `hydra.utils.instantiate` as they rebuild any model, then load its weights.

    Args:
        system: the model config of one member (a `System` node), sized from the data.
        members: K, the number of seeds.
        seed: member k is built from seed `seed + k` (member 0 is the run's own model).
    """

    def __init__(self, system: DictConfig, members: int, seed: int = 0) -> None:
        if members < 1:
            raise UserError(f"model.members={members} must be 1 or more")
        seeds = [seed + k for k in range(members)]
        state = torch.random.get_rng_state()
        systems, states = build_systems(system, seeds)
        torch.random.set_rng_state(state)
        super().__init__(systems, seeds, states)


def take_members(cfg: DictConfig) -> int | None:
    """Remove `model.members` from `cfg` (it is no argument of `System`) and return it:
    K for a seed ensemble of K members, None for one model."""
    members = cfg.model.get("members")
    if "members" in cfg.model:
        with open_dict(cfg.model):
            del cfg.model["members"]
    if members is not None and (isinstance(members, bool) or not isinstance(members, int)
                                or members < 1):
        raise UserError(f"model.members={members!r} must be a whole number of seeds, 1 or more")
    return members


def seed_ensemble_config(
    model_cfg: DictConfig, members: int | None, seed: int | None
) -> DictConfig:
    """The `SeedEnsemble` node that builds `members` seeds of `model_cfg` (a `System`
    node, sized from the data); `model_cfg` itself when `members` is None."""
    if members is None:
        return model_cfg
    return OmegaConf.create({"_target_": f"{__name__}.SeedEnsemble", "_recursive_": False,
                             "system": model_cfg, "members": members, "seed": seed or 0})
