"""What the figures cost: epoch times of `experiment=two_layer` with and without them.

    python scripts/figure_cost.py [--repeats 3]

An epoch is timed from one `on_train_epoch_start` to the next, so it includes
validation and every callback's end-of-epoch work (the probability chart and the
histograms every 20 epochs). Reports the median of epochs in which a figure is drawn,
of the other epochs, and of all epochs of a run without figure callbacks; and the
one-off work before and after training (chart at epoch 0, loss curves, ROC,
confusion matrix). Medians, because the machine may be shared.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L

from fivestep.config.compose import compose_run_config

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ["probability_chart", "loss_curves", "evaluation_figures", "parameter_histograms"]


class EpochClock(L.Callback):
    """Wall-clock marks at each epoch start, at fit start and at train end."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.fit_start = self.train_start = self.train_end = 0.0

    def on_fit_start(self, trainer, pl_module) -> None:
        self.fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        self.train_end = time.perf_counter()


def run(figures: bool, out: Path) -> tuple[list[float], float]:
    """Epoch durations (s) and the time from the last epoch start to train end."""
    from hydra.utils import instantiate

    from fivestep.config.sizes import sized_from_data
    from fivestep.train import instantiate_all

    overrides = ["experiment=two_layer", "callbacks.progress_bar.refresh_rate=0"]
    if not figures:
        overrides += [f"~callbacks.{name}" for name in FIGURES]
    cfg = compose_run_config(ROOT / "configs", overrides, out)
    L.seed_everything(cfg.seed)
    datamodule = instantiate(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())  # as train() does
    clock = EpochClock()
    callbacks = [clock, *instantiate_all(cfg.callbacks)]  # the clock runs first
    trainer = instantiate(cfg.trainer, callbacks=callbacks,
                          logger=instantiate_all(cfg.logger))
    trainer.fit(instantiate(cfg.model), datamodule=datamodule)
    starts = clock.starts
    return [b - a for a, b in zip(starts, starts[1:], strict=False)], clock.train_end - starts[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    due, plain, none, tail_with, tail_without = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for figures in (True, False):
                epochs, tail = run(figures, Path(tmp) / f"{r}-{figures}")
                if figures:
                    # epochs[i] is epoch i+1 (1-based); the chart is drawn after 20, 40, ...
                    due += [t for i, t in enumerate(epochs) if (i + 1) % 20 == 0]
                    plain += [t for i, t in enumerate(epochs) if (i + 1) % 20]
                    tail_with.append(tail)
                else:
                    none += epochs
                    tail_without.append(tail)
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    print(f"epochs with a figure (chart + histograms): median {ms(due):.1f} ms  (n={len(due)})")
    print(f"other epochs, figures on:                  median {ms(plain):.2f} ms  (n={len(plain)})")
    print(f"epochs, figure callbacks removed:          median {ms(none):.2f} ms  (n={len(none)})")
    print(f"cost of a figure epoch: {ms(due) - ms(plain):.1f} ms "
          f"({ms(due) / ms(plain):.1f}x a plain epoch)")
    print(f"last epoch + end-of-training figures: {ms(tail_with):.0f} ms "
          f"vs {ms(tail_without):.0f} ms without")


if __name__ == "__main__":
    main()
