#!/usr/bin/env python3
"""rfc9162_check.py: an independent checker of engram's Merkle proofs,
written from RFC 9162 section 2.1 (not from engram's code), hashlib only.

    rfc9162_check.py inclusion PROOF.json ROOT_HEX
        verify an inclusion proof (2.1.3.2); also that leaf_data, when
        present, hashes to leaf_hash
    rfc9162_check.py consistency PROOF.json OLD_ROOT_HEX NEW_ROOT_HEX
        verify a consistency proof (2.1.4.2)
    rfc9162_check.py root < LEAF_DATA_LINES
        MTH (2.1.1) of the leaves whose data are the base64 lines of stdin

PROOF.json may be - for stdin.  Exit 0 and "ok", or 1 and the reason.
"""
import base64
import hashlib
import json
import sys


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def mth(leaves):
    """2.1.1: MTH(D[n]) by its recursive definition."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(leaf_index, tree_size, h, path, root):
    """2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return "leaf_index >= tree_size"
    fn, sn, r = leaf_index, tree_size - 1, h
    for p in path:
        if sn == 0:
            return "path too long"
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return "path too short"
    if r != root:
        return "root mismatch"
    return None


def verify_consistency(first, second, first_hash, second_hash, path):
    """2.1.4.2, step by step; sizes equal (empty path, equal roots) and an
    empty first tree are the trivial cases the RFC leaves out."""
    if first > second:
        return "first > second"
    if first == second:
        return None if not path and first_hash == second_hash else "equal sizes differ"
    if first == 0:
        return None if not path and first_hash == sha256(b"") else "bad empty proof"
    if not path:
        return "empty path"
    path = list(path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return "path too long"
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != first_hash:
        return "first root mismatch"
    if sr != second_hash:
        return "second root mismatch"
    if sn != 0:
        return "sn is not 0"
    return None


def unhex(s):
    if not isinstance(s, str) or len(s) != 64:
        raise ValueError("not 64 hex digits: %r" % (s,))
    return bytes.fromhex(s)


def num(x):
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise ValueError("not a non-negative integer: %r" % (x,))
    return x


def load(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    return json.loads(text)


def main(argv):
    try:
        if argv[1] == "root":
            leaves = [base64.b64decode(l.strip(), validate=True) for l in sys.stdin if l.strip()]
            print(mth(leaves).hex())
            return 0
        p = load(argv[2])
        if argv[1] == "inclusion":
            h = unhex(p["leaf_hash"])
            if "leaf_data" in p and leaf_hash(base64.b64decode(p["leaf_data"], validate=True)) != h:
                why = "leaf_data does not hash to leaf_hash"
            else:
                why = verify_inclusion(num(p["leaf_index"]), num(p["tree_size"]), h,
                                       [unhex(x) for x in p["audit_path"]], unhex(argv[3]))
        elif argv[1] == "consistency":
            why = verify_consistency(num(p["first_size"]), num(p["second_size"]), unhex(argv[3]),
                                     unhex(argv[4]), [unhex(x) for x in p["consistency_path"]])
        else:
            raise ValueError("unknown command " + argv[1])
    except (ValueError, KeyError, TypeError, IndexError) as e:
        why = "malformed: %s" % e
    if why:
        print("FAIL: " + why)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
