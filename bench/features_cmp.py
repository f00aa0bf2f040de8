#!/usr/bin/env python3
"""bench/features_cmp.py A B COLS

Are two feature tables the same answer?  A and B are `engram features`
CSV (the labels' columns, then the features; an empty field is null) or
NDJSON (one object per row, as bench/duckdb_features.mjs and
bench/pandas_features.py write them), their rows in label order.  COLS is
a comma-separated list of the feature columns to compare.  Numbers are
equal within a relative tolerance of 1e-9 (counts and exact decimal sums
print differently in each system: 120.5 and 120.50); nulls equal nulls
only; text equals text.  Exit 0 and print the number of rows compared, or
exit 1 with the first differing row printed.
"""
import csv
import itertools
import json
import math
import sys


def rows(path):
    with open(path, newline="") as f:
        first = f.read(1)
        f.seek(0)
        if first == "{":
            for line in f:
                if line.strip():
                    yield json.loads(line)
        else:
            for r in csv.DictReader(f):
                yield {k: (None if v == "" else v) for k, v in r.items()}


def value(v):
    """A cell as a number when it is one, else as it is."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except ValueError:
        return v


def same(a, b):
    a, b = value(a), value(b)
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return False
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    cols = sys.argv[3].split(",")
    n = 0
    for n, (ra, rb) in enumerate(itertools.zip_longest(rows(sys.argv[1]), rows(sys.argv[2])), 1):
        if ra is None or rb is None:
            print(f"{sys.argv[2] if ra is None else sys.argv[1]} has more rows than the other (row {n})",
                  file=sys.stderr)
            sys.exit(1)
        for c in cols:
            if c not in ra or c not in rb:
                sys.exit(f"row {n}: no column {c} in {sys.argv[1] if c not in ra else sys.argv[2]}")
            if not same(ra[c], rb[c]):
                print(f"row {n}, {c}: {ra[c]!r} against {rb[c]!r}", file=sys.stderr)
                print(f"  {sys.argv[1]}: {json.dumps(ra)}", file=sys.stderr)
                print(f"  {sys.argv[2]}: {json.dumps(rb)}", file=sys.stderr)
                sys.exit(1)
    print(n)


if __name__ == "__main__":
    main()
