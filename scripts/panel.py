"""The panel case of `scripts/benchmark.py`: the default command on real tables, beside
the baselines a user would try instead, on the same split.

    python scripts/benchmark.py --cases panel
    python scripts/panel.py --tables penguins,wine --override trainer.max_epochs=5

For each table of `scripts/make_panel.py` (written first where missing) it runs, as a
fresh process, exactly what a user types:

    python train.py data=tabular data.path=data/panel/<name>.csv data.target=<column>

(only `paths.log_dir` moved to a scratch folder, plus any `--override`), takes the net's
test score and the run's own majority and linear baselines from its `metrics.json`, and
fits LightGBM and scikit-learn's `MLPClassifier`/`MLPRegressor` with their defaults on
the same split and encoded columns (`fivestep.monitoring.baselines`, on the DataModule
the same config builds). The score is test accuracy for classes and test R^2 for
regression. Tables that chose the defaults and tables kept out of the choosing
(`held_out`) are summarised apart: tables below the majority/mean baseline, tables at or
above the linear baseline - 0.02, and the median gap to LightGBM and to scikit-learn's MLP.

One split can mislead on a small table (36 test rows: one row is 0.028). `--seeds
12345,1,2` runs every table once per seed (`seed=N` for `train.py` and for the extra
baselines, so both see the same split) and reports, per table, the mean over the seeds,
the worst seed's net - linear and the median wall time; the summary is taken on the
per-table means, beside a count over the single runs. `panel.json` keeps every run.

    python scripts/panel.py --seeds 12345,1,2
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import make_panel  # noqa: E402  (a script beside this one)

LINEAR_MARGIN = 0.02


def command(table: make_panel.Table, overrides: list[str]) -> list[str]:
    path = make_panel.path_of(table).relative_to(ROOT)
    return ["data=tabular", f"data.path={path}", f"data.target={table.target}", *overrides]


def run_table(table: make_panel.Table, scratch: Path, overrides: list[str]) -> dict[str, Any]:
    """The user's command on one table, then the extra baselines on its split.

    `scratch` must be fresh for each (table, seed): the run's `metrics.json` is found
    under it."""
    log_dir = scratch / table.name
    args = command(table, [f"paths.log_dir={log_dir}", *overrides])
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: the panel run on {table.name} failed:\n{done.stderr[-3000:]}")
    found = sorted(log_dir.glob("**/metrics.json"))
    if not found:
        raise SystemExit(f"error: the panel run on {table.name} wrote no metrics.json")
    metrics = json.loads(found[-1].read_text())["metrics"]
    extra, rows = extra_baselines(args, scratch / f"{table.name}-baselines")
    metrics.update(extra)
    key = "r2" if table.task == "regression" else "acc"
    score = {name: metrics.get(f"{prefix}test/{key}") for name, prefix in (
        ("net", ""), ("majority", "baseline/majority/"), ("linear", "baseline/linear/"),
        ("lightgbm", "baseline/lightgbm/"), ("sklearn_mlp", "baseline/mlp/"))}
    missing = [name for name, value in score.items() if value is None]
    if missing:
        raise SystemExit(f"error: {table.name}: no test/{key} for {missing}")
    return {"table": table.name, "held_out": table.held_out, "task": table.task,
            "metric": f"test/{key}", "rows": rows, "seconds": seconds, **score}


def extra_baselines(args: list[str], out_dir: Path) -> tuple[dict[str, float], int]:
    """LightGBM and scikit-learn's MLP on the split and encoding `args` make; and the
    table's row count."""
    import lightning as L

    from fivestep.config.compose import compose_run_config
    from fivestep.config.instantiate import build
    from fivestep.config.sizes import sized_from_data
    from fivestep.monitoring.baselines import fit_baselines

    cfg = compose_run_config(ROOT / "configs", args, out_dir)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, verbose=False)
    datamodule = build(cfg.data)
    cfg.model = sized_from_data(cfg.model, datamodule.shape())
    model = build(cfg.model)
    settings = dict(cfg.baselines)
    settings["models"] = ["lightgbm", "mlp"]
    return fit_baselines(settings, datamodule, model), len(datamodule.splits["all"][0])


SCORES = ("net", "majority", "linear", "lightgbm", "sklearn_mlp")


def parse_seeds(text: str) -> list[int]:
    """`"12345,1,2"` -> `[12345, 1, 2]` (argparse's type: a bad list is one usage line)."""
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers, e.g. 12345,1,2") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} names a seed twice")
    return seeds


def per_table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every table's runs (one per seed) folded into one row, in the order first met:
    the mean of each score, the worst seed's net - linear (`worst_vs_linear`), the
    median wall time (`seconds`) and the seeds."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        tables.setdefault(run["table"], []).append(run)
    return [mean_row(rows) for rows in tables.values()]


def mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One table's runs as one row (see `per_table`)."""
    first = rows[0]
    return {**{k: first[k] for k in ("table", "held_out", "task", "metric", "rows")},
            "seeds": [r.get("seed") for r in rows],
            **{k: statistics.fmean(r[k] for r in rows) for k in SCORES},
            "worst_vs_linear": min(r["net"] - r["linear"] for r in rows),
            "seconds": statistics.median(r["seconds"] for r in rows)}


def groups(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """All rows, those of tables that chose the defaults, those of held-out tables;
    empty groups left out."""
    found = [("all", rows), ("chose the defaults", [r for r in rows if not r["held_out"]]),
             ("held out", [r for r in rows if r["held_out"]])]
    return [(name, group) for name, group in found if group]


def near_linear(row: dict[str, Any]) -> bool:
    """The issue's bar: the net at least the linear baseline - `LINEAR_MARGIN`."""
    return row["net"] >= row["linear"] - LINEAR_MARGIN


def per_run_summary(runs: list[dict[str, Any]]) -> list[str]:
    """One line per group over the single (table, seed) runs: how many are at or above
    the linear baseline - 0.02 and which are below the majority/mean baseline."""
    lines = []
    for name, rows in groups(runs):
        below = [f"{r['table']}@{r.get('seed')}" for r in rows if r["net"] < r["majority"]]
        near = sum(near_linear(r) for r in rows)
        lines.append(f"per run, {name} ({len(rows)} runs): >= linear - {LINEAR_MARGIN}: "
                     f"{near}/{len(rows)} ({near / len(rows):.0%}); below majority/mean: "
                     f"{len(below)} {below or ''}")
    return lines


def summary(results: list[dict[str, Any]]) -> list[str]:
    """One line per group: all tables, those that chose the defaults, the held-out ones."""
    lines = []
    for name, rows in groups(results):
        below = [r["table"] for r in rows if r["net"] < r["majority"]]
        near = sum(near_linear(r) for r in rows)
        gap_lgbm = statistics.median(r["net"] - r["lightgbm"] for r in rows)
        gap_mlp = statistics.median(r["net"] - r["sklearn_mlp"] for r in rows)
        lines.append(
            f"{name} ({len(rows)} tables): below majority/mean: {len(below)} {below or ''}; "
            f">= linear - {LINEAR_MARGIN}: {near}/{len(rows)} "
            f"({near / len(rows):.0%}); median gap to LightGBM {gap_lgbm:+.4f}, "
            f"to scikit-learn's MLP {gap_mlp:+.4f}")
    return lines


def table(rows: list[dict[str, Any]], means: bool = False) -> str:
    """The panel as Markdown, a row per table. `means`: rows of `per_table` (the means
    over the seeds), with the worst seed's net - linear and the median wall time."""
    head = ["table", "rows", "held out", "task", "score", "net", "majority", "linear", "LightGBM",
            "sklearn MLP", "net - LightGBM", *(["worst net - linear"] if means else []),
            "median wall" if means else "wall"]
    body = [[r["table"], f"{r['rows']:,}", "yes" if r["held_out"] else "", r["task"], r["metric"],
             *(f"{r[k]:.3f}" for k in SCORES), f"{r['net'] - r['lightgbm']:+.3f}",
             *([f"{r['worst_vs_linear']:+.3f}"] if means else []), f"{r['seconds']:.0f} s"]
            for r in rows]
    return markdown_table(head, body)


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    """A Markdown table with padded columns (also `benchmark.py`'s)."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in body]
    return "\n".join(lines)


def run_panel(names: list[str] | None, overrides: list[str], out: Path | None = None,
              seeds: list[int] | None = None) -> list[dict[str, Any]]:
    """Run the panel (or the named tables), print the table and the summary, write JSON.

    With `seeds`, every table runs once per seed and the table and summary are of the
    per-table means (`per_table`); the single runs are returned and kept in the JSON."""
    unknown = sorted(set(names or []) - {t.name for t in make_panel.PANEL})
    if unknown:
        raise SystemExit(f"error: no panel table {unknown}; the tables are "
                         f"{[t.name for t in make_panel.PANEL]}")
    make_panel.write(names=names)
    chosen = [t for t in make_panel.PANEL if names is None or t.name in names]
    results = []
    with tempfile.TemporaryDirectory(prefix="fivestep-panel-") as scratch:
        for t in chosen:
            for seed in seeds or [None]:
                results.append(run_seed(t, Path(scratch), overrides, seed))
    if seeds is None:
        report = {"overrides": overrides, "tables": results, "summary": summary(results)}
        print(table(results))
    else:
        means = per_table(results)
        report = {"overrides": overrides, "seeds": seeds, "runs": results, "tables": means,
                  "summary": summary(means), "per_run": per_run_summary(results)}
        print(f"Panel over seeds {', '.join(map(str, seeds))}: per table the mean over the "
              f"{len(seeds)} splits, the worst seed's net - linear, the median wall time.")
        print(table(means, means=True))
    for line in report["summary"] + report.get("per_run", []):
        print(line)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1))
    return results


def run_seed(t: make_panel.Table, scratch: Path, overrides: list[str],
             seed: int | None) -> dict[str, Any]:
    """`run_table` with `seed=N` added (`None`: the configs' seed, as before `--seeds`),
    in a scratch folder of its own; the row records the seed."""
    print(f"panel: {t.name}" + ("" if seed is None else f" seed={seed}") + " ...",
          file=sys.stderr, flush=True)
    if seed is None:
        return run_table(t, scratch, overrides)
    return {**run_table(t, scratch / f"seed-{seed}", [*overrides, f"seed={seed}"]),
            "seed": seed}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", help="comma-separated subset of the panel's tables")
    p.add_argument("--override", action="append", default=[],
                   help="a Hydra override added to every run (repeatable)")
    p.add_argument("--seeds", type=parse_seeds,
                   help="comma-separated seeds: each table once per seed, reported as the "
                   "mean over them (default: one run with the configs' seed)")
    p.add_argument("--out", default=str(ROOT / "logs" / "bench" / "panel.json"))
    args = p.parse_args(argv)
    names = [n.strip() for n in args.tables.split(",")] if args.tables else None
    run_panel(names, args.override, Path(args.out), args.seeds)


if __name__ == "__main__":
    main()
