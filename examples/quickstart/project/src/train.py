"""Fit a linear model by gradient descent; hyperparameters come from params.yaml."""

import json
from pathlib import Path

import yaml_free_params as params
from common import read_rows

p = params.load()["train"]
rows = read_rows("data/prepared/train.csv")
w = [0.0, 0.0, 0.0]
for _ in range(p["epochs"]):
    grad = [0.0, 0.0, 0.0]
    for x1, x2, y in rows:
        err = w[0] * x1 + w[1] * x2 + w[2] - y
        grad = [grad[0] + err * x1, grad[1] + err * x2, grad[2] + err]
    w = [wi - p["lr"] * g / len(rows) for wi, g in zip(w, grad, strict=True)]
Path("models").mkdir(exist_ok=True)
Path("models/model.json").write_text(json.dumps({"weights": w}, indent=2) + "\n")
