"""Sweeps as a user runs them: `python train.py -m ...`, real processes, real Optuna studies."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from fivestep.sweep.study import JOURNAL_NAME, storage_of

from ..cli import run_cli
from ..conftest import ROOT

pytestmark = pytest.mark.slow

QUIET = ["callbacks.progress_bar.refresh_rate=0", "logger=[]"]


def optuna_sweep(log_dir: Path, *overrides: str) -> list[str]:
    """The two_layer Optuna sweep, with its search space replaced by `overrides`."""
    return [
        "train.py", "-m", "hparams_search=two_layer_optuna", "hydra.sweeper.params=null",
        f"paths.log_dir={log_dir}", *QUIET, *overrides,
    ]


def load(log_dir: Path) -> optuna.Study:
    journal = log_dir / "train" / "sweeps" / "two_layer" / JOURNAL_NAME
    return optuna.load_study(study_name="two_layer", storage=storage_of(str(journal)))


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials()]


def test_grid_runs_every_point_and_writes_the_summary_table(tmp_path):
    proc = run_cli(
        "train.py", "-m", "experiment=two_layer", "model.optimizer.lr=0.01,0.5",
        "trainer.max_epochs=5", f"paths.log_dir={tmp_path}", *QUIET,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # each row holds that job's overrides and its final metrics
        metrics = json.loads((sweep / row["job"] / "metrics.json").read_text())["metrics"]
        assert float(row["val/acc_best"]) == pytest.approx(metrics["val/acc_best"])
        assert float(row["test/acc"]) == pytest.approx(metrics["test/acc"])
        assert row["model.optimizer.lr"] == {"0": "0.01", "1": "0.5"}[row["job"]]
    assert float(rows[0]["val/acc_best"]) >= float(rows[1]["val/acc_best"])
    assert "Sweep summary (sorted by val/acc_best)" in proc.stdout
    assert (sweep / "summary.md").read_text() in proc.stdout


def test_optuna_sweep_prunes_bad_trials_and_writes_the_best(tmp_path):
    proc = run_cli(*optuna_sweep(
        tmp_path, "model.optimizer.lr=choice(0.0001, 1.0)", "trainer.max_epochs=10",
        "hydra.sweeper.n_trials=6", "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=2",
    ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load(tmp_path)
    assert len(study.trials) == 6
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, states(study)
    for trial in pruned:  # stopped after the warm-up, before the last epoch
        assert 2 <= max(trial.intermediate_values) < 9
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        assert sorted(trial.intermediate_values) == list(range(10))  # one report per epoch
    sweep = tmp_path / "train" / "sweeps" / "two_layer"
    best = OmegaConf.to_container(OmegaConf.load(sweep / "best.yaml"))
    assert best["best_trial"] == study.best_trial.number
    assert best["best_value"] == pytest.approx(study.best_value)
    assert best["best_params"] == study.best_params
    assert Path(best["checkpoint"]).is_file()
    assert Path(best["checkpoint"]).parent.parent == sweep / str(study.best_trial.number)


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    proc = run_cli(*optuna_sweep(
        tmp_path / "tolerated", "model.optimizer.lr=choice(0.1, -1.0)", "trainer.max_epochs=3",
        "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=0.75",
    ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load(tmp_path / "tolerated")
    assert len(study.trials) == 4 and "FAIL" in states(study) and "COMPLETE" in states(study)
    for trial in study.trials:  # the negative learning rate is what failed
        assert (trial.state == TrialState.FAIL) == (trial.params["model.optimizer.lr"] < 0)

    proc = run_cli(*optuna_sweep(
        tmp_path / "too_many", "model.optimizer.lr=-1.0", "trainer.max_epochs=3",
        "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=0.25",
    ))
    assert proc.returncode != 0
    assert "2 of 4 trials failed, more than max_failure_rate=0.25" in proc.stderr
    assert states(load(tmp_path / "too_many")) == ["FAIL", "FAIL"]


def test_trials_whose_training_goes_non_finite_are_failed_and_the_sweep_goes_on(tmp_path):
    # lr 1e30: the first step leaves finite but huge weights, the next loss is NaN
    proc = run_cli(*optuna_sweep(
        tmp_path, "model.optimizer.lr=1e30", "trainer.max_epochs=5",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.max_failure_rate=1.0",
    ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert states(load(tmp_path)) == ["FAIL", "FAIL"]  # both trials ran
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("training stopped at epoch 1" in e for e in errors)
    sweep = tmp_path / "train" / "sweeps" / "two_layer"
    for trial in ("0", "1"):
        assert json.loads((sweep / trial / "metrics.json").read_text())["status"] == "failed"


def test_an_interrupted_study_resumes_without_rerunning_finished_trials(tmp_path):
    command = [sys.executable, *optuna_sweep(
        tmp_path, "model.optimizer.lr=tag(log, interval(0.01, 1.0))", "trainer.max_epochs=150",
        "hydra.sweeper.n_trials=20", "hydra/sweeper/pruner=none",
        "hydra.sweeper.report_epochs=true",  # the record of every epoch, without pruning
    )]
    log = open(tmp_path / "first.log", "w")  # a file, not a pipe nobody reads: that would block
    first = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    journal = tmp_path / "train" / "sweeps" / "two_layer" / JOURNAL_NAME
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # Ctrl-C once two trials are done and a third runs
        time.sleep(0.2)
        try:
            if journal.exists() and states(load(tmp_path)).count("COMPLETE") >= 2:
                break
        except KeyError:  # the sweep is still creating its study
            continue
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=120) != 0
    log.close()
    before = {t.number: t for t in load(tmp_path).get_trials(states=(TrialState.COMPLETE,))}
    assert len(before) >= 2
    assert "RUNNING" not in states(load(tmp_path))  # the interrupted trial is marked failed

    n_trials = len(load(tmp_path).trials) + 2
    command[command.index("hydra.sweeper.n_trials=20")] = f"hydra.sweeper.n_trials={n_trials}"
    command[command.index("trainer.max_epochs=150")] = "trainer.max_epochs=5"
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    after = load(tmp_path).trials
    assert len(after) == n_trials
    for number, trial in before.items():  # untouched: same values, same completion time
        assert after[number].state == TrialState.COMPLETE
        assert after[number].datetime_complete == trial.datetime_complete
        assert after[number].params == trial.params
    new = [t for t in after if t.number >= n_trials - 2]
    assert [t.state for t in new] == [TrialState.COMPLETE] * 2
    assert all(len(t.intermediate_values) == 5 for t in new)  # run with the new command


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_other_process_launchers_report_epochs_through_the_storage(tmp_path, launcher):
    proc = run_cli(*optuna_sweep(
        tmp_path, "model.optimizer.lr=tag(log, interval(0.01, 1.0))", "trainer.max_epochs=4",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", f"hydra/launcher={launcher}",
    ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load(tmp_path)
    assert states(study) == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:  # reported from the job's own process
        assert sorted(trial.intermediate_values) == [0, 1, 2, 3]
        metrics = json.loads((Path(trial.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert metrics["metrics"]["val/acc_best"] == pytest.approx(trial.value)


def test_two_sweep_processes_share_one_study(tmp_path):
    command = [sys.executable, *optuna_sweep(
        tmp_path, "model.optimizer.lr=tag(log, interval(0.01, 1.0))", "trainer.max_epochs=20",
        "hydra.sweeper.n_trials=6",
    )]
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    workers = [
        subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT) for log in logs
    ]
    for worker, log in zip(workers, logs, strict=True):
        code = worker.wait(timeout=300)
        log.close()
        assert code == 0, open(log.name).read()[-3000:]
    trials = load(tmp_path).trials
    assert len(trials) == 6  # counted and asked under the study's lock: no overshoot
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    sweep = tmp_path / "train" / "sweeps" / "two_layer"
    folders = {t.user_attrs["run_dir"] for t in trials}
    assert folders == {str(sweep / str(t.number)) for t in trials}  # one folder per trial


def mcc_sweep(log_dir: Path, *overrides: str) -> list[str]:
    """docs/extending.md's sweep on a metric the user added (model/metrics=mcc):
    python train.py -m hparams_search=breast_cancer_optuna model/metrics=mcc \
        optimized_metric=val/mcc_best hydra.sweeper.study_name=breast_cancer_mcc
    here with 2 short trials over the learning rate alone."""
    return [
        "train.py", "-m", "hparams_search=breast_cancer_optuna", "model/metrics=mcc",
        "hydra.sweeper.study_name=breast_cancer_mcc", "hydra.sweeper.params=null",
        "model.optimizer.lr=interval(0.001, 0.1)", "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=3", f"paths.log_dir={log_dir}", *QUIET, *overrides,
    ]


def test_a_sweep_on_an_added_metric_and_what_it_refuses(tmp_path):
    sweep = tmp_path / "train" / "sweeps" / "breast_cancer_mcc"
    # a typo: refused before any trial, listing the run's metrics
    proc = run_cli(*mcc_sweep(tmp_path, "optimized_metric=val/mcc_bset"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: optimized_metric=val/mcc_bset is not a metric of this sweep's runs; its "
        "metrics: ")
    assert "val/mcc_best" in proc.stderr and "Traceback" not in proc.stderr
    assert not (sweep / JOURNAL_NAME).exists() and not (sweep / "0").exists()

    proc = run_cli(*mcc_sweep(tmp_path, "optimized_metric=val/mcc_best"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="breast_cancer_mcc",
                              storage=storage_of(str(sweep / JOURNAL_NAME)))
    assert states(study) == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:  # each value is the trial's own val/mcc_best
        run = json.loads((Path(trial.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert run["metrics"]["val/mcc_best"] == pytest.approx(trial.value)
        assert {"val/mcc", "test/mcc", "val/acc_best"} <= set(run["metrics"])
    best = OmegaConf.load(sweep / "best.yaml")
    assert best.metric == "val/mcc_best"
    assert best.best_value == max(t.value for t in study.trials)

    # the same study with another objective: refused, the study untouched
    proc = run_cli(*mcc_sweep(tmp_path, "optimized_metric=val/acc_best",
                              "hydra.sweeper.n_trials=3"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"error: study 'breast_cancer_mcc' in {sweep.resolve() / JOURNAL_NAME} ")
    assert ("optimizes val/mcc_best (2 trials), but this sweep optimizes val/acc_best"
            in proc.stderr)
    assert len(optuna.load_study(study_name="breast_cancer_mcc",
                                 storage=storage_of(str(sweep / JOURNAL_NAME))).trials) == 2
