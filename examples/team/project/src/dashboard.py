"""One Markdown table from the summary and the forecast."""

import json
import sys
from pathlib import Path

summary = json.loads(Path(sys.argv[1]).read_text())
forecast = json.loads(Path(sys.argv[2]).read_text())
h = forecast["params"]["horizon"]
lines = [
    f"| region | typical day | total | forecast per day | next {h} days |",
    "|---|---|---|---|---|",
]
for region in sorted(summary):
    s, f = summary[region], forecast["regions"][region]
    lines.append(
        f"| {region} | {s['typical_day']} | {s['total']} | {f['per_day']} | {f['next_days']} |"
    )
Path(sys.argv[3]).write_text("\n".join(lines) + "\n")
print("dashboard.md written")
