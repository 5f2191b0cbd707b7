"""`scripts/benchmark.py` runs end to end and writes the table it prints (small sizes)."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_benchmark(out: Path, *args: str) -> tuple[list[dict], str]:
    """`scripts/benchmark.py *args --out out`: the rows it wrote, and what it printed."""
    done = subprocess.run(
        [sys.executable, "scripts/benchmark.py", *args, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())["rows"], done.stdout


@pytest.mark.slow
def test_benchmark_writes_every_row_with_a_ratio(tmp_path):
    rows, printed = _run_benchmark(tmp_path / "bench.json", "--cases", "seed,tabular",
                                   "--repeat", "1", "--rows", "5000")
    assert [(r["case"], r["metric"].strip()) for r in rows] == [
        ("seed", "200-epoch fit"),
        ("seed", "opt-in: callbacks=fast logger=tensorboard_fast"),
        ("seed", "floor: bare Lightning fit"),
        ("seed", "reference: Lightning defaults"),
        ("seed", "fit CPU time"),
        ("seed", "CPU, opt-in fast"),
        ("seed", "CPU, floor: bare Lightning"),
        ("seed", "CPU, reference: Lightning defaults"),
        ("seed", "default fit / Lightning defaults' (wall)"),
        ("tabular", "samples/s (1 epoch)"),
        ("tabular", "training epoch only"),
        ("tabular", "training epoch, 8 steps per Lightning step"),
        ("tabular", "opt-in: callbacks=fast logger=tensorboard_fast"),
        ("tabular", "floor: bare Lightning"),
        ("tabular", "reference: Lightning defaults"),
        ("tabular", "strict: raw loop with index_select"),
        ("tabular", "strict, 8 steps per Lightning step"),
        ("tabular", "peak RSS"),
    ]
    for r in rows:
        assert r["ratio"] > 0 and r["project"] > 0, r
    seed = rows[0]["runs"]
    # the same initial weights on every side (the script stops otherwise), 200 epochs each
    assert {s["epochs"] for side in seed.values() for s in side} == {200}
    assert all(0 < s["cpu_seconds"] for side in seed.values() for s in side)
    reference = rows[8]  # the default's fit over the reference's, run by run
    assert reference["ratio"] == pytest.approx(
        seed["project"][0]["seconds"] / seed["stock"][0]["seconds"])
    assert "| seed " in printed and "| tabular " in printed


@pytest.mark.slow
def test_benchmark_tables_and_mmap_cases_run_small(tmp_path):
    """The issue-13 cases at toy sizes: every row present, the cache hit, mmap trained."""
    rows, _ = _run_benchmark(
        tmp_path / "bench.json", "--cases", "tables,mmap", "--repeat", "1",
        "--table-rows", "3000", "--mmap-rows", "5000", "--mmap-batch-size", "256",
        "--table-dir", str(tmp_path / "tables"),
    )
    assert [(r["case"], r["metric"].strip()) for r in rows] == [
        ("tables 0.003M", "end to end (marginal over 1,000 rows)"),
        ("tables 0.003M", "peak RSS"),
        ("tables 0.003M", "preparation vs I/O floor"),
        ("tables 0.003M", "cache hit: share of the run preparing"),
        ("tables 0.003M", "peak RSS against 4 GiB"),
        ("mmap 0.005M", "peak RssAnon against 4 GiB"),
    ]
    assert all(r["runs"]["cache_hit"] is False for r in rows if r["case"].startswith("mmap"))
    hits = rows[0]["runs"]["hit"]
    assert hits and all(h["cache_hit"] for h in hits)
    assert rows[-1]["runs"]["memory_mapped"] is True
    assert rows[-1]["project"] < 4096  # RssAnon of a toy table, far under the bound
    assert not list((tmp_path / "tables").glob("*.parquet"))  # generated tables removed


def test_write_table_streams_chunks_of_rows(tmp_path):
    """The generator writes one row group per chunk, the rows asked for, no more."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT / "scripts"))
    from benchmark import write_table

    path = write_table(tmp_path / "t.parquet", 2500, 4, dtype="float32", chunk=1000)
    meta = pq.ParquetFile(path).metadata
    assert (meta.num_rows, meta.num_row_groups, meta.num_columns) == (2500, 3, 5)
    table = pq.read_table(path)
    assert str(table.schema.field("x0").type) == "float"
    assert set(table.column("target").to_pylist()) == {0, 1}


@pytest.mark.slow
def test_benchmark_panel_runs_the_users_command_beside_the_baselines(tmp_path):
    """`--cases panel` on two of its tables (scikit-learn's, no extra package), two epochs:
    a row per table with the net, the four baselines on the same split, and the summary."""
    out = tmp_path / "bench.json"
    _, printed = _run_benchmark(out, "--cases", "panel", "--panel-tables", "wine,diabetes",
                                "--override", "trainer.max_epochs=2")
    panel = json.loads(out.with_name("panel.json").read_text())
    assert [t["table"] for t in panel["tables"]] == ["diabetes", "wine"]  # the panel's order
    for t in panel["tables"]:
        assert t["metric"] == ("test/r2" if t["task"] == "regression" else "test/acc")
        for side in ("net", "majority", "linear", "lightgbm", "sklearn_mlp"):
            assert isinstance(t[side], float), (t["table"], side)
        assert t["rows"] == {"wine": 178, "diabetes": 442}[t["table"]]
        assert t["linear"] > t["majority"]  # both tables have signal a linear model finds
    assert [line.split(" (")[0] for line in panel["summary"]] == [
        "all", "chose the defaults", "held out"]
    assert "| wine " in printed and "median gap to LightGBM" in printed


@pytest.mark.slow
def test_benchmark_folds_case_times_members_one_fold_and_the_multirun(tmp_path):
    rows, _ = _run_benchmark(tmp_path / "bench.json", "--cases", "folds", "--repeat", "1",
                             "--folds", "2")
    assert [r["metric"] for r in rows] == ["2 folds as members vs 1 fold",
                                           "2 folds one after another vs 1 fold"]
    walls = rows[0]["runs"]
    assert {side: len(w) for side, w in walls.items()} == {"one": 1, "members": 1,
                                                           "sequential": 1}
    for r in rows:
        assert r["ratio"] > 0 and r["raw"] == walls["one"][0], r


def _script(name: str):
    """`scripts/<name>.py`, imported as the benchmark imports its neighbours (from
    `scripts/` on the path; `benchmark` itself imports only the standard library at
    its top)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module(name)


def _run(table: str, held_out: bool, seed: int, net: float, linear: float,
         seconds: float, majority: float = 0.5) -> dict:
    """A hand-made row of `panel.run_table` (one table, one seed)."""
    return {"table": table, "held_out": held_out, "task": "binary", "metric": "test/acc",
            "rows": 100, "seconds": seconds, "seed": seed, "net": net, "majority": majority,
            "linear": linear, "lightgbm": 0.75, "sklearn_mlp": 0.5}


# `a` (chose the defaults): mean net 0.75 = linear - 0.0 but one seed 0.125 under it;
# `b` (held out): one seed under its majority baseline, the mean 0.0625 under linear.
_RUNS = [_run("a", False, 12345, 0.875, 0.75, 30.0), _run("a", False, 1, 0.625, 0.75, 10.0),
         _run("a", False, 2, 0.75, 0.75, 20.0),
         _run("b", True, 12345, 0.625, 0.6875, 8.0),
         _run("b", True, 1, 0.4375, 0.5, 4.0, majority=0.5625)]


def test_panel_seeds_fold_into_per_table_means_and_counts():
    """`--seeds`: the table, its summary and the per-run counts from hand-made runs
    (the numbers are exact in binary, so the means are too)."""
    panel = _script("panel")
    means = panel.per_table(_RUNS)
    assert [(m["table"], m["seeds"], m["net"], m["linear"], m["majority"], m["seconds"])
            for m in means] == [("a", [12345, 1, 2], 0.75, 0.75, 0.5, 20.0),
                                ("b", [12345, 1], 0.53125, 0.59375, 0.53125, 6.0)]
    assert [m["worst_vs_linear"] for m in means] == [-0.125, -0.0625]
    assert [m["net"] - m["lightgbm"] for m in means] == [0.0, -0.21875]
    assert panel.summary(means) == [
        "all (2 tables): below majority/mean: 0 ; >= linear - 0.02: 1/2 (50%); "
        "median gap to LightGBM -0.1094, to scikit-learn's MLP +0.1406",
        "chose the defaults (1 tables): below majority/mean: 0 ; >= linear - 0.02: 1/1 "
        "(100%); median gap to LightGBM +0.0000, to scikit-learn's MLP +0.2500",
        "held out (1 tables): below majority/mean: 0 ; >= linear - 0.02: 0/1 (0%); "
        "median gap to LightGBM -0.2188, to scikit-learn's MLP +0.0312"]
    assert panel.per_run_summary(_RUNS) == [
        "per run, all (5 runs): >= linear - 0.02: 2/5 (40%); below majority/mean: 1 ['b@1']",
        "per run, chose the defaults (3 runs): >= linear - 0.02: 2/3 (67%); "
        "below majority/mean: 0 ",
        "per run, held out (2 runs): >= linear - 0.02: 0/2 (0%); below majority/mean: 1 "
        "['b@1']"]
    lines = panel.table(means, means=True).splitlines()
    assert lines[0].split("|")[-3:-1] == [" worst net - linear ", " median wall "]
    assert lines[2].split("|")[6:14] == [" 0.750 ", " 0.500    ", " 0.750  ", " 0.750    ",
                                         " 0.500       ", " +0.000         ",
                                         " -0.125             ", " 20 s        "]


def test_panel_seeds_reach_every_run_and_the_json(tmp_path, monkeypatch, capsys):
    """`run_panel(seeds=...)` runs each table once per seed with `seed=N` in its own
    scratch folder, prints the means and writes every run and the means (no training:
    `run_table` is replaced by one that hands back the hand-made rows)."""
    panel = _script("panel")
    calls = []

    def fake_run_table(table, scratch, overrides):
        calls.append((table.name, scratch.name, overrides))
        seed = int(overrides[-1].removeprefix("seed="))
        return next({k: v for k, v in r.items() if k != "seed"} for r in _RUNS
                    if r["seed"] == seed and r["table"] == {"wine": "b"}.get(table.name, "a"))

    monkeypatch.setattr(panel, "run_table", fake_run_table)
    monkeypatch.setattr(panel.make_panel, "write", lambda names: [])
    out = tmp_path / "panel.json"
    runs = panel.run_panel(["wine", "diabetes"], ["trainer.max_epochs=2"], out, seeds=[12345, 1])
    assert calls == [(name, f"seed-{s}", ["trainer.max_epochs=2", f"seed={s}"])
                     for name in ("diabetes", "wine") for s in (12345, 1)]
    assert [(r["table"], r["seed"]) for r in runs] == [("a", 12345), ("a", 1), ("b", 12345),
                                                       ("b", 1)]
    report = json.loads(out.read_text())
    assert report["seeds"] == [12345, 1] and len(report["runs"]) == 4
    assert [(t["table"], t["net"]) for t in report["tables"]] == [("a", 0.75), ("b", 0.53125)]
    printed = capsys.readouterr().out
    assert printed.startswith("Panel over seeds 12345, 1: ")
    assert printed.count("per run, ") == 3 and report["per_run"][0] in printed


def test_panel_seeds_refuses_a_bad_list(capsys):
    panel = _script("panel")
    for bad in ("1,x", "1,1"):
        with pytest.raises(SystemExit) as stopped:
            panel.main(["--seeds", bad])
        assert stopped.value.code == 2
        assert "error: argument --seeds: " in capsys.readouterr().err


def test_panel_without_seeds_is_one_run_per_table_as_before(tmp_path, monkeypatch, capsys):
    """No `--seeds`: one run per table with the configs' seed (no `seed=` override), the
    single-split table and summary, and the JSON of before (no `runs`, no `seeds`)."""
    panel = _script("panel")
    calls = []

    def fake_run_table(table, scratch, overrides):
        calls.append(overrides)
        return {k: v for k, v in _RUNS[0].items() if k != "seed"}

    monkeypatch.setattr(panel, "run_table", fake_run_table)
    monkeypatch.setattr(panel.make_panel, "write", lambda names: [])
    out = tmp_path / "panel.json"
    panel.run_panel(["wine"], [], out)
    assert calls == [[]]
    assert sorted(json.loads(out.read_text())) == ["overrides", "summary", "tables"]
    printed = capsys.readouterr().out
    assert printed.startswith("| table ") and "per run" not in printed
    assert "worst net - linear" not in printed


@pytest.mark.slow
def test_the_sweep_case_instrument_that_frees_logging_changes_no_result(tmp_path):
    """`sweep:system_lean_nolog` replaces Lightning's `_ResultMetric.to` in its own
    process to price `self.log`: the run it times must still be the same run, every
    metric it returns equal to the unpatched run's (3 epochs of `two_layer`)."""
    results = {}
    for worker in ("sweep:system_lean", "sweep:system_lean_nolog"):
        out = tmp_path / f"{worker.split(':')[1]}.json"
        done = subprocess.run(
            [sys.executable, "scripts/benchmark.py", "--worker", worker, "--result", str(out),
             "--sweep-trials", "1", "--override=trainer.max_epochs=3"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results[worker] = json.loads(out.read_text())
    lean, free = results["sweep:system_lean"], results["sweep:system_lean_nolog"]
    assert lean["seconds"] > 0 and free["seconds"] > 0
    assert {"val/loss", "val/acc_best", "test/acc", "train/loss"} <= set(lean["metrics"])
    assert free["metrics"].keys() == lean["metrics"].keys()
    for key, value in lean["metrics"].items():
        assert free["metrics"][key] == pytest.approx(value, abs=1e-7), key


def test_a_marginal_cost_at_or_under_zero_never_meets_a_target():
    """A sweep side's marginal cost is a difference of two process times; when the
    few-trial processes swing by more than the extra trials cost it comes out at or
    under zero, which measures nothing and must not print as a met `<=` target."""
    row = _script("benchmark").row
    assert row("sweep", "t", 0.15, 0.10, 0.10 / 0.15, "sweep_members", "s")["ok"]
    for raw, project in ((-0.158, 3.11), (0.15, -0.02), (0.15, 0.0), (0.0, 0.1)):
        ratio = project / raw if raw else float("inf")
        done = row("sweep", "t", raw, project, ratio, "sweep_alone", "s")
        assert not done["ok"] and not done["stretch_ok"], (raw, project)
    assert not row("sweep", "t", 0.15, float("nan"), float("nan"), "sweep_alone", "s")["ok"]
    assert row("sweep", "t", None, 1.2, 1.2, "sweep_ensemble", "s")["ok"]  # a ratio of walls
