"""Notebook-style analysis: load data and models at older git revisions with dvx.api.

Run from the repository root after a few commits: python notebook.py [OLD_REV]
(default HEAD~1). Nothing is checked out: dvx reads the lock file of each revision
from git and opens the matching object from the cache (or the remote).
"""

import json
import sys

import numpy as np
import pyarrow.compute as pc

import dvx.api

old_rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"

# In [1]: the feature table as it was at the older revision
features = dvx.api.read_table("data/features.parquet", rev=old_rev)
test = features.filter(pc.equal(features["split"], "test"))
print(
    f"data/features.parquet @ {old_rev}: {features.num_rows} rows x {features.num_columns} "
    f"columns ({test.num_rows} test rows)"
)

# In [2]: both models, the older one and the committed one, scored on that test split
y = test["label"].to_numpy()
for rev in (old_rev, "HEAD"):
    with dvx.api.open("models/model.json", rev=rev) as f:
        model = json.load(f)
    x = np.column_stack([test[c].to_numpy() for c in model["features"]])
    prob = 1 / (1 + np.exp(-(x @ np.array(model["weights"]) + model["bias"])))
    lr = dvx.api.lineage("models/model.json", rev=rev)["root"]["params"]["params.yaml"]["train"]
    print(f"models/model.json @ {rev}: lr={lr['lr']} accuracy={np.mean((prob > 0.5) == y):.4f}")

# In [3]: which inputs made the older model? (the same content as `dvx lineage --json`)
root = dvx.api.lineage("models/model.json", rev=old_rev)["root"]
for node in root["inputs"]:
    print(f"  input {node['path']} {node['hash'][:12]} from stage {node['stage']}")
