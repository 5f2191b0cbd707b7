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
