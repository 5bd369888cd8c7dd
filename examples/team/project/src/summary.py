"""Per-region totals and the typical day."""

import json
import statistics
import sys
from pathlib import Path

from salesio import read_regions

regions = read_regions(sys.argv[1])
summary = {
    region: {"total": sum(units), "typical_day": round(float(statistics.mean(units)), 1)}
    for region, units in regions.items()
}
out = Path(sys.argv[2])
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
print(f"summary of {len(summary)} regions")
