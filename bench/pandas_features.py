#!/usr/bin/python3
"""bench/pandas_features.py EVENTS.csv LABELS.csv OUT.ndjson

The pandas peer of `engram features` (bench/features.sh runs it with
Debian's python3-pandas): the event-time-only answer, which is what a
feature pipeline built on merge_asof gives, for the features of
bench/features_spec.json that merge_asof and running sums express:

  orders_30d, orders_90d, refunds_90d, spend_90d  running count / sum per
      customer, taken at the last event before the cutoff c and at the last
      event before c - window (merge_asof twice); the difference is the
      window [c - window, c)
  avg_basket   the same over the ttl (365d): sum / count
  refund_rate  refunds_90d / orders_90d
  days_since_order, last_method  merge_asof backward with tolerance = ttl
  spent        the running sum over the whole history before c (the
               projection's field), null for a customer without events

max_item (a windowed max) and carriers_90d (a windowed distinct count) have
no merge_asof form and are left out.  Money is summed in integer cents, so
that differences of running sums are exact.  EVENTS.csv: customer, type,
time_us, recorded_us, pos, amount, carrier, method (bench/duckdb_features.mjs
export); recorded_us is not used: this is the naive variant.  Prints one
JSON line: the load's and the computation's seconds.
"""
import json
import sys
import time

import numpy as np
import pandas as pd

DAY = 86400 * 10**6
TTL = 365 * DAY


def asof(labels, ev, on, cols, tolerance=None):
    """For each label row, cols of the customer's last event in ev whose
    time_us < labels[on] (within tolerance), aligned with labels."""
    m = pd.merge_asof(labels[[on, "customer", "row"]].sort_values(on), ev[["customer", "time_us"] + cols],
                      left_on=on, right_on="time_us", by="customer", direction="backward",
                      allow_exact_matches=False, tolerance=tolerance)
    return m.set_index("row")[cols].reindex(labels["row"])


def running(ev, labels, typ, windows):
    """Count and cent sums of events of type typ in [c - w, c) per window w."""
    e = ev[ev["type"] == typ].copy()
    e["n"] = e.groupby("customer").cumcount() + 1
    e["cents"] = e["cents"].fillna(0).astype("int64")
    e["sum"] = e.groupby("customer")["cents"].cumsum()
    hi = asof(labels, e, "c", ["n", "sum"]).fillna(0)
    out = {}
    for w in windows:
        labels["lo"] = labels["c"] - w
        lo = asof(labels, e, "lo", ["n", "sum"]).fillna(0)
        out[w] = (hi["n"].to_numpy() - lo["n"].to_numpy(), hi["sum"].to_numpy() - lo["sum"].to_numpy())
    return out


def features(ev, labels):
    f = pd.DataFrame({"row": labels["row"].to_numpy()})
    placed = running(ev, labels, "order_placed", [30 * DAY, 90 * DAY, TTL])
    refunds = running(ev, labels, "order_refunded", [90 * DAY])
    f["orders_30d"] = placed[30 * DAY][0].astype("int64")
    f["spend_90d"] = placed[90 * DAY][1] / 100
    n, cents = placed[TTL]
    with np.errstate(invalid="ignore", divide="ignore"):
        f["avg_basket"] = np.where(n > 0, cents / 100 / n, np.nan)
    e = ev[ev["type"] == "order_placed"]
    last = asof(labels, e.assign(t=e["time_us"]), "c", ["t"], tolerance=TTL)["t"].to_numpy()
    f["days_since_order"] = (labels["c"].to_numpy() - last) / DAY
    e = ev[(ev["type"] == "order_paid") & ev["method"].notna()]
    f["last_method"] = asof(labels, e, "c", ["method"], tolerance=TTL)["method"].to_numpy()
    f["orders_90d"] = placed[90 * DAY][0].astype("int64")
    f["refunds_90d"] = refunds[90 * DAY][0].astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        f["refund_rate"] = np.where(f["orders_90d"] > 0, f["refunds_90d"] / f["orders_90d"], np.nan)
    # the projection: every order_placed and order_refunded before c
    e = ev[ev["type"].isin(["order_placed", "order_refunded"])].copy()
    e["spent"] = e["cents"].where(e["type"] == "order_placed", 0).fillna(0).astype("int64")
    e["spent"] = e.groupby("customer")["spent"].cumsum()
    f["spent"] = asof(labels, e, "c", ["spent"])["spent"].to_numpy() / 100
    return f


def cutoff_us(s):
    """RFC 3339 text or epoch-ms integers, in µs."""
    if s.str.fullmatch(r"-?[0-9]+").all():
        return s.astype("int64") * 1000
    return pd.to_datetime(s, utc=True).astype("int64") // 1000


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    t0 = time.monotonic()
    ev = pd.read_csv(sys.argv[1], dtype={"customer": str, "type": "category", "carrier": str, "method": str},
                     usecols=["customer", "type", "time_us", "pos", "amount", "method"])
    ev["cents"] = (ev["amount"] * 100).round().astype("Int64")
    # merge_asof wants the right side sorted by time alone; the running
    # sums per customer follow that order within each customer
    ev = ev.sort_values(["time_us", "pos"], kind="stable").reset_index(drop=True)
    lab = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
    labels = pd.DataFrame({"row": np.arange(1, len(lab) + 1), "customer": lab["customer"],
                           "c": cutoff_us(lab["label_time"])})
    t1 = time.monotonic()
    f = features(ev, labels)
    t2 = time.monotonic()
    with open(sys.argv[3], "w") as out:
        for r in f.itertuples(index=False):
            d = r._asdict()
            out.write(json.dumps({k: (None if isinstance(v, float) and np.isnan(v) else
                                      v.item() if hasattr(v, "item") else v) for k, v in d.items()}) + "\n")
    print(json.dumps({"load_s": round(t1 - t0, 3), "s": round(t2 - t1, 4), "rows": len(f),
                      "pandas": pd.__version__}))


main()
