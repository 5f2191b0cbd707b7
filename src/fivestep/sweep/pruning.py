"""Per-epoch reports of an Optuna trial, so that its pruner can stop a bad trial early.

`trial_callbacks(cfg)` is what `train()` calls: it returns `[OptunaPruning(...)]` when
this run is a trial of the fivestep Optuna sweeper, and `[]` otherwise. The trial is
found through the job's Hydra config, which holds the sweeper's storage and study
name, and the job number, which the sweeper sets to the trial number. That works in
the sweeper's own process (basic launcher) and in others (joblib, submitit) alike,
as long as they can reach the storage.
"""

import logging

import lightning as L
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fivestep.sweep.study import open_study, trial_by_number

log = logging.getLogger(__name__)

SWEEPER = "hydra_plugins.fivestep_optuna.optuna_sweeper.OptunaSweeper"


class OptunaPruning(L.Callback):
    """Report `monitor` after every validation; raise `optuna.TrialPruned` when told to.

    The exception leaves `trainer.fit`, the job ends as failed with it, and the
    sweeper records the trial as PRUNED. Under DDP (more than one process) pruning is
    off: every rank would have to stop together, and only rank 0 runs this callback.
    """

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:
            log.warning("Optuna pruning is off under DDP (world size %d).", trainer.world_size)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.world_size > 1:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            message = f"epoch {epoch}: {self.monitor}={float(value):.4f}"
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at {message}")


def trial_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """`[OptunaPruning]` when this run is a trial of the Optuna sweeper, else `[]`."""
    if not HydraConfig.initialized():
        return []
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    if hydra_cfg.mode != RunMode.MULTIRUN or sweeper.get("_target_") != SWEEPER:
        return []
    if not cfg.get("optimized_metric") or not sweeper.get("pruner"):
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(sweeper, hydra_cfg.sweep.dir, create=False)
    return [OptunaPruning(trial_by_number(study, hydra_cfg.job.num), cfg.optimized_metric)]
