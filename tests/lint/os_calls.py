#!/usr/bin/env python3
"""os_calls.py: every file, sync, rename and mmap call of the library goes
through the I/O layer (src/util/os.c's eg_os table), so that fault tests reach
all of it.  Lists each raw call outside os.c and exits 1 if there is one.

    tests/lint/os_calls.py [SRC_DIR]      (default: src/ of this checkout)
"""
import os
import re
import sys

CALLS = ("open", "close", "read", "write", "pread", "pwrite", "fdatasync", "fsync",
         "ftruncate", "rename", "unlink", "mmap", "munmap", "mkdir", "rmdir", "flock",
         "opendir", "stat", "fstat", "futimens", "openat", "renameat", "unlinkat",
         "fopen", "msync", "mremap", "posix_fallocate", "fallocate", "truncate")
RAW = re.compile(r"(?<![\w.>])(%s)\s*\(" % "|".join(CALLS))
ALLOWED = {"os.c"}


def strip(text):
    """The code without comments, string and character literals (kept as
    blanks so that line numbers stay)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")
    found = 0
    for root, _, files in sorted(os.walk(top)):
        for f in sorted(files):
            if not f.endswith((".c", ".h")) or f in ALLOWED:
                continue
            path = os.path.join(root, f)
            code = strip(open(path, encoding="utf-8").read())
            for no, line in enumerate(code.split("\n"), 1):
                for m in RAW.finditer(line):
                    print("%s:%d: %s() outside the I/O layer: use eg_os.%s or an os_ helper"
                          % (os.path.relpath(path), no, m.group(1), m.group(1)))
                    found += 1
    if found:
        print("os_calls: %d raw call(s) outside src/util/os.c" % found)
        return 1
    print("os_calls: every file call goes through the I/O layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
