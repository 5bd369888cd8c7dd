"""Drop malformed rows and compute net units per day."""

import csv
import sys
from pathlib import Path

src, dst = sys.argv[1], Path(sys.argv[2])
kept = dropped = 0
dst.parent.mkdir(parents=True, exist_ok=True)
with open(src, newline="") as f, open(dst, "w", newline="") as g:
    w = csv.writer(g)
    w.writerow(["date", "net_units"])
    for row in csv.DictReader(f):
        if not row["units"].isdigit():
            dropped += 1
            continue
        w.writerow([row["date"], int(row["units"]) - int(row["returns"])])
        kept += 1
print(f"{src}: kept {kept} rows, dropped {dropped}")
