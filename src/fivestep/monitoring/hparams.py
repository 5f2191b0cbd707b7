"""Hyperparameters for every logger, and a TensorBoard HParams session per run.

Each logger records the flattened config (`hparams.yaml` for TensorBoard and CSV,
params for MLflow). A TensorBoard logger also gets the HParams plugin's *session
start* record with the same values, built by TensorBoard's own API
(`tensorboard.plugins.hparams.summary_v2.hparams_pb`), so TensorBoard's HParams tab
lists the run. Its metric columns are the run's scalars (`val/acc_best`,
`test/auroc`, ...) at their last value, i.e. the run's final metrics, read by
TensorBoard itself.

No *experiment* record is written on purpose: TensorBoard uses the first experiment
record it finds for all runs, which would hide the hyperparameters and metrics of any
run configured differently (a sweep over `experiment=glob(*)`). Without one, it builds
the columns from the union of all runs' sessions and scalar tags.
"""

import logging
from collections.abc import Iterable
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def session_start(params: dict[str, Any], trial_id: str | None = None) -> Any:
    """The HParams plugin's session-start `Summary` for `params` (values
    `bool | int | float | str`; anything else is written as its `str`).

    `trial_id` names the session group: one per run (its log folder), so two runs
    with equal hyperparameters stay two rows instead of being averaged into one.
    """
    from tensorboard.plugins.hparams import summary_v2

    values = {k: v if isinstance(v, bool | int | float | str) else str(v)
              for k, v in params.items()}
    return summary_v2.hparams_pb(values, trial_id=trial_id)


def log_hparams(loggers: Iterable[Logger], params: dict[str, Any]) -> None:
    """Record `params` (flat) with every logger, and open an HParams session in each
    TensorBoard logger's event file."""
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            _log_mlflow_params(logger, params)
            continue
        logger.log_hyperparams(params)
        if isinstance(logger, TensorBoardLogger):
            _open_session(logger, params)


@rank_zero_only  # other processes hold a stand-in writer that writes nothing
def _open_session(logger: TensorBoardLogger, params: dict[str, Any]) -> None:
    logger.experiment.file_writer.add_summary(session_start(params, trial_id=logger.log_dir))


@rank_zero_only
def _log_mlflow_params(logger: MLFlowLogger, params: dict[str, Any]) -> None:
    """MLflow params are write-once: a continued run (`ckpt_path=last`) logs only the
    keys it does not hold yet; a value that differs (`ckpt_path` itself, a longer
    `trainer.max_epochs`) stays as first logged and is noted in the log."""
    held = logger.experiment.get_run(logger.run_id).data.params
    changed = [k for k, v in params.items() if k in held and held[k] != str(v)[:250]]
    if changed:
        log.info("MLflow run %s keeps its first values of %s", logger.run_id, ", ".join(changed))
    new = {k: v for k, v in params.items() if k not in held}
    if new:
        logger.log_hyperparams(new)


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
        value = cfg[key]
        walk(OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value,
             str(key))
    return out
