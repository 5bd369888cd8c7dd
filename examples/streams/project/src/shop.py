"""The per-product count table shared by the count and aggregate stages."""

import csv
from pathlib import Path

COLUMNS = ["product", "views", "carts", "purchases", "revenue"]


def read_counts(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return {r[0]: [float(v) for v in r[1:]] for r in rows}


def write_counts(path: Path, counts: dict[str, list[float]], extra: tuple[str, ...] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS + list(extra))
        for product in sorted(counts):
            v = counts[product]
            w.writerow([product, *(int(x) for x in v[:3]), f"{v[3]:.2f}", *v[4:]])
