"""`fivestep.monitoring.figures`: every drawing is a PNG file that PIL decodes, at the
figure's size in pixels; the probability chart drawn again keeps its figure and shows
the new bars."""

import io

import numpy as np
import pytest
from PIL import Image

from fivestep.monitoring import figures


def decoded(png: bytes) -> Image.Image:
    """The PNG decoded by PIL (fully: `load` reads every pixel)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:
        image.verify()  # raises on a truncated or corrupt file
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image


def test_loss_curves_with_and_without_validation():
    with_val = decoded(figures.loss_curves([0.9, 0.6, 0.4], [1.0, 0.7], [1, 3]))
    assert with_val.size == (640, 400)  # 6.4 x 4 inches at 100 dpi
    assert with_val.mode == "RGBA"
    without = decoded(figures.loss_curves([0.9, 0.6], [], []))
    assert without.size == (640, 400)


def test_roc_curves_one_per_class():
    fpr, tpr = np.array([0.0, 0.2, 1.0]), np.array([0.0, 0.8, 1.0])
    one = decoded(figures.roc_curve([(fpr, tpr)], [0.8], ["positive"], "val"))
    assert one.size == (500, 460)
    assert one.mode == "RGBA"
    three = decoded(figures.roc_curve([(fpr, tpr)] * 3, [0.8, 0.7, 0.9], ["a", "b", "c"], "test"))
    assert three.size == (500, 460)
    with pytest.raises(ValueError):  # a label short
        figures.roc_curve([(fpr, tpr)] * 2, [0.8, 0.7], ["a"], "val")


@pytest.mark.parametrize("k", [2, 3])
def test_confusion_matrix_grows_with_the_classes(k):
    counts = np.arange(k * k).reshape(k, k)
    image = decoded(figures.confusion_matrix(counts, [f"c{i}" for i in range(k)], "val"))
    size = 2.6 + 0.6 * k
    assert image.size == (round((size + 1.0) * 100), round(size * 100))
    assert image.mode == "RGBA"


def test_predicted_vs_true():
    target = np.array([0.0, 1.0, 2.0, 3.0])
    image = decoded(figures.predicted_vs_true(target + 0.1, target, 0.97, "test"))
    assert image.size == (500, 460)
    assert image.mode == "RGBA"


@pytest.mark.slow  # >0.6 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_probability_chart_function():
    probs = np.array([0.1, 0.4, 0.6, 0.9])
    image = decoded(figures.probability_chart(probs, np.array([0, 0, 1, 1]), 0, ["no", "yes"]))
    assert image.size == (700, 400)
    assert image.mode == "RGBA"


def test_probability_chart_redraws_one_figure_with_new_bars():
    target = np.array([0, 1, 2, 1, 0])
    names = ["a", "b", "c"]
    chart = figures.ProbabilityChart(target, names)
    fig = chart.fig
    first = chart.render(np.full(5, 0.5), epoch=0)
    second = chart.render(np.array([0.9, 0.1, 0.8, 0.2, 0.7]), epoch=2)
    again = chart.render(np.full(5, 0.5), epoch=0)
    assert chart.fig is fig  # drawn again, not built again
    assert decoded(first).size == decoded(second).size == (700, 400)
    assert decoded(second).mode == "RGBA"
    assert first != second
    # the same probabilities and epoch give the same pixels as the first drawing
    assert np.array_equal(np.asarray(decoded(again)), np.asarray(decoded(first)))
    # and the same pixels as the one-off function (the same rows, built afresh)
    fresh = figures.probability_chart(np.full(5, 0.5), target, 0, names)
    assert np.array_equal(np.asarray(decoded(fresh)), np.asarray(decoded(first)))


def test_probability_chart_matches_only_its_own_rows_and_names():
    chart = figures.ProbabilityChart(np.array([0, 1, 1]), ["no", "yes"])
    assert chart.matches(np.array([0, 1, 1]), ["no", "yes"])
    assert chart.matches([0.0, 1.0, 1.0], ("no", "yes"))  # as integers, any sequence
    assert not chart.matches(np.array([1, 1, 0]), ["no", "yes"])
    assert not chart.matches(np.array([0, 1, 1, 0]), ["no", "yes"])
    assert not chart.matches(np.array([0, 1, 1]), ["yes", "no"])
