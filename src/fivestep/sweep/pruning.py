"""Per-epoch reports of an Optuna trial, so that its pruner can stop a bad trial early.

`trial_callbacks(cfg)` is what `train()` calls: it returns `[OptunaPruning(...)]` when
this run is a trial of the fivestep Optuna sweeper, and `[]` otherwise. The trial is
found through the job's Hydra config, which holds the sweeper's storage and study
name, and the job number, which the sweeper sets to the trial number. That works in
the sweeper's own process (basic launcher) and in others (joblib, submitit) alike,
as long as they can reach the storage.
"""

import logging
import os

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
    sweeper records the trial as PRUNED. Under DDP every rank holds this callback:
    rank 0 reports the (synced) value and asks the pruner, then broadcasts its answer,
    so all ranks stop after the same epoch (a rank that went on alone would wait
    forever for the others in its next collective). The child ranks Lightning starts
    need no trial (`trial=None`) and exit quietly; ranks started by SLURM (`srun`) each
    hold the trial and raise like rank 0.
    """

    def __init__(self, trial: optuna.Trial | None, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        verdict: str | None = None  # why to stop, or None to go on
        if trainer.is_global_zero and self.trial is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is not None:
                epoch = trainer.current_epoch
                self.trial.report(float(value), step=epoch)
                if self.trial.should_prune():
                    verdict = (
                        f"trial {self.trial.number} pruned at epoch {epoch}: "
                        f"{self.monitor}={float(value):.4f}"
                    )
        if trainer.world_size > 1:
            verdict = trainer.strategy.broadcast(verdict, src=0)
        if verdict is not None:
            log.info("Rank %d stops: %s", trainer.global_rank, verdict)
            if self.trial is None:
                # a rank Lightning started as a child process: leave with exit code 0, since
                # Lightning kills rank 0 (the sweeper's process) when a child exits with an error
                raise SystemExit(0)
            raise optuna.TrialPruned(verdict)


NO_PRUNING = "optuna.pruners.NopPruner"


def reports_epochs(sweeper: DictConfig) -> bool:
    """Whether a trial reports `optimized_metric` to its study after every epoch
    (`hydra.sweeper.report_epochs`): `auto` when the pruner can prune (not with
    `hydra/sweeper/pruner=none`, where the reports would only be a record, each a write
    to the study's storage: about 5 ms with SQLite), `true` always, `false` never."""
    setting = sweeper.get("report_epochs", "auto")
    pruner = sweeper.get("pruner")
    if setting == "auto":
        return bool(pruner) and pruner.get("_target_") != NO_PRUNING
    return bool(setting) and bool(pruner)


# Set by a trial's rank 0 for the DDP ranks Lightning starts as child processes (they
# run the job as a single run, not as a multirun job, so they cannot find the trial):
# its value is the monitored metric, and it tells them to take part in the decision.
RANKS_ENV = "FIVESTEP_OPTUNA_PRUNING"


def trial_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """`[OptunaPruning]` when this run is a trial of the Optuna sweeper (or a DDP rank
    of one), else `[]`."""
    if not HydraConfig.initialized():
        return []
    hydra_cfg = HydraConfig.get()
    sweeper = hydra_cfg.sweeper
    if hydra_cfg.mode != RunMode.MULTIRUN:
        monitor = os.environ.get(RANKS_ENV)
        if monitor and int(os.environ.get("LOCAL_RANK", "0")) > 0:  # a child rank of a trial
            return [OptunaPruning(None, monitor)]
        return []
    os.environ.pop(RANKS_ENV, None)  # left by an earlier trial of this sweeper process
    if sweeper.get("_target_") != SWEEPER:
        return []
    if not cfg.get("optimized_metric") or not reports_epochs(sweeper):
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(sweeper, hydra_cfg.sweep.dir, create=False)
    os.environ[RANKS_ENV] = str(cfg.optimized_metric)
    return [OptunaPruning(trial_by_number(study, hydra_cfg.job.num), cfg.optimized_metric)]
