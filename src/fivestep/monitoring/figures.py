"""The figures of a run, drawn from plain arrays with matplotlib's Agg renderer.

Each function takes numbers (no Lightning, no trainer) and returns PNG bytes, so a
callback can both save the file under `<run>/plots/` and hand the very same bytes to
TensorBoard. Figures are built with `matplotlib.figure.Figure` rather than `pyplot`:
no global backend switch, no figure registry to leak, safe in any process.
matplotlib is imported inside the functions, so importing this module costs nothing.
"""

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# One colour per class, colour-blind safe (Okabe-Ito); cycled beyond eight classes.
CLASS_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                 "#F0E442", "#000000"]


def _figure(width: float = 6.4, height: float = 4.0, right: float = 0.96) -> "Figure":
    """A figure with fixed margins (a layout engine would double the drawing time)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=0.12, right=right, bottom=0.13, top=0.9)
    return fig


def to_png(fig: "Figure") -> bytes:
    """Render `fig` once with Agg and return the PNG file's bytes."""
    buffer = io.BytesIO()
    # zlib level 1: a fifth of the drawing time went into level 6's compression, for
    # files only ~10-30 % smaller
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def probability_chart(
    probs: np.ndarray, target: np.ndarray, epoch: int, class_names: Sequence[str]
) -> bytes:
    """The seed's bar chart: one bar per row, its predicted probability, coloured by
    the row's true class. Untrained, every bar sits near 0.5 (binary); trained, the
    two classes split towards 0 and 1.

    Args:
        probs: `(rows,)` probability of the positive class (binary) or of each row's
            own true class (multi-class).
        target: `(rows,)` integer true classes.
        epoch: epochs trained so far (0 = before training), for the title.
        class_names: a name per class, for the legend.
    """
    return ProbabilityChart(target, class_names).render(probs, epoch)


class ProbabilityChart:
    """`probability_chart` for one set of rows, drawn again and again: the figure,
    axes, ticks and legend are built once and each `render` only moves the bars and
    changes the title. A training run draws the chart every few epochs; building the
    figure each time cost about half of each drawing.

    Args:
        target: `(rows,)` integer true classes (they colour the bars).
        class_names: a name per class, for the legend.
    """

    def __init__(self, target: np.ndarray, class_names: Sequence[str]) -> None:
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator

        self.target = np.asarray(target).astype(int)
        self.class_names = list(class_names)
        n = len(self.target)
        self.fig = _figure(7.0, 4.0, right=0.8)
        ax = self.fig.add_subplot()
        rows = np.arange(n, dtype=float)
        self._left, self._right = rows - 0.4, rows + 0.4
        # The bars are one collection of rectangles, not `ax.bar`: a patch per row
        # made each drawing ~3x slower.
        colours = [CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in self.target]
        self._bars = PolyCollection(self._corners(np.zeros(n)), facecolors=colours,
                                    linewidths=0)
        ax.add_collection(self._bars, autolim=False)
        half = ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        self._over_bars = [half, *ax.spines.values()]  # drawn again over new bars
        self._background: Any = None  # the pixels of everything else, after a first render
        ax.set_ylim(0, 1)
        ax.set_xlim(-0.6, max(n, 1) - 0.4)
        ax.set_xlabel("row")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        binary = len(self.class_names) == 2
        ax.set_ylabel("P(class 1)" if binary else "P(true class)")
        self._title = ax.set_title("")
        present = sorted(set(self.target.tolist()))
        ax.legend(
            handles=[Patch(color=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                           label=f"true: {self.class_names[c]}") for c in present],
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
        )

    def _corners(self, heights: np.ndarray) -> np.ndarray:
        """`(rows, 4, 2)`: each bar's corners, from the axis up to its height."""
        zero = np.zeros_like(heights)
        left, right = self._left, self._right
        return np.stack(
            [np.stack([left, zero], 1), np.stack([left, heights], 1),
             np.stack([right, heights], 1), np.stack([right, zero], 1)], 1
        )

    def matches(self, target: np.ndarray, class_names: Sequence[str]) -> bool:
        """Whether this figure was built for these rows and names."""
        return list(class_names) == self.class_names and np.array_equal(
            np.asarray(target).astype(int), self.target
        )

    def render(self, probs: np.ndarray, epoch: int) -> bytes:
        """PNG bytes of the chart with bars at `probs` and "after `epoch` epochs".

        The first call renders everything but the bars and the title once and keeps
        those pixels; each call then starts from a copy of them and draws only the
        bars, the lines over them and the title (matplotlib's blitting). The text of
        ticks, labels and legend was most of the drawing time."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        ax = self._bars.axes
        if self._background is None:
            canvas = FigureCanvasAgg(self.fig)
            self._bars.set_visible(False)
            self._title.set_visible(False)
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
            self._bars.set_visible(True)
            self._title.set_visible(True)
        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        self._bars.set_verts(self._corners(np.asarray(probs, dtype=float)))
        self._title.set_text(f"Predicted probability per row, after {epoch} epochs")
        for artist in (self._bars, *self._over_bars, self._title):
            ax.draw_artist(artist)
        return _rgba_to_png(np.asarray(canvas.buffer_rgba()), self.fig.dpi)


def _rgba_to_png(pixels: np.ndarray, dpi: float) -> bytes:
    """An `(h, w, 4)` uint8 RGBA image as PNG bytes, as `to_png` would write it."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="png", compress_level=1,
                                         dpi=(dpi, dpi))
    return buffer.getvalue()


def loss_curves(
    train: Sequence[float], val: Sequence[float], val_epochs: Sequence[int]
) -> bytes:
    """Training loss of epochs 1, 2, ... and validation loss after `val_epochs`
    epochs (validation may run less often, or never)."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(train) + 1), train, label="train/loss")
    if len(val):
        ax.plot(val_epochs, val, label="val/loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss per epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    return to_png(fig)


def roc_curve(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], aucs: Sequence[float],
    labels: Sequence[str], split: str,
) -> bytes:
    """ROC curves, one per `(fpr, tpr)` pair (one for binary, one per class for
    multi-class, one class against the rest), with their AUROC in the legend."""
    fig = _figure(5.0, 4.6)
    ax = fig.add_subplot()
    for i, ((fpr, tpr), auc, label) in enumerate(zip(curves, aucs, labels, strict=True)):
        ax.plot(fpr, tpr, color=CLASS_COLOURS[i % len(CLASS_COLOURS)],
                label=f"{label} (AUROC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC curve ({split} rows)")
    ax.legend(loc="lower right", fontsize="small")
    return to_png(fig)


def confusion_matrix(counts: np.ndarray, class_names: Sequence[str], split: str) -> bytes:
    """`counts: (K, K)`, rows true class, columns predicted class, each cell annotated."""
    size = 2.6 + 0.6 * len(class_names)
    fig = _figure(size + 1.0, size, right=0.98)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = counts.max() / 2 if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(int(n)), ha="center", va="center",
                color="white" if n > threshold else "black")
    ax.set_title(f"Confusion matrix ({split} rows)")
    return to_png(fig)


def predicted_vs_true(pred: np.ndarray, target: np.ndarray, r2: float, split: str) -> bytes:
    """Regression: predicted against true value per row, with the line `y = x`."""
    fig = _figure(5.0, 4.6)
    ax = fig.add_subplot()
    ax.scatter(target, pred, s=14, alpha=0.7, color=CLASS_COLOURS[0])
    low = float(min(target.min(), pred.min()))
    high = float(max(target.max(), pred.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.set_title(f"Predicted vs true ({split} rows), R² {r2:.3f}")
    ax.grid(alpha=0.3)
    return to_png(fig)
