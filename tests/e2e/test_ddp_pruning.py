"""Optuna pruning under DDP: rank 0 decides, every rank stops after the same epoch."""

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from fivestep.sweep.study import JOURNAL_NAME, storage_of

from ..cli import run_cli

pytestmark = pytest.mark.slow


def test_a_pruned_ddp_trial_stops_on_every_rank_at_the_same_epoch(tmp_path):
    # ThresholdPruner with an unreachable lower bound prunes every trial at the first
    # epoch it may (index 2): a decision known in advance, so the test can check it.
    proc = run_cli(
        "train.py", "-m", "hparams_search=two_layer_optuna", "hydra.sweeper.params=null",
        "model.optimizer.lr=0.05,0.5", "hydra.sweeper.n_trials=2", "trainer=ddp_sim",
        "trainer.max_epochs=8", "data.batch_size=16", "logger=[]",
        "hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.lower=1.01",
        "hydra.sweeper.pruner.n_warmup_steps=2", f"paths.log_dir={tmp_path}", timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "train" / "sweeps" / "two_layer"
    study = optuna.load_study(study_name="two_layer", storage=storage_of(str(sweep / JOURNAL_NAME)))
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [0, 1, 2]  # reported by rank 0 only, once
        run = Path(trial.user_attrs["run_dir"])
        log = (run / "train.log").read_text()
        for rank in (0, 1):  # both processes stopped, after the same epoch
            assert f"Rank {rank} stops: trial {trial.number} pruned at epoch 2" in log, log[-2000:]
        assert not (run / "metrics.json").exists()  # a pruned trial is not tested
