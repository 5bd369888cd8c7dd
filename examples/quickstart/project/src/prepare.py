"""Split data/raw.csv into train and test sets."""

import random
import sys
from pathlib import Path

from common import read_rows, write_rows

raw, out = sys.argv[1], Path(sys.argv[2])
rows = read_rows(raw)
random.Random(0).shuffle(rows)
cut = int(len(rows) * 0.8)
out.mkdir(parents=True, exist_ok=True)
write_rows(out / "train.csv", ["x1", "x2", "y"], rows[:cut])
write_rows(out / "test.csv", ["x1", "x2", "y"], rows[cut:])
