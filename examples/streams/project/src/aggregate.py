"""Sum the per-day counts in a directory into one weekly table."""

import sys
from pathlib import Path

from shop import read_counts, write_counts

MIN_VIEWS = 0  # products with fewer views over the period are left out

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
days = sorted(src.glob("*.csv"))
total: dict[str, list[float]] = {}
for day in days:
    for product, values in read_counts(day).items():
        t = total.setdefault(product, [0.0] * len(values))
        total[product] = [a + b for a, b in zip(t, values, strict=True)]
total = {p: v for p, v in total.items() if v[0] >= MIN_VIEWS}
write_counts(dst, total)
print(f"{len(days)} days, {len(total)} products -> {dst}")
