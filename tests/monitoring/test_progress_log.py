"""`ProgressLog`: a line per tenth of the run (or per `every_s`), not a bar redraw per batch."""

import logging

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch.utils.data import DataLoader, TensorDataset

from fivestep.monitoring.progress_log import ProgressLog, progress_bar


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(bar: ProgressLog, epochs: int, batches: int, caplog) -> list[str]:
    data = DataLoader(TensorDataset(torch.randn(batches * 4, 2)), batch_size=4)
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, callbacks=[bar], logger=False,
                        enable_checkpointing=False, enable_model_summary=False)
    with caplog.at_level(logging.INFO, logger="fivestep.monitoring.progress_log"):
        trainer.fit(Tiny(), data)
    return [r.getMessage() for r in caplog.records if r.name.endswith("progress_log")]


def test_one_line_per_tenth_of_many_short_epochs(caplog):
    lines = _fit(ProgressLog(every_fraction=0.1, every_s=3600), 50, 1, caplog)
    assert [line.split(" (")[0] for line in lines] == [f"epoch {e}/50" for e in range(5, 51, 5)]
    assert "(100%," in lines[-1] and "train/loss=" in lines[-1]


def test_lines_inside_one_long_epoch(caplog):
    lines = _fit(ProgressLog(every_fraction=0.25, every_s=3600), 1, 40, caplog)
    shares = [line.split("(")[1].split("%")[0] for line in lines]
    assert shares == ["25", "50", "75", "100"]


def test_a_line_every_s_seconds_besides(caplog):
    lines = _fit(ProgressLog(every_fraction=1.0, every_s=1e-9), 3, 2, caplog)
    assert len(lines) == 6  # every batch is past the clock


def test_the_terminal_gets_lightnings_bar_and_a_pipe_the_log(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert type(progress_bar()) is TQDMProgressBar
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert isinstance(progress_bar(), ProgressLog)
    assert type(progress_bar(refresh_rate=0)) is TQDMProgressBar  # 0 = no progress at all


@pytest.mark.parametrize("kwargs", [{"every_fraction": 0}, {"every_s": 0}])
def test_bad_intervals_are_refused(kwargs):
    with pytest.raises(ValueError, match="every_fraction"):
        ProgressLog(**kwargs)
