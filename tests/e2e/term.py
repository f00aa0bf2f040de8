"""term.py: run a command on a pseudo-terminal, as a person at a terminal
would, for the e2e tests (imported by their `py` checks).

    t = Term(["engram", "-d", store, "read", "--follow"], cols=120)
    t.wait_for(lambda text: "pos" in text)   # what was shown so far
    t.interrupt()                            # Ctrl-C; returns the exit status
"""
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time


class Term:
    def __init__(self, argv, cols=200, rows=50, env=None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.out = b""

    def drain(self, timeout=0.0):
        """Read what the program has written so far; returns it all."""
        while True:
            r, _, _ = select.select([self.master], [], [], timeout)
            if not r:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the program ended and closed the terminal
                break
            if not chunk:
                break
            self.out += chunk
            timeout = 0.0
        return self.text()

    def text(self):
        return self.out.decode("utf-8", "replace").replace("\r\n", "\n")

    def wait_for(self, cond, seconds=20.0, what="output"):
        end = time.time() + seconds
        while time.time() < end:
            if cond(self.drain(0.05)):
                return self.text()
        raise AssertionError("timed out waiting for %s; the terminal shows:\n%s"
                             % (what, self.text()[-2000:]))

    def interrupt(self):
        """Ctrl-C (SIGINT to the process group); the exit status."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.drain(0.1)
        os.close(self.master)
        return rc
