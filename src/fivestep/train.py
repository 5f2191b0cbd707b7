"""`train(cfg)`: the training entry point as a library function.

Reads top to bottom: check the config, prepare the resume (if `ckpt_path` is set),
seed, build the datamodule, size the model from the data, build the model, the
callbacks and loggers, the trainer; fit; test the best checkpoint; on a table, fit the
baselines on the same split; return the metrics.
The root `train.py` only wraps it with `@hydra.main`. Each step that changes the
config assigns the result back to `cfg`, so the config `RunState` stores in every
checkpoint is the one the run used.
"""

import json
import logging
from pathlib import Path

import lightning as L
from omegaconf import DictConfig

from fivestep.checkpointing.atomic_io import AtomicCheckpointIO
from fivestep.checkpointing.resume import prepare_resume
from fivestep.checkpointing.run_state import RunState
from fivestep.config.checks import check_types
from fivestep.config.instantiate import build, instantiate_all
from fivestep.config.sizes import sized_from_data
from fivestep.config.tree import print_config_tree
from fivestep.models.dry_forward import check_output
from fivestep.models.members import seed_ensemble_config, take_members
from fivestep.models.metrics import check_objective
from fivestep.monitoring.baselines import fit_baselines, verdict
from fivestep.monitoring.finite_guard import FiniteGuard
from fivestep.monitoring.hparams import flat_hparams, log_hparams
from fivestep.monitoring.mlflow_run import finish_mlflow, prepare_mlflow
from fivestep.sweep.ddp_relaunch import relaunch_ranks_as_this_job
from fivestep.sweep.fold_members import folds_as_members, train_folds
from fivestep.sweep.trial import trial_callbacks
from fivestep.tuning import find_lr

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model, test the best checkpoint, return every logged metric."""
    if folds_as_members(cfg):  # data.fold=members: the k folds as members of one run
        return train_folds(cfg)
    members = take_members(cfg)  # +model.members=K: a seed ensemble, built below
    check_types(cfg)
    cfg, resume = prepare_resume(cfg)  # ckpt_path: where the run goes on, checked now
    if (cfg.get("extras") or {}).get("print_config"):
        print_config_tree(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())  # reads the data: bad input stops
    cfg.model = seed_ensemble_config(cfg.model, members, cfg.get("seed"))  # K seeds as one model
    log.info("Instantiating model <%s>", cfg.model._target_)
    model: L.LightningModule = build(cfg.model)
    check_objective(cfg.get("optimized_metric"), getattr(model, "logged_names", None))
    check_output(model, datamodule)  # a net whose output does not fit the data stops here
    if resume:
        resume.check_fits(model)

    cfg = prepare_mlflow(cfg, in_place=bool(resume and resume.in_place))  # MLflow: tags, run_id
    # RunState stores the config and RNG states in every checkpoint (and restores the
    # RNGs on resume); FiniteGuard stops a run whose loss or weights go NaN/inf (and marks
    # its metrics.json failed); the checkpoint writer (`checkpoint_io`, PacedCheckpointIO by
    # default) makes each write all-or-nothing and paces the writes.
    callbacks = [*instantiate_all(cfg.get("callbacks")), RunState(cfg),
                 FiniteGuard(cfg.paths.output_dir), *trial_callbacks(cfg)]
    loggers = instantiate_all(cfg.get("logger"))
    checkpoint_io = build(cfg.checkpoint_io) if cfg.get("checkpoint_io") else AtomicCheckpointIO()
    trainer: L.Trainer = build(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[checkpoint_io]
    )
    relaunch_ranks_as_this_job(trainer.world_size)  # DDP in a multirun: extra ranks run this job
    cfg = find_lr(cfg, trainer, model, datamodule, resuming=resume is not None)  # lr_find=true
    log_hparams(trainer.loggers, flat_hparams(cfg))

    if cfg.get("train", True):
        ckpt_path = str(resume.path) if resume else None
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if not best:
            log.warning("No best checkpoint: testing the weights as they are now.")
    else:  # test the weights of ckpt_path (or, without one, the model as initialised)
        best = str(resume.path) if resume else ""
        if not resume:
            log.warning("train=false without ckpt_path: testing the model as initialised.")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.get("test", True):
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if getattr(datamodule, "raw_rows", False) and trainer.is_global_zero:  # tables
        metrics.update(fit_baselines(cfg.get("baselines") or {}, datamodule, model, trainer))
    finish_mlflow(trainer.loggers, cfg.paths.output_dir, best)  # MLflow: figures, best ckpt tag
    log.info("Final metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    if (warning := verdict(metrics, getattr(model, "task", ""))) is not None:
        log.warning(warning)
    if trainer.is_global_zero:  # read back by sweeps (summary table, best checkpoint)
        summary = {"metrics": metrics, "best_checkpoint": best or None}
        (Path(cfg.paths.output_dir) / "metrics.json").write_text(json.dumps(summary, indent=2))
    objective = cfg.get("optimized_metric")
    if objective and objective not in metrics:
        log.warning("optimized_metric=%s is not a metric of this run (it has %s): a sweep "
                    "gets no value from it", objective, ", ".join(sorted(metrics)) or "none")
    return metrics
