"""`train(cfg)`: the training entry point as a library function.

Reads top to bottom: check the config, seed, build the datamodule, the model, the
callbacks and loggers, the trainer; fit; test on the best checkpoint; return the
metrics. The root `train.py` only wraps it with `@hydra.main`.
"""

import logging
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fivestep.checks import check_types
from fivestep.hparams import log_hparams

log = logging.getLogger(__name__)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if isinstance(node, DictConfig)]


# Not hyperparameters: where files go, and what watches the run.
NOT_HPARAMS = ("paths", "hydra", "callbacks", "logger", "trainer/default_root_dir")


def flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The run's config as `{"model/optimizer": "SGD", "model/optimizer/lr": 0.1, ...}`,
    readable in TensorBoard: a `_target_` becomes its class name under its node's own
    key; lists and `None` become strings; `NOT_HPARAMS` are left out."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if prefix in NOT_HPARAMS:
            return
        if isinstance(node, dict):
            if "_target_" in node:
                out[prefix] = str(node["_target_"]).rsplit(".", 1)[-1]
            for key, value in node.items():
                if key not in ("_target_", "_partial_"):
                    walk(value, f"{prefix}/{key}" if prefix else str(key))
        else:
            out[prefix] = node if isinstance(node, int | float | str | bool) else str(node)

    for key in cfg:
        if key in NOT_HPARAMS:  # before resolving: `hydra` holds sweep-only values
            continue
        node = cfg._get_node(key)
        is_config = OmegaConf.is_config(node)
        walk(OmegaConf.to_container(node, resolve=True) if is_config else cfg[key], str(key))
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
    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    log_hparams(trainer.loggers, flat_hparams(cfg))

    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.get("test", True):
        ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if not ckpt:
            log.warning("No best checkpoint: testing the weights as they are now.")
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt or None, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    log.info("Final metrics: %s", ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    return metrics
