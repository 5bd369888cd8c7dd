"""Count one day's events per product: views, carts, purchases and revenue."""

import csv
import sys
from pathlib import Path

from shop import write_counts

KIND = {"view": 0, "cart": 1, "purchase": 2}

src, dst = sys.argv[1], Path(sys.argv[2])
counts: dict[str, list[float]] = {}
with open(src, newline="") as f:
    for row in csv.DictReader(f):
        c = counts.setdefault(row["product"], [0, 0, 0, 0.0])
        c[KIND[row["event"]]] += 1
        if row["event"] == "purchase":
            c[3] += float(row["price"])
write_counts(dst, counts)
print(f"{src}: {sum(int(c[0] + c[1] + c[2]) for c in counts.values())} events")
