#!/usr/bin/env python3
"""embed.py OUT.c FILE...: the web view's files as a C table (web_asset
WEB_ASSETS[]), compiled into engram so that the server serves them itself:
index.html as "/", every other file as "/web/NAME"."""
import os
import sys

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

out, files = sys.argv[1], sys.argv[2:]
lines = ["/* made by web/embed.py from web/: do not edit */", "#include <stddef.h>", "",
         "typedef struct web_asset {", "\tconst char *path, *type;",
         "\tconst unsigned char *data;", "\tsize_t len;", "} web_asset;", ""]
table = []
for i, f in enumerate(files):
    data = open(f, "rb").read()
    name = os.path.basename(f)
    path = "/" if name == "index.html" else "/web/" + name
    kind = TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
    lines.append("static const unsigned char a%d[] = {" % i)
    for k in range(0, len(data), 16):
        lines.append("\t" + ", ".join(str(b) for b in data[k:k + 16]) + ",")
    lines.append("\t0\n};")
    table.append('\t{ "%s", "%s", a%d, %d },' % (path, kind, i, len(data)))
lines += ["", "const web_asset WEB_ASSETS[] = {"] + table + ["\t{ NULL, NULL, NULL, 0 },", "};", ""]
tmp = out + ".tmp"
with open(tmp, "w") as w:
    w.write("\n".join(lines))
os.replace(tmp, out)
