"""`data.fold=members`: the k folds of `data.folds=k` trained as the members of one run.

`python train.py experiment=breast_cancer data.folds=5 data.fold=members` does in one
process and one Trainer what the k-fold multirun `data.fold=range(5)` does in five jobs:
fold `i` is built exactly as the job `data.fold=i` builds it (seeded with `seed`, its own
DataModule: its own training rows, preprocessing fitted on them, batches and shuffle),
trains on its own batches beside the others (`fivestep.data.member_data.MemberData`;
folds of one net shape run as one stacked `vmap`), is validated on its own fold and
tested at its lowest `val/loss`. Each fold leaves what the job leaves in its own folder
`fold_<i>/`: `metrics.json` and `checkpoints/best.ckpt` (loaded by `eval.py`,
`predict.py` and `export.py` as any other). The run's own folder gets the folds' table
with the `mean ± std` row the sweep summary prints (`summary.md`, `summary.csv`,
`summary_spread.csv`: the same `fivestep.sweep.summary` functions, sample standard
deviation), and `metrics.json` whose metrics are the folds' means (`val/acc`, ...) and
sample standard deviations (`val/acc_std`), which `train()` returns: an Optuna sweep
over `data.fold=members` runs scores each trial by its folds' mean.

What a fold job does and a fold member does not (`fivestep.sweep.members`): callbacks
of the config other than early stopping (which acts per fold), loggers, `last.ckpt`,
table baselines.
"""

import copy
import csv
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from fivestep.errors import UserError
from fivestep.sweep.members import train_trials
from fivestep.sweep.summary import columns, markdown, sort_rows, spread

log = logging.getLogger(__name__)

SETTING = "members"  # data.fold=members


def folds_as_members(cfg: DictConfig) -> bool:
    """Whether `cfg` asks for its folds as members (`data.fold=members`)."""
    data = cfg.get("data")
    return data is not None and data.get("fold") == SETTING


def fold_configs(cfg: DictConfig) -> list[DictConfig]:
    """One config per fold: `data.fold=i`, writing into `<output_dir>/fold_<i>`."""
    folds = cfg.data.get("folds")
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise UserError(f"data.fold=members needs data.folds=k (k >= 2), got data.folds="
                        f"{folds!r}; e.g. data.folds=5 data.fold=members")
    if cfg.get("ckpt_path"):
        raise UserError("data.fold=members cannot resume from ckpt_path; resume one fold "
                        "with data.fold=i ckpt_path=...")
    if cfg.model.get("members") is not None:
        raise UserError("data.fold=members and model.members=K cannot be combined; drop one")
    out = Path(cfg.paths.output_dir)
    cfgs = []
    for i in range(folds):
        fold = copy.deepcopy(cfg)  # DictConfig.copy() shares the nested nodes
        with open_dict(fold):
            fold.data.fold = i
            fold.paths.output_dir = str(out / f"fold_{i}")
        cfgs.append(fold)
    return cfgs


def train_folds(cfg: DictConfig) -> dict[str, float]:
    """Train the folds of `cfg` as members of one run (module docstring); return each
    metric's mean over the folds, and its sample standard deviation as `<metric>_std`."""
    cfgs = fold_configs(cfg)
    log.info("data.fold=members: %d folds trained as members of one run", len(cfgs))
    results = train_trials(cfgs, own_data=True)
    rows: list[dict[str, Any]] = [
        {"job": f"fold_{i}", "data.fold": str(i), "status": r["status"], **r["metrics"]}
        for i, r in enumerate(results)]
    metric, direction = cfg.get("optimized_metric"), None
    ordered = list(rows)
    sort_rows(ordered, metric, direction)
    names = columns(ordered, metric)
    stats = spread(rows, names)
    metrics: dict[str, float] = {}
    for key, (mean, std, _) in stats.items():
        metrics[key] = mean
        metrics[f"{key}_std"] = std
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(ordered, names)
    (out / "summary.md").write_text(table)
    _write_csv(out, ordered, names, stats)
    failed = [r["job"] for r in rows if r["status"] != "complete"]
    summary: dict[str, Any] = {"metrics": metrics, "best_checkpoint": None,
                               "folds": [r["metrics"] for r in results]}
    if failed:
        summary["failed_folds"] = failed
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    log.info("Folds as members (%s), also in %s/summary.md:\n%s",
             f"sorted by {metric}" if metric else "in fold order", out, table)
    return metrics


def _write_csv(out: Path, rows: list[dict[str, Any]], names: list[str],
               stats: dict[str, tuple[float, float, int]]) -> None:
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "summary_spread.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "mean", "std", "jobs"])
        writer.writerows([k, mean, std, n] for k, (mean, std, n) in stats.items())
