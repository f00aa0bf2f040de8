#!/usr/bin/env python3
"""browser.py ENGRAM SCREENSHOT: engram serve's web view in headless
Chromium (Debian's chromium), checked against the commands: the head, the
streams and types with their counts, the event browser, a live-tail event
appearing after an append, and the chart's points (one per window, every
revision counted).  Keeps a screenshot at SCREENSHOT.  Exit 1 with the
first mismatch."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from cdp import Browser  # noqa: E402

engram, shot = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="engram-web-")
store = os.path.join(work, "store")


def run(*args, stdin=None):
    r = subprocess.run([engram, "-d", store] + list(args), input=stdin, capture_output=True,
                       text=True)
    if r.returncode:
        sys.exit("engram %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def rows(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def check(cond, msg):
    if not cond:
        sys.exit("web view: " + msg)


# clicks with late events, so that windows get revisions
gen = subprocess.run([engram, "gen", "clickstream", "--events", "4000", "--seed", "5", "--late",
                      "0.1"], capture_output=True, text=True, check=True).stdout
run("append", stdin=gen)
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
url = "http://127.0.0.1:%d" % port
server = subprocess.Popen([engram, "-d", store, "serve", "--listen", "127.0.0.1:%d" % port],
                          stderr=subprocess.DEVNULL)
browser = None
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    browser = Browser()
    browser.open(url + "/")
    browser.wait("!!document.body && document.body.dataset.ready === '1'", what="the page to load")
    problem = browser.eval("document.querySelector('#status').textContent")
    check(not problem, "the page reports: %r" % problem)

    head = rows(run("head"))[0]
    check(browser.eval("document.querySelector('#head-pos').textContent") == str(head["pos"]),
          "head position")
    streams = rows(run("streams"))
    types = rows(run("types"))
    check(browser.eval("document.querySelectorAll('#streams tbody tr').length") == len(streams),
          "streams rows")
    shown = browser.eval("[...document.querySelectorAll('#types tbody tr')]"
                         ".map(tr => [tr.cells[0].textContent, +tr.cells[1].textContent])")
    check(sorted(map(tuple, shown)) == sorted((t["type"], t["events"]) for t in types),
          "types and counts: %r" % shown[:3])
    first = rows(run("read", "--reverse", "--limit", "50"))
    got = browser.eval("[...document.querySelectorAll('#events tbody tr')].map(tr => +tr.cells[0].textContent)")
    check(got == [e["pos"] for e in first], "the event browser's rows")

    # the chart: a point per window, every revision counted
    spec = json.loads(browser.eval("document.querySelector('#window-form textarea').value"))
    with open(os.path.join(work, "w.json"), "w") as f:
        json.dump(spec, f)
    log = rows(run("windows", os.path.join(work, "w.json"), "--changelog"))
    starts = {r["window_start"] for r in log if not r.get("retracted")}
    check(browser.eval("document.querySelector('#chart').dataset.points") == str(len(starts)),
          "chart points: %s, windows %d" % (browser.eval("document.querySelector('#chart').dataset.points"), len(starts)))
    revisions = sum(1 for r in log if not r.get("retracted"))
    check(browser.eval("document.querySelector('#chart').dataset.revisions") == str(revisions),
          "chart revisions: %s, changelog %d" % (browser.eval("document.querySelector('#chart').dataset.revisions"), revisions))
    check(revisions > len(starts), "no window was revised: the test data needs late events")
    check(browser.eval("document.querySelector('#chart canvas') !== null"), "no chart drawn")

    # the live tail: an event appended now appears
    body = json.dumps({"id": "web-live-1", "stream": "live", "type": "page_view",
                       "data": {"page_url": "/live"}}).encode()
    req = urllib.request.Request(url + "/events", data=body,
                                 headers={"Content-Type": "application/x-ndjson"})
    pos = json.loads(urllib.request.urlopen(req, timeout=10).read())["first_pos"]
    browser.wait("document.querySelector('#live li[data-pos=\"%d\"]') !== null" % pos,
                 what="the appended event in the live tail")
    text = browser.eval("document.querySelector('#live li[data-pos=\"%d\"]').textContent" % pos)
    check("live" in text and "page_view" in text, "the live row: %r" % text)
    browser.screenshot(shot)
    print("web view: head %d, %d streams, %d types, %d windows and %d revisions on the chart, "
          "live tail saw %d; screenshot %s" % (head["pos"], len(streams), len(types), len(starts),
                                               revisions, pos, shot))
finally:
    if browser:
        browser.close()
    server.terminate()
    server.wait(10)
    subprocess.run(["rm", "-rf", work])
