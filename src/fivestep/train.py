"""`train(cfg)`: the training entry point as a library function.

Reads top to bottom: check the config, find the checkpoint to resume from (if any),
seed, build the datamodule, the model, the callbacks and loggers, the trainer; fit;
test on the best checkpoint; return the metrics. The root `train.py` only wraps it
with `@hydra.main`.
"""

import csv
import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fivestep.checkpointing import reading
from fivestep.checkpointing.atomic_io import AtomicCheckpointIO
from fivestep.checkpointing.run_state import RunState, hydra_choices
from fivestep.config.checks import check_types
from fivestep.config.sizes import fill_from_data
from fivestep.errors import UserError
from fivestep.fast.tensorboard_logger import restart_at
from fivestep.monitoring.hparams import log_hparams
from fivestep.sweep.ddp_relaunch import relaunch_ranks_as_this_job

log = logging.getLogger(__name__)


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`instantiate`, but a `UserError` raised by the object comes out as itself
    (Hydra wraps it), so the user sees its one-line message."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a config group (callbacks, loggers)."""
    if not group:
        return []
    return [build(node) for node in group.values() if isinstance(node, DictConfig)]


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


def keep_csv_metrics(run_dir: Path, last_epoch: int | None = None) -> None:
    """Rename each `metrics.csv` in `run_dir` to `metrics.partN.csv` (N = 1, 2, ...).

    Lightning's CSVLogger deletes an existing `metrics.csv` when it starts; a resumed
    run would lose the rows of the epochs before the resume. Renamed, they stay, and
    the resumed epochs go to a new `metrics.csv` beside them. Rows of epochs after
    `last_epoch` (the checkpoint's: a killed run may have logged epochs it had not yet
    checkpointed) are left out, since the resumed run logs those epochs again.
    """
    for metrics in run_dir.rglob("metrics.csv"):
        n = 1 + len(list(metrics.parent.glob("metrics.part*.csv")))
        kept = metrics.with_name(f"metrics.part{n}.csv")
        with metrics.open(newline="") as f:
            rows = list(csv.reader(f))
        if last_epoch is not None and rows and "epoch" in rows[0]:
            col = rows[0].index("epoch")
            rows = [rows[0]] + [
                r for r in rows[1:]
                if col >= len(r) or not r[col] or float(r[col]) <= last_epoch
            ]
        with kept.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
        metrics.unlink()
        log.info("Kept %s as %s", metrics, kept.name)


class Resume(NamedTuple):
    """A checkpoint to resume from: its file, its contents, and whether the run goes on
    in the folder of the run that wrote it (`last.ckpt` of that run)."""

    path: Path
    checkpoint: dict[str, Any]
    in_place: bool


def resume_from(cfg: DictConfig) -> Resume | None:
    """The checkpoint `cfg.ckpt_path` names (`last` = the newest of this experiment), loaded.

    Resuming from a run's `last.ckpt` (still in the folder of the run that wrote it)
    continues that run in its own folder: new checkpoints and TensorBoard events go
    there (`paths.output_dir` is pointed at it), so the curves continue in the same
    TensorBoard run (a CSV log's earlier rows are kept as `metrics.partN.csv`); this
    invocation's folder keeps only its `.hydra/` record and log.
    Any other checkpoint (a best `epoch_*.ckpt`, a copied file) starts a new run
    folder, so nothing in the old one is overwritten.
    """
    if not cfg.get("ckpt_path") or not cfg.get("train", True):
        return None
    path = reading.resolve(
        cfg.ckpt_path, cfg.paths.log_dir, cfg.task_name, hydra_choices().get("experiment")
    )
    checkpoint = reading.load_checkpoint(path)
    config = checkpoint.get("fivestep", {}).get("config", {})
    written_by = config.get("paths", {}).get("output_dir")
    run_dir = path.resolve().parent.parent
    in_place = bool(
        path.name == "last.ckpt" and written_by and Path(written_by).resolve() == run_dir
    )
    if in_place:
        log.info("Resuming %s: checkpoints and logs continue in %s", path, run_dir)
        cfg.paths.output_dir = str(run_dir)
        keep_csv_metrics(run_dir, checkpoint.get("epoch"))
    else:
        log.info("Resuming %s in the new run folder %s", path, cfg.paths.output_dir)
    return Resume(path, checkpoint, in_place)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model, test the best checkpoint, return every logged metric."""
    check_types(cfg)
    resume = resume_from(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule: L.LightningDataModule = build(cfg.data)
    datamodule.setup("fit")  # reads the data: bad input stops here, before any output
    fill_from_data(cfg.model, datamodule)  # the net's sizes come from the data
    log.info("Instantiating model <%s>", cfg.model._target_)
    model: L.LightningModule = build(cfg.model)
    if resume:
        reading.check_fits(model, resume.checkpoint, resume.path)
    # RunState stores the config and RNG states in every checkpoint (and restores the
    # RNGs on resume); AtomicCheckpointIO makes each checkpoint write all-or-nothing.
    callbacks = [*instantiate_all(cfg.get("callbacks")), RunState(cfg)]
    callbacks += optuna_trial_callbacks(cfg)  # per-epoch reports when this run is an Optuna trial
    loggers = instantiate_all(cfg.get("logger"))
    if resume and resume.in_place:
        # continuing a run in its own folder: TensorBoard drops any points the interrupted
        # process logged after this checkpoint (checkpoints are written every few seconds)
        restart_at(loggers, int(resume.checkpoint.get("global_step", 0)))
    trainer: L.Trainer = build(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    relaunch_ranks_as_this_job(trainer.world_size)  # DDP in a multirun: extra ranks run this job

    log_hparams(trainer.loggers, flat_hparams(cfg))

    if cfg.get("train", True):
        ckpt_path = str(resume.path) if resume else None
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.get("test", True):
        if not ckpt:
            log.warning("No best checkpoint: testing the weights as they are now.")
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt or None, weights_only=True)
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
