"""`SweepSummary`: after a multirun, one table of every job's overrides and final metrics.

Hydra calls `on_multirun_end` once the sweeper is done. The table is read back from
the job folders, so it works with any sweeper and launcher: each job's
`.hydra/overrides.yaml` and the `metrics.json` that `train()` writes at the end of a
run. A job without `metrics.json` (failed, pruned, still running) is listed last
with an empty metric; one whose `metrics.json` says `"status": "failed"` (training
went non-finite, see `fivestep.monitoring.finite_guard`) shows that status, and no
metrics. Written as `summary.csv` and `summary.md` in the sweep folder, sorted by the
objective (best first), and printed. Below the jobs, the Markdown table has a
`mean ± std` row: every metric's mean and sample standard deviation over the jobs
that have it (a k-fold sweep's cross-validated figure); `summary.csv` keeps one row
per job and gets the same figures as `summary_spread.csv`.
"""

import csv
import json
import math
import statistics
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

_LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "error")


def job_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder under `sweep_dir`: job, overrides, status, metrics."""
    rows = []
    found = sweep_dir.glob("**/.hydra/overrides.yaml")
    for overrides_file in sorted(found, key=lambda p: _natural(p.relative_to(sweep_dir))):
        job_dir = overrides_file.parent.parent
        row: dict[str, Any] = {"job": job_dir.relative_to(sweep_dir).as_posix()}
        for line in OmegaConf.load(overrides_file):
            key, _, value = str(line).partition("=")
            row[key] = value
        metrics_file = job_dir / "metrics.json"
        if metrics_file.is_file():
            summary = json.loads(metrics_file.read_text())
            row["status"] = summary.get("status", "complete")  # "failed": stopped on NaN
            row.update(summary.get("metrics", {}))
        else:
            row["status"] = "no metrics.json"
        rows.append(row)
    return rows


def _natural(path: Path) -> list[tuple[int, str]]:
    """Sort key putting job 2 before job 10."""
    return [(int(p), "") if p.isdigit() else (1 << 62, p) for p in path.parts]


def sort_rows(rows: list[dict[str, Any]], metric: str | None, direction: str | None) -> None:
    """Best first by `metric` (rows without it last); `direction` None = guess from the name."""
    if not metric:
        return
    if direction is None:
        direction = "minimize" if metric.lower().endswith(_LOWER_IS_BETTER) else "maximize"
    sign = -1.0 if direction == "maximize" else 1.0

    def key(row: dict[str, Any]) -> tuple[bool, float]:
        value = row.get(metric)
        missing = not isinstance(value, int | float) or math.isnan(value)
        return missing, 0.0 if missing else sign * value

    rows.sort(key=key)


def columns(rows: list[dict[str, Any]], metric: str | None) -> list[str]:
    """`job`, the overrides (first-seen order), `status`, the objective, the other metrics."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    metrics = sorted(k for k in names if "/" in k and k != metric and _is_metric(rows, k))
    head = ["job"] + [k for k in names if k not in metrics and k not in ("job", "status", metric)]
    return head + ["status"] + ([metric] if metric in names else []) + metrics


def _is_metric(rows: list[dict[str, Any]], key: str) -> bool:
    return all(isinstance(r.get(key), int | float) for r in rows if key in r)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def spread(rows: list[dict[str, Any]], names: list[str]) -> dict[str, tuple[float, float, int]]:
    """`{metric: (mean, sample std, jobs)}` for every metric column two or more jobs have."""
    out = {}
    for key in names:
        if "/" not in key or not _is_metric(rows, key):
            continue
        values = [float(r[key]) for r in rows
                  if isinstance(r.get(key), int | float) and not math.isnan(r[key])]
        if len(values) >= 2:
            out[key] = (statistics.mean(values), statistics.stdev(values), len(values))
    return out


def markdown(rows: list[dict[str, Any]], names: list[str]) -> str:
    """A Markdown table of `rows`, floats to 4 decimals; overrides shared by all jobs go above."""
    same = {
        k for k in names
        if len(rows) > 1 and k not in ("job", "status")
        and all(isinstance(r.get(k), str) for r in rows) and len({r[k] for r in rows}) == 1
    }
    head = ["Every job: " + " ".join(f"{k}={rows[0][k]}" for k in names if k in same), ""]
    names = [k for k in names if k not in same]
    lines = head * bool(same) + ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k in names) + " |" for r in rows]
    stats = spread(rows, names)
    if stats:
        jobs = max(n for _, _, n in stats.values())
        cells = [f"{stats[k][0]:.4f} ± {stats[k][1]:.4f}" if k in stats else "" for k in names]
        cells[0] = f"mean ± std ({jobs} jobs)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(sweep_dir: Path, metric: str | None, direction: str | None) -> str | None:
    """Write `summary.csv` and `summary.md` in `sweep_dir`; return the Markdown (None: no jobs)."""
    rows = job_rows(sweep_dir)
    if not rows:
        return None
    sort_rows(rows, metric, direction)
    names = columns(rows, metric)
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    stats = spread(rows, names)
    if stats:
        with open(sweep_dir / "summary_spread.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["metric", "mean", "std", "jobs"])
            writer.writerows([k, mean, std, n] for k, (mean, std, n) in stats.items())
    table = markdown(rows, names)
    (sweep_dir / "summary.md").write_text(table)
    return table


class SweepSummary(Callback):
    """Hydra callback (configs/hydra/default.yaml): the summary table after a multirun.

    Args:
        metric: the objective to sort by (`optimized_metric`); None = job order.
        direction: "maximize" or "minimize"; None = minimize names ending in loss,
            mse, mae, rmse or error, maximize the rest.
    """

    def __init__(self, metric: str | None = None, direction: str | None = None) -> None:
        self.metric, self.direction = metric, direction

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        table = write_summary(sweep_dir, self.metric, self.direction)
        if table is not None:
            order = f"sorted by {self.metric}" if self.metric else "in job order"
            print(f"\nSweep summary ({order}), also in {sweep_dir}/summary.csv and summary.md:")
            print(table)
