"""Standardize numeric columns (train statistics), one-hot the categories, optionally add
pairwise interactions; one Parquet file with a `split` column."""

import itertools
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import CATEGORICAL, NUMERIC, params

p = params("features")
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
parts = {name: pq.read_table(src / f"{name}.parquet") for name in ("train", "test")}
train_num = {c: parts["train"][c].to_numpy().astype(float) for c in NUMERIC}
mean = {c: v.mean() for c, v in train_num.items()}
std = {c: v.std() for c, v in train_num.items()}

tables = []
for split, t in parts.items():
    cols: dict[str, np.ndarray] = {}
    for c in NUMERIC:
        cols[f"f_{c}"] = (t[c].to_numpy().astype(float) - mean[c]) / std[c]
    for c, levels in CATEGORICAL.items():
        values = np.array(t[c].to_pylist())
        for level in levels[1:]:  # the first level is the baseline
            cols[f"f_{c}_{level}"] = (values == level).astype(float)
    if p["interactions"]:
        for a, b in itertools.combinations(NUMERIC, 2):
            cols[f"f_{a}_x_{b}"] = cols[f"f_{a}"] * cols[f"f_{b}"]
    cols["label"] = t["churned"].to_numpy().astype(np.int8)
    table = pa.table(cols).append_column("split", pa.array([split] * t.num_rows))
    tables.append(table.add_column(0, "customer", t["customer"]))
dst.parent.mkdir(parents=True, exist_ok=True)
features = pa.concat_tables(tables)
pq.write_table(features, dst)
n = sum(1 for name in features.column_names if name.startswith("f_"))
print(f"{features.num_rows} rows, {n} features -> {dst}")
