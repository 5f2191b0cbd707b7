"""The MLflow side of a run: which MLflow run it writes to, and what it adds at the end.

`logger=mlflow` (or `logger=tensorboard_mlflow`) instantiates Lightning's own
`MLFlowLogger`, which logs the flattened config as params (through `log_hparams`)
and every metric Lightning logs, at its step. Two things need the run's context and
happen here, in two calls from `train()`:

- `cfg = prepare_mlflow(cfg, in_place)`, before the loggers are built: fills in the
  experiment name (the `experiment=` choice), the artifact folder of a local SQLite
  store, and the tag `fivestep.run_dir` (the run folder). When `ckpt_path=last`
  continues a run in its own folder, it looks that run up by this tag and sets the
  logger's `run_id`, so the MLflow run goes on instead of a second one starting.
- `finish_mlflow(loggers, output_dir, best_checkpoint)`, at the end: the run's
  `plots/*.png` as artifacts under `plots/`, and the best checkpoint's path as the
  tag `best_checkpoint`.

Both do nothing (and import nothing of MLflow) when no MLflow logger is configured.
"""

import copy
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lightning.pytorch.loggers import Logger, MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict

from fivestep.checkpointing.run_state import hydra_choices

log = logging.getLogger(__name__)

RUN_DIR_TAG = "fivestep.run_dir"
BEST_CHECKPOINT_TAG = "best_checkpoint"


def _mlflow_nodes(cfg: DictConfig) -> list[DictConfig]:
    group = cfg.get("logger") or {}
    return [
        node for node in group.values()
        if isinstance(node, DictConfig) and str(node.get("_target_", "")).endswith("MLFlowLogger")
    ]


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///...` tracking URI (None for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(unquote(tracking_uri[len("sqlite:///"):]))


def find_run(tracking_uri: str, experiment_name: str, run_dir: str) -> str | None:
    """The id of the newest MLflow run of `experiment_name` tagged with `run_dir`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    quoted = run_dir.replace("'", "\\'")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{RUN_DIR_TAG}` = '{quoted}'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    return runs[0].info.run_id if runs else None


def prepare_mlflow(cfg: DictConfig, in_place: bool = False) -> DictConfig:
    """The run's config with every MLflow logger node of `cfg.logger` completed (a copy;
    `cfg` itself is returned unchanged when there is no MLflow logger).

    Args:
        cfg: the run's config.
        in_place: this run continues an earlier run in that run's folder
            (`ckpt_path=last`): the earlier run's MLflow run is continued.
    """
    if not _mlflow_nodes(cfg):
        return cfg
    cfg = copy.deepcopy(cfg)
    run_dir = str(Path(cfg.paths.output_dir).resolve())
    for node in _mlflow_nodes(cfg):
        with open_dict(node):
            if not node.get("experiment_name"):
                node.experiment_name = hydra_choices().get("experiment") or cfg.task_name
            uri = str(node.get("tracking_uri") or "")
            db = sqlite_path(uri)
            if db is not None:
                db.parent.mkdir(parents=True, exist_ok=True)
                if not node.get("artifact_location"):
                    node.artifact_location = (db.parent.resolve() / "artifacts").as_uri()
            node.tags = {**(node.get("tags") or {}), RUN_DIR_TAG: run_dir}
            if in_place and not node.get("run_id"):
                node.run_id = find_run(uri, node.experiment_name, run_dir)
                if node.run_id:
                    log.info("Continuing MLflow run %s of experiment %r", node.run_id,
                             node.experiment_name)
                else:
                    log.info("No MLflow run is tagged with %s: starting a new one", run_dir)
    return cfg


@rank_zero_only
def finish_mlflow(
    loggers: Iterable[Logger], output_dir: str | Path, best_checkpoint: str | None
) -> None:
    """Log the run's figures (`<output_dir>/plots/*.png`) as artifacts and tag the best
    checkpoint's path, in every MLflow logger's run."""
    plots = Path(output_dir) / "plots"
    for logger in loggers:
        if not isinstance(logger, MLFlowLogger):
            continue
        client: Any = logger.experiment
        for png in sorted(plots.glob("*.png")):
            client.log_artifact(logger.run_id, str(png), artifact_path="plots")
        if best_checkpoint:
            client.set_tag(logger.run_id, BEST_CHECKPOINT_TAG, str(Path(best_checkpoint).resolve()))
        log.info("MLflow run %s: %d figures, best checkpoint %s", logger.run_id,
                 len(list(plots.glob("*.png"))), best_checkpoint or "none")
