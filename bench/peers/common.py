"""bench/peers/common.py — what the Python peers of bench/compare.sh share:
answers written as TSV, and the command line (a command, its arguments,
one JSON line of figures printed)."""
import json
import sys


def tsv(path, rows):
    """Rows as tab-separated lines; None as an empty field."""
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join("" if v is None else str(v) for v in r) + "\n")


def main(doc, cmds, extra=None):
    """cmds: name -> (function, number of arguments); a name in the set
    `variadic` takes its fixed arguments and then any number more (the
    batches of incr).  Prints the function's dict, with extra's keys."""
    argv = sys.argv[1:]
    if not argv or argv[0] not in cmds:
        sys.exit(doc)
    fn, n, *variadic = cmds[argv[0]]
    args = argv[1:]
    if variadic and len(args) > n:
        r = fn(*args[:n], args[n:])
    elif not variadic and len(args) == n:
        r = fn(*args)
    else:
        sys.exit(doc)
    r.update(extra or {})
    print(json.dumps(r))
