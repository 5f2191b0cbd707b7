"""Write `data/csv_example.csv`, the small table the `csv_example` experiment trains on.

Run once (`python scripts/make_csv_example.py`); the CSV is committed, so this only
documents how it was made and lets anyone regenerate the same bytes. The table has
what a real one has: numeric columns on different scales, text categories, missing
values in both, and a yes/no target that depends on all of them.
"""

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 300
OUT = Path(__file__).resolve().parents[1] / "data" / "csv_example.csv"


def make(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    """A made-up customer table: will the customer renew (`renewed`: yes/no)?"""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows).astype(float)
    monthly_spend = np.round(rng.gamma(2.0, 30.0, rows), 2)
    support_calls = rng.poisson(1.5, rows).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], rows)
    score = (
        0.04 * (age - 45)
        + 0.02 * (monthly_spend - 60)
        - 0.9 * (support_calls - 1.5)
        + np.select([plan == "pro", plan == "plus"], [1.5, 0.6], 0.0)
        + np.where(region == "south", -0.5, 0.0)
    )
    renewed = rng.random(rows) < 1 / (1 + np.exp(-score))
    df = pd.DataFrame(
        {
            "age": age,
            "monthly_spend": monthly_spend,
            "support_calls": support_calls,
            "plan": plan,
            "region": region,
            "renewed": np.where(renewed, "yes", "no"),
        }
    )
    # Gaps, as in real exports: numeric ones are imputed, a missing category is all-zero.
    df.loc[rng.choice(rows, 15, replace=False), "monthly_spend"] = np.nan
    df.loc[rng.choice(rows, 10, replace=False), "age"] = np.nan
    df.loc[rng.choice(rows, 8, replace=False), "region"] = None
    return df


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    make().to_csv(OUT, index=False)
    print(f"wrote {OUT} ({ROWS} rows)")
