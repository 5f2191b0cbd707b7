"""Test metrics of an experiment over several seeds, beside scikit-learn baselines on
the very same splits (a logistic or linear regression on the same preprocessed rows).

    python scripts/seed_spread.py breast_cancer --seeds 0 1 2 3 4

Each seed changes the split and the initial weights. Runs go to a temporary folder;
the table printed is the mean and the sample standard deviation over the seeds.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(experiment: str, seed: int, out: Path, extra: list[str]) -> tuple[dict, dict]:
    from fivestep.config.compose import compose_run_config
    from fivestep.train import build, train

    overrides = [f"experiment={experiment}", f"seed={seed}", "logger=[]",
                 "callbacks.progress_bar.refresh_rate=0", *extra]
    cfg = compose_run_config(ROOT / "configs", overrides, out / f"{experiment}_{seed}")
    datamodule = build(cfg.data)
    metrics = train(cfg)
    return metrics, baseline(datamodule)


def baseline(datamodule) -> dict[str, float]:
    """scikit-learn on the same preprocessed rows: fit on train+val, score on test."""
    import numpy as np
    from sklearn.linear_model import LinearRegression, LogisticRegression

    datamodule.setup("fit")
    x = np.concatenate([datamodule.splits[s][0].numpy() for s in ("train", "val")])
    y = np.concatenate([datamodule.splits[s][1].numpy() for s in ("train", "val")])
    x_test, y_test = (t.numpy() for t in datamodule.splits["test"])
    if datamodule.task == "regression":
        model = LinearRegression().fit(x, y)
        return {"sklearn/r2": float(model.score(x_test, y_test))}
    model = LogisticRegression(max_iter=5000).fit(x, y)
    return {"sklearn/acc": float(model.score(x_test, y_test))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            metrics, base = run(args.experiment, seed, Path(tmp), args.overrides)
            rows.append({**{k: v for k, v in metrics.items() if k.startswith("test/")}, **base})
            print(f"seed {seed}: " + ", ".join(f"{k}={v:.4f}" for k, v in rows[-1].items()))
    for key in rows[0]:
        values = [r[key] for r in rows]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{key}: {statistics.mean(values):.4f} ± {spread:.4f} over seeds {args.seeds}")


if __name__ == "__main__":
    main()
