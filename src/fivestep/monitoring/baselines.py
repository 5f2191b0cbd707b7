"""Baselines on the run's own split: is the net any good?

A score alone says little: 0.97 accuracy is poor where 97% of the rows share a class.
Every tabular run therefore fits, on its own training rows (the encoded matrix the net
trained on), the models a careful user would try first, and scores them on the same
validation and test rows with the run's own metrics:

| name       | classification                          | regression                 |
|------------|-----------------------------------------|----------------------------|
| `majority` | always the most frequent training class | always the training mean   |
| `linear`   | scikit-learn's `LogisticRegression`     | scikit-learn's `Ridge`     |
| `lightgbm` | `LGBMClassifier`, its defaults (opt-in) | `LGBMRegressor` (opt-in)   |
| `mlp`      | scikit-learn's `MLPClassifier` (opt-in) | `MLPRegressor` (opt-in)    |

Their metrics are named `baseline/<name>/<split>/<metric>` (`baseline/linear/test/acc`
beside the net's `test/acc`) and go wherever the net's go: the final log line,
`metrics.json` (and so the sweep summary), and every logger (TensorBoard, CSV, MLflow).
Regression scores are in the target's own units, as the net's are. Above `max_rows`
training rows the baselines are fitted on a seeded sample of that many rows (the log
says so); they are always scored on every validation and test row.

A net whose score ends below the majority/mean baseline's gets a warning saying so and
what to try.
"""

import logging
import time
import warnings
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torchmetrics import MetricCollection

from fivestep.errors import UserError

log = logging.getLogger(__name__)

NAMES = ("majority", "linear", "lightgbm", "mlp")
PREFIX = "baseline"


def fit_baselines(cfg: Any, datamodule: Any, model: L.LightningModule,
                  trainer: L.Trainer | None = None) -> dict[str, float]:
    """Fit and score the baselines `cfg` asks for (`cfg.models`, `cfg.max_rows`);
    return their metrics by name (empty where they do not apply), logged to the
    trainer's loggers."""
    names = list(cfg.get("models") or [])
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise UserError(f"baselines.models names {unknown}; pick from {list(NAMES)}")
    metrics_of = getattr(model, "test_metrics", None)
    splits = getattr(datamodule, "splits", None) or {}
    if not names or not isinstance(metrics_of, MetricCollection) or "train" not in splits:
        return {}
    x_train, y_train = splits["train"]
    if x_train.ndim != 2 or len(x_train) == 0:
        return {}
    from sklearn.exceptions import ConvergenceWarning  # here: scikit-learn loads only for tables

    task = model.task
    started = time.perf_counter()
    x_fit, y_fit = _sample(x_train, y_train, int(cfg.get("max_rows") or len(x_train)),
                           seed=int(cfg.get("seed") or 0))
    classes = int(model.num_classes or 0)
    metrics: dict[str, float] = {}
    for name in names:
        estimator = _estimator(name, task)
        with warnings.catch_warnings():  # an MLP or a solver at its iteration limit: noted
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(x_fit, y_fit if task == "regression" else y_fit.astype(np.int64))
        for split in ("val", "test"):
            x, y = splits.get(split, (x_train[:0], y_train[:0]))
            if len(x) == 0:
                continue
            preds = _predict(estimator, _numpy(x), task, classes)
            target = y.detach().cpu()
            if task == "regression":
                inverse = getattr(datamodule, "inverse_target", lambda v: v)
                preds, target = inverse(preds), inverse(target.float())
            else:
                target = target.long()
            collection = metrics_of.clone(prefix=f"{PREFIX}/{name}/{split}/").cpu()
            collection.reset()
            collection.update(preds, target)
            metrics.update({k: float(v) for k, v in collection.compute().items()})
    seconds = time.perf_counter() - started
    sampled = len(x_fit) < len(x_train)
    log.info("Baselines %s fitted on %s%d training rows in %.1f s%s", ", ".join(names),
             "a sample of " if sampled else "", len(x_fit), seconds,
             f" (of {len(x_train)}; baselines.max_rows)" if sampled else "")
    if trainer is not None and metrics:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            # after the test stage has finalized the loggers: written out now (TensorBoard's
            # reopened writer flushed, the CSV file rewritten), not left to the process's end
            logger.save()
    return metrics


def verdict(metrics: dict[str, float], task: str) -> str | None:
    """A warning when the net's score is below always predicting the majority class
    (or the mean), else None. Judged on the test split, or validation without one."""
    key = "mse" if task == "regression" else "acc"
    for split in ("test", "val"):
        net = metrics.get(f"{split}/{key}")
        trivial = metrics.get(f"{PREFIX}/majority/{split}/{key}")
        if net is None or trivial is None:
            continue
        worse = net > trivial if task == "regression" else net < trivial
        if not worse:
            return None
        what = "the training mean" if task == "regression" else "the majority class"
        linear = metrics.get(f"{PREFIX}/linear/{split}/{key}")
        also = f", the linear baseline {linear:.4g}" if linear is not None else ""
        return (f"the net's {split}/{key}={net:.4g} is worse than always predicting {what} "
                f"({trivial:.4g}{also}): the model learned nothing useful. Try the tables' "
                "recipe (drop recipe=none and model/net overrides), more epochs "
                "(trainer.max_epochs), or another model.optimizer.lr")
    return None


def _sample(x: Any, y: Any, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `rows` training rows, a seeded sample in their original order."""
    n = len(x)
    if n <= rows:
        return _numpy(x), _numpy(y)
    keep = np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
    index = torch.from_numpy(keep)
    return _numpy(x[index]), _numpy(y[index])


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)


def _estimator(name: str, task: str) -> Any:
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    regression = task == "regression"
    if name == "majority":
        return DummyRegressor() if regression else DummyClassifier(strategy="most_frequent")
    if name == "linear":
        head = Ridge() if regression else LogisticRegression(max_iter=1000)
        return make_pipeline(StandardScaler(), head)
    if name == "mlp":  # scikit-learn's defaults: the simplest neural net a user could run
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        return make_pipeline(StandardScaler(), (MLPRegressor if regression else MLPClassifier)(
            random_state=0))
    try:
        import lightgbm
    except ImportError:
        raise UserError("baselines.models lists lightgbm, which is not installed; "
                        "pip install -e '.[baselines]', or drop it from baselines.models"
                        ) from None
    kind = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
    return kind(verbose=-1, random_state=0)


def _predict(estimator: Any, x: np.ndarray, task: str, classes: int) -> Tensor:
    """Binary `(rows,)` probability of class 1, multi-class `(rows, K)` probabilities
    (a class absent from the training rows gets 0), regression `(rows,)` values."""
    if task == "regression":
        return torch.from_numpy(np.asarray(estimator.predict(x), dtype=np.float32))
    proba = np.asarray(estimator.predict_proba(x), dtype=np.float32)
    full = np.zeros((len(x), max(classes, 2)), dtype=np.float32)
    full[:, np.asarray(estimator.classes_, dtype=np.int64)] = proba
    out = torch.from_numpy(full)
    return out[:, 1] if task == "binary" else out
