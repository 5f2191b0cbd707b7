"""`OptunaPruning` in tiny in-process fits against real Optuna studies: each
validation's value becomes the trial's intermediate value for that epoch, a pruner that
prunes stops `trainer.fit` with `optuna.TrialPruned` at the epoch it decides, naming
the metric, and outside a sweep `trial_callbacks` adds nothing."""

from functools import partial

import lightning as L
import optuna
import pytest
import torch

from fivestep.models.nets import MLP
from fivestep.models.system import System
from fivestep.sweep.pruning import OptunaPruning, trial_callbacks

from ..conftest import tiny_table

optuna.logging.set_verbosity(optuna.logging.WARNING)


class ValLoss(L.Callback):
    """`val/loss` after every validation of the fit (not the sanity check)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.values.append(trainer.callback_metrics["val/loss"].item())


def fit(pruning: OptunaPruning, epochs: int, seen: ValLoss) -> L.Trainer:
    """Fit a small binary model for up to `epochs` with `pruning`; the trainer."""
    torch.manual_seed(0)
    dm = tiny_table("binary")
    model = System(MLP(dm.n_features, hidden=[4]), partial(torch.optim.SGD, lr=0.1),
                   task="binary")
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=1,  # a sanity check runs, and must not be reported
        callbacks=[seen, pruning],
    )
    seen.trainer = trainer
    trainer.fit(model, datamodule=dm)
    return trainer


def test_a_trial_that_is_never_pruned_reports_every_epoch():
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    seen = ValLoss()
    trainer = fit(OptunaPruning(trial, "val/loss"), 3, seen)
    assert trainer.current_epoch == 3  # ran to the end
    (frozen,) = study.get_trials()
    assert frozen.intermediate_values == pytest.approx(dict(enumerate(seen.values)))
    assert list(frozen.intermediate_values) == [0, 1, 2]


def test_a_pruner_that_prunes_stops_the_fit_at_its_epoch_naming_the_metric():
    # any val/loss is above 0: pruned at the first epoch after the warm-up of 2
    pruner = optuna.pruners.ThresholdPruner(upper=0.0, n_warmup_steps=2)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    study.ask()  # trial 0
    trial = study.ask()  # trial 1
    seen = ValLoss()
    with pytest.raises(optuna.TrialPruned) as pruned:
        fit(OptunaPruning(trial, "val/loss"), 6, seen)
    trainer = seen.trainer
    message = str(pruned.value)
    assert "epoch 2" in message and f"val/loss={seen.values[2]:.4f}" in message
    assert message.startswith("trial 1 ")
    assert len(seen.values) == 3  # epochs 0, 1, 2 validated; no epoch after
    assert trainer.current_epoch == 2
    frozen = study.get_trials()[1]
    assert frozen.intermediate_values == pytest.approx(dict(enumerate(seen.values)))


def test_a_metric_that_is_not_logged_is_not_reported():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    trial = study.ask()
    trainer = fit(OptunaPruning(trial, "val/not_a_metric"), 2, ValLoss())
    assert trainer.current_epoch == 2
    assert study.get_trials()[0].intermediate_values == {}


def test_outside_a_sweep_there_is_no_pruning_callback(make_cfg):
    assert trial_callbacks(make_cfg("experiment=two_layer")) == []


@pytest.mark.parametrize(("pruner", "setting", "reports"), [
    ("optuna.pruners.MedianPruner", "auto", True),
    ("optuna.pruners.NopPruner", "auto", False),  # the reports would only be a record
    ("optuna.pruners.NopPruner", True, True),
    ("optuna.pruners.MedianPruner", False, False),
    (None, True, False),  # no pruner config: nothing to report to
])
def test_trials_report_their_epochs_when_the_pruner_can_prune_or_when_asked(
        pruner, setting, reports):
    from omegaconf import OmegaConf

    from fivestep.sweep.pruning import reports_epochs

    sweeper = OmegaConf.create({"pruner": {"_target_": pruner} if pruner else None,
                                "report_epochs": setting})
    assert reports_epochs(sweeper) is reports
