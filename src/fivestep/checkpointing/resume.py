"""Preparing a run that starts from a checkpoint: `prepare_resume(cfg)`.

`ckpt_path=X` (or `ckpt_path=last`, the newest `last.ckpt` of the same experiment):

- with `train=true`, the run resumes X. Resuming a run's own `last.ckpt` (still in the
  folder of the run that wrote it) continues that run in its own folder: new
  checkpoints and TensorBoard events go there (`paths.output_dir` is pointed at it),
  TensorBoard drops the points the interrupted process logged after the checkpoint
  (the writer's public `purge_step`), and a CSV log's earlier rows are kept as
  `metrics.partN.csv`; this invocation's folder keeps only its `.hydra/` record and
  log. Any other checkpoint (a best `epoch_*.ckpt`, a copied file) starts a new run
  folder, so nothing in the old one is overwritten.
- with `train=false`, X's weights are what `test` evaluates.

Either way a missing or unreadable X is refused before anything runs.
"""

import copy
import csv
import logging
from pathlib import Path
from typing import Any, NamedTuple

from omegaconf import DictConfig, open_dict
from torch import nn

from fivestep.checkpointing import reading
from fivestep.checkpointing.run_state import KEY, hydra_choices

log = logging.getLogger(__name__)

TENSORBOARD_LOGGERS = ("TensorBoardLogger",)  # class names whose writer takes `purge_step`


class Resume(NamedTuple):
    """A checkpoint a run starts from: its file, its contents, and whether the run goes
    on in the folder of the run that wrote it (`last.ckpt` of that run)."""

    path: Path
    checkpoint: dict[str, Any]
    in_place: bool

    def check_fits(self, model: nn.Module) -> None:
        """Refuse the checkpoint unless its weights fit `model` (names and shapes)."""
        reading.check_fits(model, self.checkpoint, self.path)


def prepare_resume(cfg: DictConfig) -> tuple[DictConfig, Resume | None]:
    """The run's config and the checkpoint it starts from (None without `ckpt_path`).

    The returned config is a copy: for a run continued in place, its
    `paths.output_dir` is the old run's folder and its TensorBoard loggers get
    `purge_step`; `cfg` itself is left as it was.
    """
    if not cfg.get("ckpt_path"):
        return cfg, None
    path = reading.resolve(
        cfg.ckpt_path, cfg.paths.log_dir, cfg.task_name, hydra_choices().get("experiment")
    )
    checkpoint = reading.load_checkpoint(path)
    if not cfg.get("train", True):
        log.info("train=false: testing the weights of %s", path)
        return cfg, Resume(path, checkpoint, in_place=False)
    written_by = checkpoint.get(KEY, {}).get("config", {}).get("paths", {}).get("output_dir")
    run_dir = path.resolve().parent.parent
    in_place = bool(
        path.name == "last.ckpt" and written_by and Path(written_by).resolve() == run_dir
    )
    if not in_place:
        log.info("Resuming %s in the new run folder %s", path, cfg.paths.output_dir)
        return cfg, Resume(path, checkpoint, in_place=False)

    log.info("Resuming %s: checkpoints and logs continue in %s", path, run_dir)
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        step = int(checkpoint.get("global_step", 0))
        for node in (cfg.get("logger") or {}).values():
            if not isinstance(node, DictConfig):  # `logger.csv=null`: switched off
                continue
            if str(node.get("_target_", "")).rsplit(".", 1)[-1] in TENSORBOARD_LOGGERS:
                node.purge_step = step  # TensorBoard drops this run's events from `step` on
    keep_csv_metrics(run_dir, checkpoint.get("epoch"))
    return cfg, Resume(path, checkpoint, in_place=True)


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
