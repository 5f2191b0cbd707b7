"""`scripts/benchmark.py` runs end to end and writes the table it prints (small sizes)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_writes_every_row_with_a_ratio(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--cases", "seed,tabular", "--repeat", "1",
         "--rows", "5000", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["case"], r["metric"].strip()) for r in rows] == [
        ("seed", "200-epoch fit"),
        ("seed", "floor: bare Lightning fit"),
        ("seed", "reference: Lightning defaults"),
        ("tabular", "samples/s (1 epoch)"),
        ("tabular", "training epoch only"),
        ("tabular", "floor: bare Lightning"),
        ("tabular", "reference: Lightning defaults"),
        ("tabular", "strict: raw loop with index_select"),
        ("tabular", "peak RSS"),
    ]
    for r in rows:
        assert r["ratio"] > 0 and r["project"] > 0, r
    seed = rows[0]["runs"]
    # the same initial weights on every side (the script stops otherwise), 200 epochs each
    assert {s["epochs"] for side in seed.values() for s in side} == {200}
    assert "| seed " in done.stdout and "| tabular " in done.stdout
