"""Reading the cleaned per-region files (shared by summary and forecast)."""

import csv
from pathlib import Path


def read_regions(directory: str) -> dict[str, list[int]]:
    """Region name → net units per day, in date order."""
    out = {}
    for path in sorted(Path(directory).glob("*.csv")):
        with open(path, newline="") as f:
            out[path.stem] = [int(r["net_units"]) for r in csv.DictReader(f)]
    return out
