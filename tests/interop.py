#!/usr/bin/env python3
"""Reads doorstep's Parquet tables with DuckDB, pyarrow and pandas, without doorstep.

Usage: python3 tests/interop.py DATA_DIR

For every table under DATA_DIR it counts the rows and each column's non-null
values with each of the three readers, then recomputes site_day's
time_utilization from room_day in SQL (METRICS.md "Site metrics": the sum of
the rooms' occupied_seconds over the sum of their measured_seconds; the
highest revision of each row, docs/SCHEMA.md "Revisions"). It prints one JSON
object on stdout; tests/suite/interop.rs checks it against what doorstep wrote.
Exits 1 when the readers disagree on a count.

Timestamps stay inside DuckDB (epoch_ms): fetching TIMESTAMP WITH TIME ZONE
values into Python would need pytz.
"""

import json
import struct
import sys
from pathlib import Path

import duckdb
import pandas
import pyarrow
import pyarrow.dataset as ds


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def glob(data, table):
    return f"{data}/{table}/*/*.parquet"


def scan(data, table):
    return f"read_parquet('{glob(data, table)}', hive_partitioning = true)"


def with_duckdb(con, data, table):
    described = con.execute(f"DESCRIBE SELECT * FROM {scan(data, table)}").fetchall()
    names = [row[0] for row in described]
    counts = ", ".join(f"count({quote(n)})" for n in names)
    row = con.execute(f"SELECT count(*), {counts} FROM {scan(data, table)}").fetchone()
    return {
        "rows": row[0],
        "non_null": dict(zip(names, row[1:])),
        "types": {r[0]: r[1] for r in described},
    }


def with_pyarrow(data, table):
    t = ds.dataset(str(Path(data) / table), format="parquet", partitioning="hive").to_table()
    return t, {
        "rows": t.num_rows,
        "non_null": {n: len(c) - c.null_count for n, c in zip(t.column_names, t.columns)},
    }


def with_pandas(t):
    df = t.to_pandas()
    return {
        "rows": len(df),
        "non_null": {n: int(v) for n, v in df.notna().sum().items()},
    }


# site_day.time_utilization recomputed from room_day, per site and local date.
# A site day is summed from every room of the site (stream/src/site.rs: it is
# written only once each room has its day row; no room or day is left out),
# so the SQL sums every room's latest room_day row of that day.
SITE_DAY_SQL = """
WITH room_day AS (
    SELECT * FROM {room_day}
    QUALIFY row_number() OVER (
        PARTITION BY site_id, room_id, day_start ORDER BY revision DESC) = 1
),
site_day AS (
    SELECT * FROM {site_day}
    QUALIFY row_number() OVER (
        PARTITION BY site_id, day_start ORDER BY revision DESC) = 1
),
recomputed AS (
    SELECT site_id, date, day_start,
           count(*)              AS rooms,
           sum(occupied_seconds) AS occupied,
           sum(measured_seconds) AS measured
    FROM room_day
    GROUP BY site_id, date, day_start
)
SELECT s.site_id,
       CAST(s.date AS VARCHAR)                     AS date,
       epoch_ms(s.day_start)                       AS day_start_ms,
       s.revision                                  AS revision,
       s.rooms                                     AS rooms,
       r.rooms                                     AS rooms_in_room_day,
       s.time_utilization                          AS stored,
       r.occupied::DOUBLE / nullif(r.measured, 0)  AS recomputed
FROM site_day AS s
LEFT JOIN recomputed AS r
  ON r.site_id = s.site_id AND r.date = s.date AND r.day_start = s.day_start
ORDER BY s.site_id, s.day_start
"""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: interop.py DATA_DIR")
    data = Path(sys.argv[1]).resolve().as_posix()
    if "'" in data:
        sys.exit("interop.py: the data directory may not contain a quote")
    tables = sorted(p.name for p in Path(data).iterdir() if p.is_dir() and any(p.glob("*/*.parquet")))
    con = duckdb.connect()
    out = {
        "versions": {
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
            "pandas": pandas.__version__,
        },
        "tables": {},
        "site_day": [],
    }
    disagree = []
    for table in tables:
        duck = with_duckdb(con, data, table)
        arrow_table, arrow = with_pyarrow(data, table)
        pd = with_pandas(arrow_table)
        for name, other in (("pyarrow", arrow), ("pandas", pd)):
            if other["rows"] != duck["rows"] or other["non_null"] != duck["non_null"]:
                disagree.append(f"{table}: duckdb and {name} disagree")
        out["tables"][table] = {"duckdb": duck, "pyarrow": arrow, "pandas": pd}

    sql = SITE_DAY_SQL.format(room_day=scan(data, "room_day"), site_day=scan(data, "site_day"))
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    for row in cur.fetchall():
        r = dict(zip(names, row))
        # The exact doubles too, as IEEE 754 bits: a JSON reader may round decimals by an ulp.
        for k in ("stored", "recomputed"):
            r[k + "_bits"] = None if r[k] is None else struct.unpack("<Q", struct.pack("<d", r[k]))[0]
        out["site_day"].append(r)

    json.dump(out, sys.stdout, ensure_ascii=False)
    print()
    for d in disagree:
        print(f"interop.py: {d}", file=sys.stderr)
    sys.exit(1 if disagree else 0)


if __name__ == "__main__":
    main()
