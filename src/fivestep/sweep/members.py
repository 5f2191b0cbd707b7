"""`train_trials`: several runs' configs (a sweep's batch of trials) trained as the
members of one `fivestep.models.members.Members` run, each leaving what its
standalone `train()` leaves: a `metrics.json` with its own metrics (its last epoch's
values, `val/<metric>_best`, and the test metrics of its weights at its lowest
`val/loss`, the epoch a standalone run's best checkpoint holds), and that best
checkpoint, which `eval.py`, `predict.py` and `export.py` load as any other.

Each member is built as `train()` builds a standalone run's model: `seed_everything`
with its own seed, then its DataModule and model from its own config. They train on
one DataModule, so their `data` and `trainer` configs must be equal (the learning
rate, the optimizer's settings, the net's sizes and the seed may differ); otherwise
`UserError` says which key differs. With `own_data` (the folds of `data.fold=members`,
`fivestep.sweep.fold_members`) each member has its own DataModule, and only the
`trainer` configs must be equal.

The optional `trials` are Optuna trials: each member reports its `monitor` value per
epoch to its own trial, and a member its pruner prunes stops alone (status "pruned").
"""

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping
from omegaconf import DictConfig, OmegaConf

from fivestep.checkpointing.run_state import KEY, plain_config
from fivestep.config.checks import check_types
from fivestep.config.instantiate import build
from fivestep.config.sizes import sized_from_data
from fivestep.data.member_data import MemberData
from fivestep.errors import UserError
from fivestep.models.members import Members

log = logging.getLogger(__name__)

SHARED = ("data", "trainer")  # what members of one run cannot differ in
PER_JOB = {"trainer": ("default_root_dir",)}  # job folders: differ, and change nothing trained


def _shared(cfg: DictConfig, key: str) -> dict[str, Any]:
    """`cfg[key]` resolved, without the keys that name the job's own folder."""
    node = OmegaConf.to_container(cfg.get(key), resolve=True) or {}
    return {k: v for k, v in node.items() if k not in PER_JOB.get(key, ())}


class MemberPruning(L.Callback):
    """Report each member's `monitor` to its own Optuna trial after every validation;
    stop a member its trial's pruner prunes (the others go on).

    Args:
        trials: one Optuna trial (or None: no reports) per member.
        monitor: the metric reported, e.g. `val/acc_best`.
    """

    def __init__(self, trials: Sequence[Any], monitor: str) -> None:
        self.trials, self.monitor = list(trials), monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, Members):
            return
        epoch = trainer.current_epoch
        for k, trial in enumerate(self.trials):
            values = pl_module.history[k].get(self.monitor)
            if trial is None or pl_module.failed[k] or not values:
                continue
            trial.report(values[-1], step=epoch)
            if trial.should_prune():
                pl_module.stop_member(
                    k, f"trial {trial.number} pruned at epoch {epoch}: {self.monitor}="
                    f"{values[-1]:.4f}", status="pruned")
        if bool(pl_module.failed.all()):
            trainer.should_stop = True


def train_trials(
    cfgs: Sequence[DictConfig], trials: Sequence[Any] | None = None, own_data: bool = False,
    copy: bool = True,
) -> list[dict[str, Any]]:
    """Train `cfgs` as members of one run; per config its result:
    `{"status": "complete" | "failed" | "pruned", "metrics": {...}, "why": ...}`.

    With `own_data`, each member trains and is evaluated on its own DataModule, built
    from its own `data` config (the folds of `data.fold=members`), batch by batch beside
    the others (`fivestep.data.member_data.MemberData`); only the `trainer` configs must
    then be equal. Without `own_data` the members share one DataModule, built once.
    `copy=False`: the configs are the caller's own, changed here (their `model` sized
    from the data) rather than copied first."""
    cfgs = [cfg.copy() for cfg in cfgs] if copy else list(cfgs)
    if any((cfg.get("data") or {}).get("fold") == "members" for cfg in cfgs):
        raise UserError("data.fold=members trains a run's folds as members; its trials cannot "
                        "be members too: set hydra.sweeper.members=false")
    _refuse_unshared(cfgs, ("trainer",) if own_data else SHARED)
    systems, states, datamodules = [], [], []
    for cfg in cfgs:
        check_types(cfg)
        if cfg.get("seed") is not None:
            L.seed_everything(cfg.seed, workers=True, verbose=False)
        if own_data or not datamodules:  # equal `data` configs: one DataModule serves all
            datamodules.append(build(cfg.data))
        cfg.model = sized_from_data(cfg.model, datamodules[-1].shape())
        systems.append(build(cfg.model))
        states.append(torch.get_rng_state())  # its dropout stream, as its standalone run's
    model = Members(systems, [cfg.get("seed") for cfg in cfgs], states, own_batches=own_data)
    datamodule = MemberData(datamodules) if own_data else datamodules[-1]
    monitor = cfgs[0].get("optimized_metric")
    callbacks = [*early_stopping(cfgs[0]),
                 *([MemberPruning(trials, monitor)] if trials and monitor else [])]
    trainer: L.Trainer = build(
        cfgs[0].trainer, callbacks=callbacks, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    if cfgs[0].get("train", True):
        trainer.fit(model, datamodule=datamodule)
    model.use_best_weights()  # what a standalone run tests: its best checkpoint's weights
    if cfgs[0].get("test", True):
        trainer.test(model, datamodule=datamodule, verbose=False)
    results = []
    for k, cfg in enumerate(cfgs):
        out = Path(cfg.paths.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        metrics = model.member_metrics(k)
        status, why = model.status[k] or ("complete", None)
        summary: dict[str, Any] = {"metrics": metrics, "best_checkpoint": None}
        if status == "complete":
            summary["best_checkpoint"] = str(_write_checkpoint(
                model, k, cfg, datamodules[k] if own_data else datamodule, trainer))
        else:
            summary.update(status=status, error=why)
        (out / "metrics.json").write_text(json.dumps(summary, indent=2))
        results.append({"status": status, "metrics": metrics, "why": why})
    return results


def early_stopping(cfg: DictConfig) -> list[EarlyStopping]:
    """The config's `EarlyStopping` callbacks (the tabular recipe's
    `callbacks.early_stopping`), which `Members` applies per member; the config's other
    callbacks (checkpoints, figures) a member run does not use."""
    nodes = (cfg.get("callbacks") or {}).values()
    built = [build(node) for node in nodes
             if isinstance(node, DictConfig) and "EarlyStopping" in str(node.get("_target_"))]
    return [cb for cb in built if isinstance(cb, EarlyStopping)]


def _write_checkpoint(model: Members, k: int, cfg: DictConfig, datamodule: Any,
                      trainer: L.Trainer) -> Path:
    """Member `k` at its best weights as a standalone run's checkpoint (weights, config,
    the DataModule's fitted state): what `restore` reads."""
    path = Path(cfg.paths.output_dir) / "checkpoints" / "best.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "state_dict": model.members[k].state_dict(),
        KEY: {"config": plain_config(cfg), "choices": {}, "job": None},
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "pytorch-lightning_version": L.__version__,
        type(datamodule).__qualname__: datamodule.state_dict(),
    }
    temporary = path.with_suffix(".tmp")
    torch.save(checkpoint, temporary)
    temporary.replace(path)  # all or nothing
    return path


def shared_runs(cfgs: Sequence[DictConfig]) -> list[list[int]]:
    """Indices of `cfgs` grouped by equal `data` and `trainer` configs: each group can
    train as the members of one run (a trial alone in its group trains alone)."""
    runs: dict[str, list[int]] = {}
    for k, cfg in enumerate(cfgs):
        key = json.dumps([_shared(cfg, n) for n in SHARED], sort_keys=True, default=str)
        runs.setdefault(key, []).append(k)
    return list(runs.values())


def _refuse_unshared(cfgs: Sequence[DictConfig], shared: Sequence[str] = SHARED) -> None:
    """One DataModule and one Trainer serve every member: their configs must be equal."""
    first = cfgs[0]
    for k, cfg in enumerate(cfgs[1:], start=1):
        for key in shared:
            a, b = _shared(first, key), _shared(cfg, key)
            if a != b:
                differ = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
                raise UserError(
                    f"members share one {key} config, but member {k} differs in "
                    f"{', '.join(f'{key}.{n}' for n in differ)}; sweep those in runs of their "
                    "own (hydra.sweeper.members=false)"
                )
