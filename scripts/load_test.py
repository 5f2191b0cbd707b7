"""Load test: `serve.py` against a minimal hand-written FastAPI + torch server, same model.

    python scripts/load_test.py                     # trains a small csv_example checkpoint
    python scripts/load_test.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt
    python scripts/load_test.py --clients 16 --requests 5000 --out load.json

Servers, each a process of its own on 127.0.0.1 (never another address), all started
first, then measured in turn for `--rounds` rounds (the median round is reported), so
that the machine's load changing over the run hits each alike:

- `serve`: `python serve.py ckpt_path=<ckpt>` (its checks, batching, predict.py's path);
- `onnx`: `python serve.py model=<the checkpoint exported by export.py format=onnx>`;
- `minimal`: this file's `--minimal-server`: one FastAPI route that turns the JSON rows
  into a DataFrame, calls the checkpoint's `transform` and `predict_step` in the event
  loop and returns the classes and probabilities; no checks, no batching, no limits: what
  one writes by hand in ten minutes, the figure to beat.

For each: `--clients` concurrent clients (httpx2, keep-alive connections) send requests
one after another, `--requests` requests of 1 row, then `--big-requests` of 256 rows (rows
of `--rows-csv`), split over the rounds, each phase at most `--seconds`: requests and
rows per second, p50 and p99 latency, and errors (any answer but 200 is one). Then, for
`serve` only,
the server's resident memory (VmRSS) after a warm-up and after `--rss-requests` more
1-row requests. Each server is stopped with SIGTERM and its exit status recorded (0 =
it drained and stopped cleanly). The clients run on the same machine as the server:
on a small machine they take CPU from it, alike for every server.

Prints a table with the ratios serve/minimal and onnx/minimal, and writes JSON (`--out`).
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the only address this script ever uses


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def minimal_server(port: int, ckpt: str) -> None:
    """The hand-written baseline: FastAPI + torch, `transform` and `predict_step` inline."""
    import pandas as pd
    import torch
    import uvicorn
    from fastapi import FastAPI, Request
    from omegaconf import OmegaConf

    from fivestep.checkpointing.reading import restore
    from fivestep.models.task import class_probabilities

    restored = restore(ckpt, OmegaConf.create({}), "load_test.py")
    model, dm, task = restored.model, restored.datamodule, restored.model.task
    names = dm.label_names
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        rows = (await request.json())["rows"]
        x = dm.transform(pd.DataFrame(rows))
        with torch.no_grad():
            y = model.predict_step(x, 0)
        if task == "regression":
            return {"predictions": [{"prediction": v} for v in dm.inverse_target(y).tolist()]}
        probs = class_probabilities(y, task)
        return {"predictions": [
            {"prediction": names[k], "probabilities": dict(zip(names, p, strict=True))}
            for k, p in zip(probs.argmax(dim=1).tolist(), probs.tolist(), strict=True)]}

    @app.get("/health")
    async def health() -> dict:
        return {"live": True, "ready": True}

    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


def start(name: str, args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if name == "minimal":
        command = [sys.executable, __file__, "--minimal-server", str(port), args.ckpt]
    else:
        model = f"model={args.onnx}" if name == "onnx" else f"ckpt_path={args.ckpt}"
        command = [sys.executable, "serve.py", model, f"host={HOST}", f"port={port}",
                   f"paths.log_dir={work}"]
    log = open(work / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    import httpx2 as httpx

    deadline = time.monotonic() + args.start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} server exited with {process.returncode}; see "
                             f"{work / (name + '.log')}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit(f"{name} server did not answer /health in {args.start_timeout} s")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return -9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, body: bytes, clients: int, requests: int, seconds: float
               ) -> dict[str, Any]:
    """`clients` concurrent senders, `requests` in all (or `seconds`): the figures."""
    import httpx2 as httpx

    latencies: list[float] = []
    errors, sent = 0, 0
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def sender() -> None:
            nonlocal errors, sent
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                t = time.perf_counter()
                try:
                    reply = await client.post(f"{url}/predict", content=body, headers=headers)
                    ok = reply.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        start_time = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(clients)))
        wall = time.perf_counter() - start_time
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "errors": errors, "seconds": round(wall, 3),
            "req_per_s": round(n / wall, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * latencies[min(n - 1, int(0.99 * n))], 2)}


def bodies(path: Path, target: str | None) -> dict[int, bytes]:
    import pandas as pd

    frame = pd.read_csv(path)
    if target and target in frame:
        frame = frame.drop(columns=target)
    rows = json.loads(frame.to_json(orient="records"))  # NaN -> null
    big = (rows * (256 // len(rows) + 1))[:256]
    return {1: json.dumps({"rows": rows[:1]}).encode(), 256: json.dumps({"rows": big}).encode()}


def prepare(args: argparse.Namespace, work: Path) -> None:
    """A csv_example checkpoint (unless `--ckpt`) and its ONNX export."""
    if not args.ckpt:
        print("training a small csv_example checkpoint ...", flush=True)
        subprocess.run([sys.executable, "train.py", "experiment=csv_example",
                        f"trainer.max_epochs={args.epochs}", "logger=[]",
                        "callbacks.progress_bar.refresh_rate=0", f"paths.log_dir={work}"],
                       cwd=ROOT, check=True, capture_output=True)
        args.ckpt = str(next(work.glob("train/runs/*/checkpoints/last.ckpt")))
    args.onnx = str(work / "model.onnx")
    subprocess.run([sys.executable, "export.py", f"ckpt_path={args.ckpt}", "format=onnx",
                    f"output={args.onnx}", f"paths.log_dir={work}"],
                   cwd=ROOT, check=True, capture_output=True)


def measure(names: list[str], args: argparse.Namespace, work: Path,
            payloads: dict[int, bytes]) -> list[dict[str, Any]]:
    """All servers up at once, measured in turn for `--rounds` rounds (each round a share
    of the requests), so that a change in the machine's load hits every server alike;
    per phase the median round. Then the RSS run of `serve`, then SIGTERM to each."""
    servers = {name: start(name, args, work) for name in names}
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {n: {"rows_1": [], "rows_256": []}
                                                          for n in names}
    results: dict[str, dict[str, Any]] = {n: {"server": n} for n in names}
    try:
        for _, url in servers.values():  # warm-up
            asyncio.run(load(url, payloads[1], args.clients, 100, args.seconds))
        for _ in range(args.rounds):
            for name, (_, url) in servers.items():
                for size, total in ((1, args.requests), (256, args.big_requests)):
                    rounds[name][f"rows_{size}"].append(asyncio.run(load(
                        url, payloads[size], args.clients, max(1, total // args.rounds),
                        args.seconds)))
        for name in names:
            for phase, runs in rounds[name].items():
                median = sorted(runs, key=lambda r: r["req_per_s"])[len(runs) // 2]
                results[name][phase] = {**median, "rounds": len(runs),
                                        "errors": sum(r["errors"] for r in runs),
                                        "requests": sum(r["requests"] for r in runs)}
        if "serve" in servers and args.rss_requests:
            process, url = servers["serve"]
            before = rss_mb(process.pid)
            results["serve"]["rss_run"] = asyncio.run(load(url, payloads[1], args.clients,
                                                           args.rss_requests, 10 * args.seconds))
            results["serve"]["rss_mb"] = {"before": round(before, 1),
                                          "after": round(rss_mb(process.pid), 1)}
    finally:
        for name, (process, _) in servers.items():
            results[name]["exit_status"] = stop(process)
    return [results[n] for n in names]


def report(results: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["server"]: r for r in results}
    print(f"{'server':8} {'rows':>5} {'req/s':>8} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}")
    for r in results:
        for size in (1, 256):
            f = r[f"rows_{size}"]
            print(f"{r['server']:8} {size:5d} {f['req_per_s']:8.1f} {f['req_per_s'] * size:9.0f} "
                  f"{f['p50_ms']:8.2f} {f['p99_ms']:8.2f} {f['errors']:6d}")
    ratios: dict[str, float] = {}
    for name in ("serve", "onnx"):
        if name in by and "minimal" in by:
            for size in (1, 256):
                key = f"{name}/minimal rows={size}"
                ratios[key] = round(by[name][f"rows_{size}"]["req_per_s"]
                                    / by["minimal"][f"rows_{size}"]["req_per_s"], 2)
                print(f"throughput {key}: {ratios[key]:.2f}x")
    if "serve" in by and "rss_mb" in by["serve"]:
        rss, run = by["serve"]["rss_mb"], by["serve"]["rss_run"]
        print(f"serve RSS {rss['before']:.1f} MB -> {rss['after']:.1f} MB over "
              f"{run['requests']} requests ({run['errors']} errors)")
    print("exit status after SIGTERM: " + ", ".join(f"{r['server']} {r['exit_status']}"
                                                   for r in results))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a checkpoint of csv_example (default: train one)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rows-csv", default=str(ROOT / "data" / "csv_example.csv"))
    parser.add_argument("--target", default="renewed", help="column of --rows-csv to drop")
    parser.add_argument("--servers", default="minimal,serve,onnx")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--big-requests", type=int, default=300)
    parser.add_argument("--rss-requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="servers measured in turn")
    parser.add_argument("--seconds", type=float, default=60.0, help="per phase, at most")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--minimal-server", nargs=2, metavar=("PORT", "CKPT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.minimal_server:
        minimal_server(int(args.minimal_server[0]), args.minimal_server[1])
        return
    with tempfile.TemporaryDirectory(prefix="fivestep-load-") as tmp:
        work = Path(tmp)
        prepare(args, work)
        payloads = bodies(Path(args.rows_csv), args.target)
        results = measure(args.servers.split(","), args, work, payloads)
    ratios = report(results)
    if args.out:
        Path(args.out).write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "clients": args.clients, "results": results, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
