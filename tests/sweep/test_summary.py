"""The sweep summary table, read back from job folders laid out as a multirun leaves them."""

import csv
import json

import numpy as np
import pytest

from fivestep.sweep.summary import write_summary


def make_job(sweep, name, overrides, metrics=None):
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        summary = {"metrics": metrics, "best_checkpoint": None}
        (job / "metrics.json").write_text(json.dumps(summary))


def test_rows_sorted_best_first_with_overrides_and_metrics(tmp_path):
    lr = ["experiment=two_layer", "model.optimizer.lr="]
    make_job(tmp_path, "0", [lr[0], lr[1] + "0.01"], {"val/acc_best": 0.7, "test/acc": 0.6})
    make_job(tmp_path, "1", [lr[0], lr[1] + "0.1"], {"val/acc_best": 0.9, "test/acc": 0.8})
    make_job(tmp_path, "2", [lr[0], lr[1] + "-1"])  # failed: no metrics.json
    table = write_summary(tmp_path, "val/acc_best", None)

    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["1", "0", "2"]
    assert [r["model.optimizer.lr"] for r in rows] == ["0.1", "0.01", "-1"]
    assert [r["val/acc_best"] for r in rows] == ["0.9", "0.7", ""]
    assert rows[2]["status"] == "no metrics.json"
    names = ["job", "experiment", "model.optimizer.lr", "status", "val/acc_best", "test/acc"]
    assert list(rows[0]) == names
    lines = (tmp_path / "summary.md").read_text().splitlines()
    assert lines[0] == "Every job: experiment=two_layer"  # shared overrides above the table
    assert lines[2] == "| job | model.optimizer.lr | status | val/acc_best | test/acc |"
    assert lines[4] == "| 1 | 0.1 | complete | 0.9000 | 0.8000 |"
    assert table == (tmp_path / "summary.md").read_text()


def test_a_loss_objective_sorts_lowest_first_unless_told(tmp_path):
    make_job(tmp_path, "10", ["a=3"], {"val/loss": 0.2})  # a tie: job order, 2 before 10
    make_job(tmp_path, "2", ["a=1"], {"val/loss": 0.2})
    make_job(tmp_path, "1", ["a=2"], {"val/loss": 0.5})
    write_summary(tmp_path, "val/loss", None)
    jobs = [line.split(" | ")[0] for line in (tmp_path / "summary.md").read_text().splitlines()]
    assert jobs[2:5] == ["| 2", "| 10", "| 1"]
    write_summary(tmp_path, "val/loss", "maximize")
    jobs = [line.split(" | ")[0] for line in (tmp_path / "summary.md").read_text().splitlines()]
    assert jobs[2:5] == ["| 1", "| 2", "| 10"]


def test_the_last_row_is_every_metrics_mean_and_std_over_the_jobs(tmp_path):
    accs = [0.95, 0.97, 0.99, 0.96, 0.98]
    for k, acc in enumerate(accs):
        make_job(tmp_path, str(k), ["experiment=breast_cancer", "data.folds=5", f"data.fold={k}"],
                 {"val/acc_best": acc, "test/acc": 0.9 + k / 100, "val/loss": 0.1})
    make_job(tmp_path, "5", ["experiment=breast_cancer", "data.folds=5", "data.fold=9"])  # failed
    write_summary(tmp_path, "val/acc_best", None)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    assert lines[2] == "| job | data.fold | status | val/acc_best | test/acc | val/loss |"
    assert lines[-1] == ("| mean ± std (5 jobs) |  |  | 0.9700 ± 0.0158 | 0.9200 ± 0.0158 "
                         "| 0.1000 ± 0.0000 |")
    with open(tmp_path / "summary_spread.csv") as f:
        spread = {r["metric"]: r for r in csv.DictReader(f)}
    assert set(spread) == {"val/acc_best", "test/acc", "val/loss"}
    assert float(spread["val/acc_best"]["mean"]) == pytest.approx(0.97)
    assert float(spread["val/acc_best"]["std"]) == pytest.approx(np.std(accs, ddof=1))
    assert spread["test/acc"]["jobs"] == "5"
    with open(tmp_path / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 6  # one row per job, the spread apart


def test_a_run_stopped_as_non_finite_is_listed_failed_and_last(tmp_path):
    make_job(tmp_path, "0", ["model.optimizer.lr=0.1"], {"val/acc_best": 0.7})
    job = tmp_path / "1"
    make_job(tmp_path, "1", ["model.optimizer.lr=1e30"])
    (job / "metrics.json").write_text(json.dumps({
        "status": "failed", "error": "training stopped at epoch 1, step 1: ...",
        "metrics": {}, "metrics_before_failure": {"val/acc_best": 0.9},
    }))
    write_summary(tmp_path, "val/acc_best", None)
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["status"], r["val/acc_best"]) for r in rows] == [
        ("0", "complete", "0.7"), ("1", "failed", "")]


def test_no_job_folders_writes_nothing(tmp_path):
    assert write_summary(tmp_path, "val/acc_best", None) is None
    assert not (tmp_path / "summary.csv").exists()
