"""The metrics a `System` logs, built from the config group `model/metrics`, and the
names they log under, known before a run starts.

A metric is a torchmetrics class named in `configs/model/metrics/*.yaml` under
`classification` or `regression` (`_partial_: true`, so Hydra hands over a factory):
classification metrics are built with the data's `task=` ("binary" or "multiclass")
and `num_classes=`, unless their node sets them. Each is logged as `val/<name>` and
`test/<name>`; one with a direction (torchmetrics' `higher_is_better` True or False)
also as `val/<name>_best`, the best value of any epoch so far (a `MaxMetric` or
`MinMetric`, saved in checkpoints, so a resumed run keeps it).

`objective_names` lists these names for `optimized_metric`, so that a typo is refused
before a run trains, or a sweep starts its first trial.
"""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn
from torchmetrics import MaxMetric, Metric, MetricCollection, MinMetric
from torchmetrics.classification import AUROC, Accuracy, F1Score
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from fivestep.errors import UserError
from fivestep.models.task import Task

MetricFactory = Callable[..., Metric]
MetricFactories = Mapping[str, Mapping[str, MetricFactory | Metric]]

# configs/model/metrics/default.yaml lists the same set (tests/models/test_metrics.py)
DEFAULT: dict[str, dict[str, MetricFactory]] = {
    "classification": {"acc": Accuracy, "auroc": AUROC, "f1": F1Score},
    "regression": {"mse": MeanSquaredError, "mae": MeanAbsoluteError, "r2": R2Score},
}
LOSSES = ("train/loss", "val/loss", "test/loss")


def family(task: Task) -> str:
    """The key of `task`'s metrics in the config: "classification" or "regression"."""
    return "regression" if task == "regression" else "classification"


def build_metrics(
    factories: MetricFactories | None, task: Task, num_classes: int | None
) -> MetricCollection:
    """The task's metrics, by name, as one collection (cloned per split by the system)."""
    chosen = (factories if factories is not None else DEFAULT).get(family(task)) or {}
    kind: dict[str, Any] = {} if task == "regression" else (
        {"task": "binary"} if task == "binary"
        else {"task": "multiclass", "num_classes": num_classes}
    )
    built = {}
    for name, factory in chosen.items():
        if isinstance(factory, Metric):
            built[name] = factory
            continue
        given = getattr(factory, "keywords", {})
        target = getattr(factory, "func", factory)
        accepted = _arguments(target)  # BinaryAccuracy takes no task=; Accuracy needs one
        extra = {k: v for k, v in kind.items() if k not in given and k in accepted}
        metric = factory(**extra)
        if not isinstance(metric, Metric):
            raise UserError(
                f"model.metrics.{family(task)}.{name}: {target!r} built a "
                f"{type(metric).__name__}, not a torchmetrics Metric; name a torchmetrics class"
            )
        built[name] = metric
    return MetricCollection(built)


def _arguments(target: Any) -> set[str]:
    """The argument names a metric class declares (its `**kwargs` aside)."""
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def best_trackers(metrics: MetricCollection) -> nn.ModuleDict:
    """A persistent `MaxMetric`/`MinMetric` per metric with a direction, by name."""
    trackers = nn.ModuleDict()
    for name, metric in metrics.items(keep_base=True):
        higher = getattr(metric, "higher_is_better", None)
        if higher is None:
            continue
        tracker = MaxMetric() if higher else MinMetric()
        tracker.persistent(True)  # in checkpoints: a resumed run keeps its best so far
        trackers[name] = tracker
    return trackers


def logged_names(metrics: MetricCollection, best: Mapping[str, Any]) -> list[str]:
    """Every key a system with these metrics logs (what `train()` returns)."""
    names = list(LOSSES)
    names += [f"{split}/{name}" for split in ("val", "test")
              for name in metrics.keys(keep_base=True)]
    names += [f"val/{name}_best" for name in best]
    return sorted(names)


def check_objective(
    objective: str | None, names: list[str] | None, where: str = "this run"
) -> None:
    """Refuse an `optimized_metric` that is not one of `names` (None: not known, not checked)."""
    if objective and names is not None and objective not in names:
        raise UserError(
            f"optimized_metric={objective} is not a metric of {where}; its metrics: "
            f"{', '.join(names)}; set optimized_metric to one of them (or add the metric "
            "under model/metrics, see docs/extending.md)"
        )


def names_from_config(model_cfg: Any) -> list[str] | None:
    """The names a run of `model_cfg` (a composed `model` node) can log, before the data
    is read: those of its task when `model.task` is set, else of every task its
    metrics cover. None when the metrics cannot be built here (then `train()` checks)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    try:
        factories = instantiate(model_cfg.get("metrics")) if model_cfg.get("metrics") else None
        task = None if OmegaConf.is_missing(model_cfg, "task") else model_cfg.get("task")
        tasks = [task] if task else ["binary", "multiclass", "regression"]
        names: set[str] = set()
        for each in tasks:
            collection = build_metrics(factories, each, 3 if each == "multiclass" else 2)
            names.update(logged_names(collection, best_trackers(collection)))
    except Exception:  # a metric that needs the data to be built: train() checks it
        return None
    return sorted(names)
