"""bench/peers/redis.py — the Redis Streams peer of bench/compare.sh (W1
only: Redis has no query over a stream's fields).

  resp FILE OUT            turn NDJSON into XADD commands (Redis protocol), untimed
  load DIR PORT FSYNC RESP start a server in DIR (appendonly, appendfsync FSYNC),
                           pipe RESP through redis-cli --pipe, stop the server

One XADD per event to one stream key, `events`, with the envelope's fields
(id, stream, type, time, session, data as JSON text).  The timed part is
redis-cli --pipe alone: JSON is parsed beforehand, which favours Redis.
With FSYNC always, Redis fsyncs its append-only file before it replies;
with everysec, the last second of writes may not be on disk yet.  Prints
one JSON line: seconds, entries, bytes of the append-only files.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from common import main


def bulk(v):
    b = v.encode() if isinstance(v, str) else v
    return b"$%d\r\n%s\r\n" % (len(b), b)


def resp(path, out):
    n = 0
    with open(path, encoding="utf-8") as f, open(out, "wb") as o:
        for line in f:
            e = json.loads(line)
            args = [b"XADD", b"events", b"*"]
            for k in ("id", "stream", "type", "time", "session"):
                args += [k, e.get(k) or ""]
            args += ["data", json.dumps(e.get("data", {}), separators=(",", ":"))]
            o.write(b"*%d\r\n" % len(args) + b"".join(map(bulk, args)))
            n += 1
    return {"commands": n}


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", port, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def load(d, port, fsync, rfile):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    subprocess.run(["redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", d,
                    "--appendonly", "yes", "--appendfsync", fsync, "--save", "",
                    "--daemonize", "yes", "--logfile", d + "/log", "--pidfile", d + "/pid"],
                   check=True)
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    version = cli(port, "info", "server").split("redis_version:")[1].split()[0]
    with open(rfile, "rb") as f:
        t0 = time.perf_counter()
        p = subprocess.run(["redis-cli", "-p", port, "--pipe"], stdin=f, capture_output=True,
                           text=True)
        s = time.perf_counter() - t0
    entries = int(cli(port, "xlen", "events"))
    size = sum(os.path.getsize(os.path.join(r, x)) for r, _, fs in os.walk(d + "/appendonlydir")
               for x in fs)
    cli(port, "shutdown", "nosave")
    if p.returncode or "errors: 0," not in p.stdout:
        sys.exit("redis-cli --pipe: " + p.stdout + p.stderr)
    return {"s": s, "entries": entries, "bytes": size, "redis": version}


main(__doc__, {"resp": (resp, 2), "load": (load, 4)})
