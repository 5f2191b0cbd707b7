"""Hyperparameters for every logger, and a TensorBoard HParams session per run.

Each logger records the flattened config (`hparams.yaml` for TensorBoard and CSV).
A TensorBoard logger also gets the HParams plugin's *session start* record with the
same values, so TensorBoard's HParams tab lists the run. Its metric columns are the
run's scalars (`val/acc_best`, `test/auroc`, ...) at their last value, i.e. the run's
final metrics, read by TensorBoard itself.

No *experiment* record is written on purpose: TensorBoard uses the first experiment
record it finds for all runs, which would hide the hyperparameters and metrics of any
run configured differently (a sweep over `experiment=glob(*)`). Without one, it builds
the columns from the union of all runs' sessions and scalar tags.
"""

from collections.abc import Iterable
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf


def session_start(params: dict[str, Any]) -> Any:
    """The HParams plugin's session-start `Summary` proto for `params` (values
    `bool | int | float | str`; anything else is written as its `str`)."""
    import time

    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionStartInfo

    info = SessionStartInfo(start_time_secs=time.time())
    for name, value in params.items():
        if isinstance(value, bool):  # before int: a bool is an int to Python
            info.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            info.hparams[name].number_value = value
        else:
            info.hparams[name].string_value = str(value)
    meta = metadata.create_summary_metadata(HParamsPluginData(session_start_info=info))
    return Summary(value=[
        Summary.Value(tag=metadata.SESSION_START_INFO_TAG, metadata=meta,
                      tensor=metadata.NULL_TENSOR)
    ])


def log_hparams(loggers: Iterable[Logger], params: dict[str, Any]) -> None:
    """Record `params` (flat) with every logger, and open an HParams session in each
    TensorBoard logger's event file."""
    for logger in loggers:
        logger.log_hyperparams(params)
        if isinstance(logger, TensorBoardLogger):
            _open_session(logger, params)


@rank_zero_only  # other processes hold a stand-in writer that writes nothing
def _open_session(logger: TensorBoardLogger, params: dict[str, Any]) -> None:
    logger.experiment._get_file_writer().add_summary(session_start(params))


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
