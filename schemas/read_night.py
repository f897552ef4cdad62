"""Reads one committed pophub night with Python deltalake and Polars, at the versions it pinned.

    python3 schemas/read_night.py WAREHOUSE [NIGHT]

Prints, per table, the rows each reader sees, as JSON. `pophub` must be on PATH, or set POPHUB.
"""
import json
import os
import subprocess
import sys

import polars as pl
from deltalake import DeltaTable

warehouse = sys.argv[1]
wanted = int(sys.argv[2]) if len(sys.argv) > 2 else None
pophub = os.environ.get("POPHUB", "pophub")
log = json.loads(subprocess.check_output([pophub, "nights", "--warehouse", warehouse, "--format", "json"]))
night = next(n for n in log["nights"] if (n["night"] == wanted if wanted else n["current"]))

rows = {}
for name, table in night["tables"].items():
    # Always the pinned version: the latest may be a run's uncommitted one.
    by_deltalake = DeltaTable(table["path"], version=table["version"]).to_pyarrow_table().num_rows
    by_polars = pl.read_delta(table["path"], version=table["version"]).height
    rows[name] = {"deltalake": by_deltalake, "polars": by_polars}
print(json.dumps({"night": night["night"], "rows": rows}))
