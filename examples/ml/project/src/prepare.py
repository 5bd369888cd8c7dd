"""Clean data/raw.csv (impute missing spend) and split it into train and test Parquet files."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
from common import params

p = params("prepare")
raw, out = sys.argv[1], Path(sys.argv[2])
table = pyarrow.csv.read_csv(raw)
spend = table["monthly_spend"]
median = float(np.median(spend.drop_null().to_numpy()))
table = table.set_column(
    table.schema.get_field_index("monthly_spend"), "monthly_spend", pc.fill_null(spend, median)
)
rng = np.random.default_rng(p["seed"])
is_test = rng.random(table.num_rows) < p["test_fraction"]
out.mkdir(parents=True, exist_ok=True)
pq.write_table(table.filter(pa.array(~is_test)), out / "train.parquet")
pq.write_table(table.filter(pa.array(is_test)), out / "test.parquet")
print(f"{int((~is_test).sum())} train / {int(is_test.sum())} test rows; spend median {median}")
