"""Score the model on the test set; writes metrics.json (kept in git)."""

import json
import math

from common import read_rows

with open("models/model.json") as f:
    w = json.load(f)["weights"]
rows = read_rows("data/prepared/test.csv")
mse = sum((w[0] * x1 + w[1] * x2 + w[2] - y) ** 2 for x1, x2, y in rows) / len(rows)
with open("metrics.json", "w") as f:
    json.dump({"rmse": round(math.sqrt(mse), 4), "n_test": len(rows)}, f)
print(f"rmse={math.sqrt(mse):.4f}")
