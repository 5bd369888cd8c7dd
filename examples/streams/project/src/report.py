"""Write the top products of the period as a Markdown table (params: report.*)."""

import sys
import tomllib
from pathlib import Path

from shop import COLUMNS, read_counts

params = tomllib.loads(Path("params.toml").read_text())["report"]
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
counts = read_counts(src)
col = COLUMNS.index(params["rank_by"]) - 1
top = sorted(counts.items(), key=lambda kv: (-kv[1][col], kv[0]))[: int(params["top"])]
lines = [
    f"# Top {len(top)} products by {params['rank_by']}",
    "",
    "| # | product | views | carts | purchases | revenue | conversion |",
    "|---|---|---|---|---|---|---|",
]
for i, (product, (views, carts, purchases, revenue)) in enumerate(top, 1):
    conv = purchases / views if views else 0.0
    lines.append(
        f"| {i} | {product} | {views:.0f} | {carts:.0f} | {purchases:.0f} "
        f"| {revenue:.2f} | {conv:.1%} |"
    )
dst.parent.mkdir(parents=True, exist_ok=True)
dst.write_text("\n".join(lines) + "\n")
print(f"top {len(top)} by {params['rank_by']}: {top[0][0]} first")
