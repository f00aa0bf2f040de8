"""cdp.py: drive headless Chromium through the DevTools protocol over
--remote-debugging-pipe (no websocket library needed): open a page, run
JavaScript in it, take a screenshot.  For tests/web/browser.py."""
import base64
import json
import os
import subprocess
import tempfile
import time


class Browser:
    def __init__(self, chromium="chromium"):
        self.profile = tempfile.mkdtemp(prefix="engram-chromium-")
        # the pipe: chromium reads commands on fd 3 and writes answers on fd 4
        # (made so before exec; kept through the close of other fds)
        to_r, self._to = os.pipe()
        self._from, from_w = os.pipe()
        os.set_inheritable(to_r, True)
        os.set_inheritable(from_w, True)
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
             "--window-size=1200,1400", "about:blank"],
            pass_fds=(to_r, from_w, 3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: (os.dup2(to_r, 3), os.dup2(from_w, 4)))
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.session = None

    def _send(self, method, params=None, session=True):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to, json.dumps(msg).encode() + b"\0")
        return self._id

    def call(self, method, params=None, session=True, timeout=20):
        want = self._send(method, params, session)
        end = time.time() + timeout
        while time.time() < end:
            while b"\0" not in self._buf:
                chunk = os.read(self._from, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self._buf += chunk
            line, self._buf = self._buf.split(b"\0", 1)
            msg = json.loads(line)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
        raise TimeoutError(method)

    def open(self, url):
        target = self.call("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, seconds=20.0, what=None):
        end = time.time() + seconds
        while time.time() < end:
            v = self.eval(expr)
            if v:
                return v
            time.sleep(0.1)
        raise TimeoutError("waited %gs for %s" % (seconds, what or expr))

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png",
                                                    "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["rm", "-rf", self.profile])
