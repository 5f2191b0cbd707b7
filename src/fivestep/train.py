"""`train(cfg)`: the training entry point as a library function.

Reads top to bottom: check the config, seed, build the datamodule, the model, the
callbacks and loggers, the trainer; fit; test on the best checkpoint; return the
metrics. The root `train.py` only wraps it with `@hydra.main`.
"""

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fivestep.checks import check_types
from fivestep.sweep.ddp_relaunch import relaunch_ranks_as_this_job

log = logging.getLogger(__name__)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if isinstance(node, DictConfig)]


def flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The run's config as `{"model/optimizer/lr": 0.1, ...}`, readable in TensorBoard."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in ("_target_", "_partial_") and key != "hydra":
                    walk(value, f"{prefix}/{key}" if prefix else str(key))
        else:
            out[prefix] = node if isinstance(node, int | float | str | bool) else str(node)

    for key in cfg:
        if key in ("paths", "hydra"):
            continue
        node = cfg._get_node(key)
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else cfg[key]
        walk({key: value}, "")
    return out


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model, test the best checkpoint, return every logged metric."""
    check_types(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    log.info("Instantiating model <%s>", cfg.model._target_)
    model: L.LightningModule = instantiate(cfg.model)
    callbacks = instantiate_all(cfg.get("callbacks")) + optuna_trial_callbacks(cfg)
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    relaunch_ranks_as_this_job(trainer.world_size)  # DDP in a multirun: extra ranks run this job

    for logger in trainer.loggers:
        logger.log_hyperparams(flat_hparams(cfg))

    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.get("test", True):
        if not ckpt:
            log.warning("No best checkpoint: testing the weights as they are now.")
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt or None, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    log.info("Final metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    if trainer.is_global_zero:  # read back by sweeps (summary table, best checkpoint)
        summary = {"metrics": metrics, "best_checkpoint": ckpt or None}
        (Path(cfg.paths.output_dir) / "metrics.json").write_text(json.dumps(summary, indent=2))
    return metrics


def optuna_trial_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The pruning callback when this run is a trial of the Optuna sweeper, else none."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or "optuna" not in str(HydraConfig.get().sweeper._target_):
        return []  # no sweep: Optuna is not even imported
    from fivestep.sweep.pruning import trial_callbacks

    return trial_callbacks(cfg)
