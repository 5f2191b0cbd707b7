"""`hydra.sweeper.members=true`: a batch of trials trained as members of one run leaves
what the one-at-a-time sweep leaves, with the same results for the same trials."""

import json
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from fivestep.checkpointing.reading import load_checkpoint, restore
from fivestep.models.system import System
from fivestep.sweep.members import shared_runs, train_trials
from fivestep.sweep.study import JOURNAL_NAME, storage_of

from ..cli import run_cli

SWEEP = ["-m", "experiment=two_layer", "hydra/sweeper=optuna", "optimized_metric=val/acc_best",
         "model.optimizer.lr=tag(log, interval(0.001, 1.0))", "hydra.sweeper.n_trials=3",
         "hydra.sweeper.n_jobs=3", "trainer.max_epochs=10", "logger=[]",
         "callbacks.progress_bar.refresh_rate=0", "hydra/sweeper/pruner=none"]


_LAST_OUTPUT = [""]


def _sweep(tmp_path: Path, name: str, *overrides: str) -> Path:
    done = run_cli("train.py", *SWEEP, f"paths.log_dir={tmp_path / name}", *overrides,
                   timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    _LAST_OUTPUT[0] = done.stdout + done.stderr
    (sweep,) = (tmp_path / name / "train" / "multiruns").iterdir()
    return sweep


def _trial(sweep: Path, number: int) -> tuple[dict, dict]:
    summary = json.loads((sweep / str(number) / "metrics.json").read_text())
    overrides = yaml.safe_load((sweep / str(number) / ".hydra" / "overrides.yaml").read_text())
    return summary, {o.split("=")[0]: o.split("=", 1)[1] for o in overrides}


@pytest.mark.slow  # two sweeps of three trials, each a process
def test_members_sweep_equals_the_one_at_a_time_sweep(tmp_path):  # 3 trials, n_jobs=3
    alone = _sweep(tmp_path, "alone")
    together = _sweep(tmp_path, "together", "hydra.sweeper.members=true")
    assert "Trials [0, 1, 2] train as members of one run" in _LAST_OUTPUT[0]  # stacked
    for number in range(3):
        (a, a_overrides), (b, b_overrides) = _trial(alone, number), _trial(together, number)
        assert a_overrides["model.optimizer.lr"] == b_overrides["model.optimizer.lr"]  # same trial
        for key in ("val/acc_best", "test/acc", "test/auroc"):
            assert b["metrics"][key] == pytest.approx(a["metrics"][key], abs=1e-5), (number, key)
        for key in ("train/loss", "val/loss", "test/loss"):
            assert b["metrics"][key] == pytest.approx(a["metrics"][key], abs=1e-5), (number, key)
        # the best checkpoints hold the same weights (a's is Lightning's, b's the member's)
        a_state = load_checkpoint(a["best_checkpoint"])["state_dict"]
        b_state = load_checkpoint(b["best_checkpoint"])["state_dict"]
        for name in (n for n in a_state if n.startswith("net.")):
            torch.testing.assert_close(b_state[name], a_state[name], rtol=0, atol=1e-5)
    a_best = yaml.safe_load((alone / "best.yaml").read_text())
    b_best = yaml.safe_load((together / "best.yaml").read_text())
    assert b_best["best_trial"] == a_best["best_trial"]
    assert b_best["best_value"] == pytest.approx(a_best["best_value"], abs=1e-6)
    assert b_best["trials"] == {"complete": 3}
    assert (together / "summary.md").is_file()
    for sweep in (alone, together):  # pruner=none: each trial reports its result, no epochs
        study = optuna.load_study(study_name="train", storage=storage_of(str(sweep / JOURNAL_NAME)))
        assert [t.intermediate_values for t in study.trials] == [{}, {}, {}]
        assert all(t.value is not None for t in study.trials)

    evaluated = run_cli("eval.py", f"ckpt_path={b_best['checkpoint']}",
                        f"paths.log_dir={tmp_path / 'eval'}")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]


def test_trials_group_by_their_data_and_trainer():
    def cfg(batch, epochs, lr):
        return OmegaConf.create({"data": {"batch_size": batch}, "model": {"optimizer": {"lr": lr}},
                                 "trainer": {"max_epochs": epochs, "default_root_dir": f"/{lr}"}})

    # the job's own folder (trainer.default_root_dir) differs between any two trials
    cfgs = [cfg(16, 5, 0.1), cfg(None, 5, 0.1), cfg(16, 5, 0.3), cfg(16, 9, 0.1)]
    assert shared_runs(cfgs) == [[0, 2], [1], [3]]


@pytest.mark.slow  # >0.7 s on the 2-core machine: CI's slow tier (default tier <45 s)
def test_each_trial_leaves_its_metrics_and_checkpoint(tmp_path, make_cfg):
    common = ["experiment=two_layer", "trainer.max_epochs=3", "data.batch_size=16",
              "callbacks=none", "logger=[]"]
    cfgs = []
    for k, lr in enumerate([0.1, 1e30]):  # trial 1 goes non-finite at once
        cfg = make_cfg(*common, f"model.optimizer.lr={lr}")
        cfg.paths.output_dir = str(tmp_path / str(k))
        cfgs.append(cfg)
    results = train_trials(cfgs)
    assert [r["status"] for r in results] == ["complete", "failed"]
    good = json.loads((tmp_path / "0" / "metrics.json").read_text())
    bad = json.loads((tmp_path / "1" / "metrics.json").read_text())
    assert bad["status"] == "failed" and bad["best_checkpoint"] is None
    assert {"train/loss", "val/loss", "val/acc_best", "test/acc"} <= set(good["metrics"])
    restored = restore(good["best_checkpoint"], make_cfg(config_name="predict"), "test")
    assert restored.config.model.optimizer.lr == 0.1
    assert type(restored.model) is System  # a plain System, as eval.py loads any run's
