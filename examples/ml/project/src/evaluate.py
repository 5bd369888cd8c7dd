"""Score the model on the test split: accuracy, log loss and ROC AUC into metrics.json."""

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

features, model_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
model = json.loads(Path(model_path).read_text())
table = pq.read_table(features)
test = table.filter(pc.equal(table["split"], "test"))
x = np.column_stack([test[c].to_numpy() for c in model["features"]])
y = test["label"].to_numpy().astype(float)
prob = 1 / (1 + np.exp(-(x @ np.array(model["weights"]) + model["bias"])))
eps = 1e-12
logloss = -np.mean(y * np.log(prob + eps) + (1 - y) * np.log(1 - prob + eps))
# AUC: the probability that a random churner scores above a random stayer (rank formula).
ranks = np.empty(len(prob))
ranks[np.argsort(prob)] = np.arange(1, len(prob) + 1)
pos = y == 1
auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
metrics = {
    "accuracy": round(float(np.mean((prob > 0.5) == pos)), 4),
    "auc": round(float(auc), 4),
    "logloss": round(float(logloss), 4),
    "n_test": len(y),
}
out.write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics))
