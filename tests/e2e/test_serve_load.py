"""scripts/load_test.py against real servers on 127.0.0.1: no errors, memory flat over
10,000 requests, SIGTERM exits 0; the throughput figures for docs/serving.md."""

import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.slow  # three server processes under load: a few minutes


def test_load_test_zero_errors_flat_memory_clean_exit(tmp_path):
    out = tmp_path / "load.json"
    run = subprocess.run(
        [sys.executable, "scripts/load_test.py", "--epochs", "2", "--clients", "8",
         "--requests", "1000", "--big-requests", "100", "--rss-requests", "10000",
         "--seconds", "120", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    results = {r["server"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"minimal", "serve", "onnx"}
    for name, r in results.items():
        for phase in ("rows_1", "rows_256"):
            assert r[phase]["errors"] == 0, (name, phase)
            assert r[phase]["requests"] > 0 and r[phase]["req_per_s"] > 0
    serve = results["serve"]
    assert serve["rss_run"] == {**serve["rss_run"], "requests": 10_000, "errors": 0}
    before, after = serve["rss_mb"]["before"], serve["rss_mb"]["after"]
    assert after - before < max(20.0, 0.05 * before), serve["rss_mb"]  # flat: no per-request leak
    assert results["serve"]["exit_status"] == 0 and results["onnx"]["exit_status"] == 0
    assert "throughput serve/minimal rows=1" in run.stdout
