"""A moving-average forecast per region (params: forecast.window, forecast.horizon)."""

import json
import sys
from pathlib import Path

from ruamel.yaml import YAML  # installed with dvx
from salesio import read_regions

p = YAML(typ="safe").load(Path("params.yaml"))["forecast"]
regions = read_regions(sys.argv[1])
forecast = {}
for region, units in regions.items():
    level = sum(units[-p["window"] :]) / p["window"]
    forecast[region] = {"per_day": round(level, 1), "next_days": round(level * p["horizon"])}
out = Path(sys.argv[2])
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"params": p, "regions": forecast}, indent=2, sort_keys=True) + "\n")
print(f"forecast with a {p['window']}-day window")
