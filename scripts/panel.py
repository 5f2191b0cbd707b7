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
    """The user's command on one table, then the extra baselines on its split."""
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


def summary(results: list[dict[str, Any]]) -> list[str]:
    """One line per group: all tables, those that chose the defaults, the held-out ones."""
    lines = []
    groups = [("all", results), ("chose the defaults", [r for r in results if not r["held_out"]]),
              ("held out", [r for r in results if r["held_out"]])]
    for name, rows in groups:
        if not rows:
            continue
        below = [r["table"] for r in rows if r["net"] < r["majority"]]
        near_linear = sum(r["net"] >= r["linear"] - LINEAR_MARGIN for r in rows)
        gap_lgbm = statistics.median(r["net"] - r["lightgbm"] for r in rows)
        gap_mlp = statistics.median(r["net"] - r["sklearn_mlp"] for r in rows)
        lines.append(
            f"{name} ({len(rows)} tables): below majority/mean: {len(below)} {below or ''}; "
            f">= linear - {LINEAR_MARGIN}: {near_linear}/{len(rows)} "
            f"({near_linear / len(rows):.0%}); median gap to LightGBM {gap_lgbm:+.4f}, "
            f"to scikit-learn's MLP {gap_mlp:+.4f}")
    return lines


def table(results: list[dict[str, Any]]) -> str:
    head = ["table", "rows", "held out", "task", "score", "net", "majority", "linear", "LightGBM",
            "sklearn MLP", "net - LightGBM", "wall"]
    body = [[r["table"], f"{r['rows']:,}", "yes" if r["held_out"] else "", r["task"], r["metric"],
             *(f"{r[k]:.3f}" for k in ("net", "majority", "linear", "lightgbm", "sklearn_mlp")),
             f"{r['net'] - r['lightgbm']:+.3f}", f"{r['seconds']:.0f} s"] for r in results]
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
              ) -> list[dict[str, Any]]:
    """Run the panel (or the named tables), print the table and the summary, write JSON."""
    unknown = sorted(set(names or []) - {t.name for t in make_panel.PANEL})
    if unknown:
        raise SystemExit(f"error: no panel table {unknown}; the tables are "
                         f"{[t.name for t in make_panel.PANEL]}")
    make_panel.write(names=names)
    chosen = [t for t in make_panel.PANEL if names is None or t.name in names]
    results = []
    with tempfile.TemporaryDirectory(prefix="fivestep-panel-") as scratch:
        for t in chosen:
            print(f"panel: {t.name} ...", file=sys.stderr, flush=True)
            results.append(run_table(t, Path(scratch), overrides))
    print(table(results))
    for line in summary(results):
        print(line)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"overrides": overrides, "tables": results,
                                   "summary": summary(results)}, indent=1))
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", help="comma-separated subset of the panel's tables")
    p.add_argument("--override", action="append", default=[],
                   help="a Hydra override added to every run (repeatable)")
    p.add_argument("--out", default=str(ROOT / "logs" / "bench" / "panel.json"))
    args = p.parse_args(argv)
    names = [n.strip() for n in args.tables.split(",")] if args.tables else None
    run_panel(names, args.override, Path(args.out))


if __name__ == "__main__":
    main()
