"""`scripts/benchmark.py` runs end to end and writes the table it prints (small sizes)."""

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
