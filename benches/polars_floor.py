"""The floor: what polars alone needs to read the input and count rows per key and hour.

    python benches/polars_floor.py INPUT.csv
"""

import sys

import polars as pl

counts = (
    pl.scan_csv(sys.argv[1])
    .group_by("api_key", pl.col("timestamp").str.slice(0, 13).alias("hour"))
    .len()
    .collect()
)
print(f"{counts.height} key-hours", file=sys.stderr)
