"""Fit a logistic regression by full-batch gradient descent (numpy only)."""

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from common import feature_columns, params

p = params("train")
src, dst = sys.argv[1], Path(sys.argv[2])
table = pq.read_table(src)
train = table.filter(pc.equal(table["split"], "train"))
names = feature_columns(train.column_names)
x = np.column_stack([train[c].to_numpy() for c in names])
y = train["label"].to_numpy().astype(float)
w, b = np.zeros(len(names)), 0.0
for _ in range(p["epochs"]):
    prob = 1 / (1 + np.exp(-(x @ w + b)))
    err = prob - y
    w -= p["lr"] * (x.T @ err / len(y) + p["l2"] * w)
    b -= p["lr"] * err.mean()
dst.parent.mkdir(parents=True, exist_ok=True)
model = {"features": names, "weights": [round(v, 6) for v in w], "bias": round(b, 6)}
dst.write_text(json.dumps(model, indent=2) + "\n")
print(f"trained on {len(y)} rows, {len(names)} features")
