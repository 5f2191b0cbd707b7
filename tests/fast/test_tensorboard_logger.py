"""`fivestep.fast.tensorboard_logger`: one event per `log_metrics` call, as TensorBoard reads it."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from fivestep.fast.tensorboard_logger import TensorBoardLogger


def _events(log_dir):
    (path,) = log_dir.glob("events.out.tfevents.*")
    return [e for e in EventFileLoader(str(path)).Load() if e.HasField("summary")]


def test_one_event_per_call_with_every_key(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), name="", version="", prefix="p")
    logger.log_metrics({"val/loss": torch.tensor(0.25), "val/acc": 0.75}, step=3)
    logger.log_metrics({"train/loss": 1.5}, step=4)
    logger.finalize("success")
    events = _events(tmp_path)
    assert [len(e.summary.value) for e in events] == [2, 1]
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["p-train/loss", "p-val/acc", "p-val/loss"]
    (point,) = acc.Scalars("p-val/loss")
    assert (point.step, point.value) == (3, 0.25)


def test_a_value_that_is_not_a_number_names_its_key(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), name="", version="")
    with pytest.raises(ValueError, match="'val/oops'"):
        logger.log_metrics({"val/oops": "high"}, step=0)


def test_a_restart_drops_the_later_points_of_an_interrupted_process(tmp_path):
    first = TensorBoardLogger(str(tmp_path), name="", version="")
    for step in range(6):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.finalize("failed")
    # the checkpoint was taken at step 3; the writer's purge_step, as prepare_resume sets it
    resumed = TensorBoardLogger(str(tmp_path), name="", version="", purge_step=3)
    for step in range(3, 5):
        resumed.log_metrics({"train/loss": 10.0 + step}, step=step)
    resumed.finalize("success")
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert [(p.step, p.value) for p in acc.Scalars("train/loss")] == [
        (0, 0.0), (1, 1.0), (2, 2.0), (3, 13.0), (4, 14.0)
    ]


def test_logging_after_finalize_reopens_the_event_file(tmp_path):
    """The test stage logs after `fit` has finalized (closed) the logger."""
    logger = TensorBoardLogger(str(tmp_path), name="", version="")
    logger.log_metrics({"val/loss": 0.5}, step=1)
    logger.finalize("success")
    logger.log_metrics({"test/acc": 0.75}, step=2)
    logger.finalize("success")
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert [(p.step, p.value) for p in acc.Scalars("test/acc")] == [(2, 0.75)]
