"""Make a small synthetic dataset: y = 3*x1 - 2*x2 + 1 + noise."""

import csv
import random
from pathlib import Path

rng = random.Random(42)
Path("data").mkdir(exist_ok=True)
with open("data/raw.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["x1", "x2", "y"])
    for _ in range(5000):
        x1, x2 = rng.uniform(-5, 5), rng.uniform(-5, 5)
        w.writerow([f"{x1:.4f}", f"{x2:.4f}", f"{3 * x1 - 2 * x2 + 1 + rng.gauss(0, 0.5):.4f}"])
