"""`BufferedCheckpoint` writes few files yet leaves exactly what `ModelCheckpoint` would."""

import lightning as L
import pytest
import torch

import fivestep.train
from fivestep.fast.buffered_checkpoint import BufferedCheckpoint
from fivestep.train import train


class ValLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.losses.append(trainer.callback_metrics["val/loss"].item())


class CrashAtEpoch(L.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("crash")


def add_callbacks(monkeypatch, *extra: L.Callback) -> list[L.Callback]:
    """Append `extra` to the callbacks `train(cfg)` builds from the config; returns them all."""
    built: list[L.Callback] = []
    original = fivestep.train.instantiate_all

    def instantiate_all(group):
        out = original(group)
        if any(isinstance(cb, BufferedCheckpoint) for cb in out):
            out += extra
            built.extend(out)
        return out

    monkeypatch.setattr(fivestep.train, "instantiate_all", instantiate_all)
    return built


def fit(make_cfg, monkeypatch, interval: float) -> tuple[int, list[float]]:
    """Train; return the number of checkpoint files written and val/loss per epoch."""
    cfg = make_cfg(
        "experiment=two_layer",
        "callbacks=fast",
        "trainer.max_epochs=25",
        "model/optimizer=adam",  # fast enough that val/loss turns: not every epoch improves
        "model.optimizer.lr=0.1",
        f"callbacks.model_checkpoint.write_interval_s={interval}",
        f"callbacks.last_checkpoint.write_interval_s={interval}",
        "callbacks.progress_bar.refresh_rate=0",
        "logger=[]",
        "test=false",
    )
    recorder = ValLosses()
    built = add_callbacks(monkeypatch, recorder)
    train(cfg)
    monkeypatch.undo()
    writers = [cb for cb in built if isinstance(cb, BufferedCheckpoint)]
    assert len(writers) == 2  # best and last
    return sum(cb.writes for cb in writers), recorder.losses


def load_all(folder) -> dict[str, dict]:
    return {p.name: torch.load(p, weights_only=False) for p in folder.iterdir()}


@pytest.mark.slow  # the opt-in fast/ path: whole fits
def test_buffered_writes_the_same_best_file_with_far_fewer_writes(make_cfg, monkeypatch, tmp_path):
    folder = tmp_path / "checkpoints"
    at_once, losses = fit(make_cfg, monkeypatch, 0.0)
    reference = load_all(folder)
    for path in folder.iterdir():
        path.unlink()
    buffered, losses_again = fit(make_cfg, monkeypatch, 3600.0)
    files = load_all(folder)

    assert losses == losses_again  # the same seeded run twice
    best_epoch = min(range(len(losses)), key=losses.__getitem__)
    assert best_epoch < len(losses) - 1, "the run needs epochs after its best one"
    best = f"epoch_{best_epoch:03d}.ckpt"
    assert set(files) == set(reference) == {best, "last.ckpt"}
    assert files[best]["epoch"] == reference[best]["epoch"] == best_epoch
    for key, value in reference[best]["state_dict"].items():
        torch.testing.assert_close(files[best]["state_dict"][key], value, rtol=0, atol=0)
    # last.ckpt is the final epoch either way, with the same weights
    assert files["last.ckpt"]["epoch"] == reference["last.ckpt"]["epoch"] == len(losses) - 1
    assert files["last.ckpt"]["global_step"] == len(losses)
    for key, value in reference["last.ckpt"]["state_dict"].items():
        torch.testing.assert_close(files["last.ckpt"]["state_dict"][key], value, rtol=0, atol=0)
    # each file is written at the first epoch, then once at the end of fit: 2 + 2
    assert buffered <= 4 < at_once


@pytest.mark.slow  # the opt-in fast/ path: whole fits
def test_a_crash_writes_the_pending_checkpoints(make_cfg, monkeypatch, tmp_path):
    cfg = make_cfg(
        "experiment=two_layer",
        "callbacks=fast",
        "callbacks.model_checkpoint.write_interval_s=3600",
        "callbacks.last_checkpoint.write_interval_s=3600",
        "callbacks.progress_bar.refresh_rate=0",
        "logger=[]",
    )
    add_callbacks(monkeypatch, CrashAtEpoch(5))
    with pytest.raises(RuntimeError, match="crash"):
        train(cfg)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    # Lightning runs checkpoint callbacks after the others, so epoch 5's end never reached
    # it: the newest state it held in memory is epoch 4's, not the file written at epoch 0
    assert last["epoch"] == 4


@pytest.mark.slow  # the opt-in fast/ path: whole fits
def test_step_checkpoints_still_follow_every_n_train_steps(make_cfg, tmp_path):
    """The per-step check is skipped only when no step or time cadence is set."""
    cfg = make_cfg(
        "experiment=two_layer",
        "trainer.max_epochs=2",
        "data.batch_size=16",  # 60 training rows: 4 steps per epoch, 8 in all
        "+callbacks.step_checkpoint._target_=fivestep.fast.buffered_checkpoint.BufferedCheckpoint",
        f"+callbacks.step_checkpoint.dirpath={tmp_path}/steps",
        "+callbacks.step_checkpoint.filename='{step}'",
        "+callbacks.step_checkpoint.every_n_train_steps=3",
        "+callbacks.step_checkpoint.save_top_k=-1",
        "+callbacks.step_checkpoint.write_interval_s=0",
        "logger=[]",
        "test=false",
    )
    train(cfg)
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == [
        "step=3.ckpt", "step=6.ckpt"
    ]
