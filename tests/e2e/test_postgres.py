"""Against the local PostgreSQL server (scripts/local_postgres.sh up): one Optuna study
shared by two sweep workers running at the same time."""

import csv
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from omegaconf import OmegaConf
from optuna.trial import TrialState

from ..conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

N_TRIALS = 6


@pytest.fixture(scope="module")
def postgres_url() -> str:
    url = subprocess.run(
        ["bash", str(ROOT / "scripts" / "local_postgres.sh"), "url"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()
    try:
        with sqlalchemy.create_engine(url).connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as err:  # fail, not skip: CI must not pass without it
        pytest.fail(f"PostgreSQL is not up at {url} ({err}); run scripts/local_postgres.sh up")
    return url


def test_two_workers_share_one_postgres_study_and_end_with_exactly_n_trials(
    tmp_path, postgres_url
):
    name = f"two_layer_{uuid.uuid4().hex[:8]}"  # a new study on the long-lived server
    command = [
        sys.executable, "train.py", "-m", "hparams_search=two_layer_optuna",
        "hydra.sweeper.params=null", "model.optimizer.lr=tag(log, interval(0.01, 1.0))",
        f"hydra.sweeper.storage={postgres_url}", f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.n_trials={N_TRIALS}", "trainer.max_epochs=8", "logger=[]",
        f"paths.log_dir={tmp_path}",
    ]
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    start = time.monotonic()
    workers = [
        subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT) for log in logs
    ]
    for worker, log in zip(workers, logs, strict=True):
        code = worker.wait(timeout=400)
        log.close()
        assert code == 0, Path(log.name).read_text()[-3000:]
    print(f"TIMING two workers, {N_TRIALS} trials, one PostgreSQL study: "
          f"{time.monotonic() - start:.1f} s")

    study = optuna.load_study(study_name=name, storage=postgres_url)
    trials = study.trials
    assert [t.number for t in trials] == list(range(N_TRIALS))  # exactly n_trials, no overshoot
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # both workers took part, and each trial was told by exactly one of them, once
    told = [Path(log.name).read_text() for log in logs]
    counts = [sum(text.count(f"Trial {t.number}: ") for t in trials) for text in told]
    assert all(counts) and sum(counts) == N_TRIALS
    for trial in trials:
        assert sum(text.count(f"Trial {trial.number}: ") for text in told) == 1
    sweep = tmp_path / "train" / "sweeps" / name
    for trial in trials:  # one folder per trial, trained once, with the value the study holds
        run = Path(trial.user_attrs["run_dir"])
        assert run == sweep / str(trial.number)
        assert (run / "train.log").read_text().count("Final metrics:") == 1
        metrics = json.loads((run / "metrics.json").read_text())["metrics"]
        assert metrics["val/acc_best"] == pytest.approx(trial.value)
        overrides = OmegaConf.load(run / ".hydra" / "overrides.yaml")
        assert f"model.optimizer.lr={trial.params['model.optimizer.lr']}" in overrides

    best = OmegaConf.load(sweep / "best.yaml")
    assert best.best_trial == study.best_trial.number
    assert best.best_value == pytest.approx(study.best_value)
    assert best.trials == {"complete": N_TRIALS}
    with (sweep / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["job"]) for r in rows) == list(range(N_TRIALS))
    for row in rows:
        assert float(row["val/acc_best"]) == pytest.approx(trials[int(row["job"])].value)
