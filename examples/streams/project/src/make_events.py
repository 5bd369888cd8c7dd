"""Write deterministic synthetic shop events, one CSV file per day, into events/.

Usage: python src/make_events.py FIRST [LAST]   (day numbers; day 1 is 2024-06-03)

Each day has EVENTS_PER_DAY rows (default 80000, about 3.5 MB): a timestamp, a user,
an event (view, cart or purchase) and a product, with a long-tailed popularity.
The same day number always gives the same bytes.
"""

import datetime as dt
import os
import random
import sys
from pathlib import Path

FIRST_DAY = dt.date(2024, 6, 3)
PRODUCTS = [f"sku-{i:04d}" for i in range(1, 1501)]
PRICES = [round(4.99 + (i * 7919 % 9500) / 100, 2) for i in range(1, 1501)]
POPULARITY = [1.0 / (rank + 5) ** 1.1 for rank in range(len(PRODUCTS))]
EVENTS, EVENT_WEIGHTS = ["view", "cart", "purchase"], [0.86, 0.09, 0.05]


def make_day(day: int, rows: int) -> Path:
    date = FIRST_DAY + dt.timedelta(days=day - 1)
    rng = random.Random(f"events-{date}")
    # Each day reshuffles part of the popularity ranking, so the weekly top 10 moves.
    head = list(range(40))
    rng.shuffle(head)
    weights = [POPULARITY[rank] for rank in head] + POPULARITY[len(head) :]
    products = rng.choices(range(len(PRODUCTS)), weights, k=rows)
    events = rng.choices(EVENTS, EVENT_WEIGHTS, k=rows)
    seconds = sorted(rng.randrange(86400) for _ in range(rows))
    start = dt.datetime.combine(date, dt.time())
    path = Path("events") / f"{date}.csv"
    path.parent.mkdir(exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write("ts,user,event,product,price\n")
        for sec, p, ev in zip(seconds, products, events, strict=True):
            ts = (start + dt.timedelta(seconds=sec)).isoformat()
            f.write(f"{ts},u{rng.randrange(20000):05d},{ev},{PRODUCTS[p]},{PRICES[p]:.2f}\n")
    return path


def main() -> None:
    first = int(sys.argv[1])
    last = int(sys.argv[2]) if len(sys.argv) > 2 else first
    rows = int(os.environ.get("EVENTS_PER_DAY", "80000"))
    for day in range(first, last + 1):
        path = make_day(day, rows)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {rows} events)")


if __name__ == "__main__":
    main()
