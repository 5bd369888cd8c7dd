"""Write a synthetic customer-churn dataset to data/raw.csv (deterministic, no download).

ROWS (env, default 60000) customers with tenure, spend, support calls, age, plan and
region; a few spends are missing. Whether a customer churned depends non-linearly on
them, so interaction features help.
"""

import csv
import os
from pathlib import Path

import numpy as np

rows = int(os.environ.get("ROWS", "60000"))
rng = np.random.default_rng(2024)
tenure = rng.integers(1, 73, rows)
spend = np.round(rng.gamma(4.0, 18.0, rows), 2)
calls = rng.poisson(1.5, rows)
age = rng.integers(18, 80, rows)
plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
region = rng.choice(["north", "south", "east", "west"], rows)
logit = (
    -0.5
    - 0.04 * tenure
    + 0.012 * spend
    + 0.45 * calls
    + 0.004 * spend * calls
    - 0.0009 * tenure * spend / 10
    + np.where(plan == "basic", 0.6, np.where(plan == "pro", -0.5, 0.0))
    + np.where(region == "south", 0.3, 0.0)
)
churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
missing = rng.random(rows) < 0.02

Path("data").mkdir(exist_ok=True)
with open("data/raw.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(
        [
            "customer",
            "tenure_months",
            "monthly_spend",
            "support_calls",
            "age",
            "plan",
            "region",
            "churned",
        ]
    )
    for i in range(rows):
        s = "" if missing[i] else f"{spend[i]:.2f}"
        w.writerow(
            [f"c{i:06d}", tenure[i], s, calls[i], age[i], plan[i], region[i], int(churned[i])]
        )
print(f"wrote data/raw.csv: {rows} customers, churn rate {churned.mean():.1%}")
