"""Write one year of deterministic daily sales per region into data/sales/REGION.csv."""

import datetime as dt
import math
import os
import random
from pathlib import Path

DAYS = int(os.environ.get("DAYS", "365"))
REGIONS = {"north": 120.0, "south": 95.0, "east": 150.0, "west": 80.0}

out = Path("data/sales")
out.mkdir(parents=True, exist_ok=True)
for region, base in REGIONS.items():
    rng = random.Random(region)
    with open(out / f"{region}.csv", "w") as f:
        f.write("date,units,returns\n")
        for d in range(DAYS):
            date = dt.date(2024, 1, 1) + dt.timedelta(days=d)
            season = 1 + 0.3 * math.sin(2 * math.pi * d / 365) + 0.15 * (date.weekday() >= 5)
            units = max(0, round(rng.gauss(base * season * (1 + d / 1000), base * 0.2)))
            # a few broken rows that the clean stage drops
            f.write(f"{date},{units if rng.random() > 0.01 else 'n/a'},{rng.randrange(6)}\n")
    print(f"wrote {out / region}.csv ({DAYS} days)")
