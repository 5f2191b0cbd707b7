"""`lr_find=true`: Lightning's learning-rate finder before `fit`, its suggestion used.

`cfg = find_lr(cfg, trainer, model, datamodule, resuming)` is one line in `train()`,
after the Trainer is built and before the hyperparameters are logged and `fit` starts. With
`lr_find: true` it runs `lightning.pytorch.tuner.Tuner(trainer).lr_find(...)`: a short
range test (`num_training` optimizer steps, the learning rate growing exponentially
from `min_lr` to `max_lr`; the weights are put back afterwards), then

- saves the loss-against-learning-rate curve as `plots/lr_find.png` and, with a
  TensorBoard logger, as the image `figures/lr_find`;
- when the curve gives a usable suggestion (Lightning's steepest descent of the
  smoothed loss, finite, on a curve whose loss went down), writes it into
  `cfg.model.optimizer.lr`, into the config the checkpoints carry, and into the
  model's optimizer, so the run trains with it and its hyperparameters (logged next)
  show it;
- otherwise logs that the curve gives no usable suggestion and changes nothing.

Full-batch data works: each step is then one epoch, and the fit loop is allowed the
`num_training` epochs the range test needs. A resumed run (`ckpt_path`) keeps the
learning rate its checkpoint holds and does not search again.
"""

import copy
import functools
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)

SEARCH = {"min_lr": 1e-6, "max_lr": 1.0, "num_training": 100}


def find_lr(
    cfg: DictConfig, trainer: L.Trainer, model: L.LightningModule, datamodule: Any,
    resuming: bool = False,
) -> DictConfig:
    """Run the finder when `cfg.lr_find` is true; return the run's config: a copy with
    the suggested `model.optimizer.lr`, or `cfg` itself when nothing changed."""
    if not cfg.get("lr_find", False) or not cfg.get("train", True):
        return cfg
    if resuming:
        log.info("lr_find: resuming from a checkpoint, which holds the learning rate; no search")
        return cfg
    if not model.automatic_optimization:
        log.warning("lr_find: the model steps its optimizer itself (model.step_batch_size), "
                    "and Lightning's finder only drives automatic optimization; no search, "
                    "keeping model.optimizer.lr=%s", cfg.model.optimizer.get("lr"))
        return cfg
    from lightning.pytorch.tuner import Tuner

    search = {**SEARCH, **(cfg.get("lr_find_search") or {})}  # +lr_find_search.max_lr=10
    old = cfg.model.optimizer.get("lr")
    fit_loop = trainer.fit_loop
    max_epochs = fit_loop.max_epochs
    if max_epochs is not None and max_epochs >= 0:  # full batch: one step per epoch
        fit_loop.max_epochs = max(max_epochs, int(search["num_training"]) + 1)
    try:
        finder = Tuner(trainer).lr_find(model, datamodule=datamodule, update_attr=False,
                                        **search)
    finally:
        fit_loop.max_epochs = max_epochs
    if finder is None:
        log.warning("lr_find: the finder did not run (fast_dev_run?); keeping lr=%s", old)
        return cfg
    suggestion = finder.suggestion()
    _save_plot(trainer, finder, Path(cfg.paths.output_dir) / "plots")
    problem = unusable(finder.results.get("loss", []), suggestion)
    if problem:
        log.warning("lr_find: the loss curve gives no usable suggestion (%s); keeping "
                    "model.optimizer.lr=%s; the curve is in plots/lr_find.png", problem, old)
        return cfg
    log.info("lr_find: suggested learning rate %.3g (was %s); training with it; the curve is "
             "in plots/lr_find.png", suggestion, old)
    return use_lr(cfg, trainer, model, float(suggestion))


def unusable(losses: list[float], suggestion: float | None, skip_begin: int = 10,
             min_drop: float = 0.05) -> str | None:
    """Why the finder's curve gives no usable suggestion, or None when it does.

    Lightning suggests the steepest descent of the smoothed loss; that is only a
    learning rate worth training with when the loss really comes down somewhere in
    the range: here, by `min_drop` (5 %) of its highest value after the first
    `skip_begin` points (the smoothing's warm-up, which Lightning's suggestion skips too).
    A flat curve (the range test's steps too few to learn anything) is not usable.
    """
    if suggestion is None or not math.isfinite(suggestion) or suggestion <= 0:
        return "Lightning found no steepest descent"
    curve = [v for v in losses[skip_begin:] if math.isfinite(v)]
    if len(curve) < 2:
        return f"only {len(curve)} finite points"
    peak = max(range(len(curve)), key=curve.__getitem__)
    drop = (curve[peak] - min(curve[peak:])) / abs(curve[peak]) if curve[peak] else 0.0
    if drop < min_drop:
        return (f"the loss falls by only {drop:.1%} from its highest point, under "
                f"{min_drop:.0%}: a flat curve; the steepest point was {suggestion:.3g}")
    return None


def use_lr(cfg: DictConfig, trainer: L.Trainer, model: L.LightningModule,
           lr: float) -> DictConfig:
    """Make `lr` the run's learning rate: in (a copy of) `cfg`, returned, in the config
    every checkpoint carries (the callback holding it as `config`), and in the model's
    optimizer factory."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.model.optimizer.lr = lr
    for callback in trainer.callbacks:
        stored = getattr(callback, "config", None)
        if isinstance(stored, dict) and isinstance(stored.get("model"), dict):
            stored["model"]["optimizer"]["lr"] = lr  # RunState: the checkpoints' config
    factory = getattr(model, "optimizer_factory", None)
    if isinstance(factory, functools.partial):
        model.optimizer_factory = instantiate(cfg.model.optimizer)
    else:
        raise TypeError(f"lr_find: cannot give {type(model).__name__} a new learning rate "
                        "(no optimizer_factory partial)")
    return cfg


def _save_plot(trainer: L.Trainer, finder: Any, plots: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = finder.plot(suggest=True)
    ax = fig.axes[0]
    suggestion = finder.suggestion()
    ax.set_title("lr_find: loss against learning rate"
                 + (f", suggestion {suggestion:.3g}" if suggestion else ", no suggestion"))
    plots.mkdir(parents=True, exist_ok=True)
    fig.savefig(plots / "lr_find.png", dpi=100)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure("figures/lr_find", fig, global_step=0, close=False)
    plt.close(fig)
