#!/usr/bin/env python3
"""integration.handler_api - handler ABI 3 against the real eddyd.

- async (handlers/examples/async.c): each line is answered from the
  plugin's own thread through eddy_conn_ref/eddy_ref_post; answers keep
  their order over several clients at once; clients that leave before
  their answers (posts to closed connections) leave eddyd up, with no fd
  more than before, and a SIGTERM while answers are still on the plugin's
  thread exits 0 (eddyd waits for the references; sanitizer builds check
  for use-after-free and leaks).
"""

import os
import threading
import time

import eddytest
import opstest
from eddytest import HOST


def fd_count(d):
    return len(os.listdir("/proc/%d/fd" % d.pid))


def wait_fds(d, most, timeout=eddytest.IO_TIMEOUT):
    """Wait until eddyd holds at most `most` fds; return how many it holds."""
    deadline = time.monotonic() + timeout
    while fd_count(d) > most and time.monotonic() < deadline:
        time.sleep(0.05)
    return fd_count(d)


def read_lines(s, n, timeout=eddytest.IO_TIMEOUT):
    """n lines from s (or fewer at EOF)."""
    s.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n")[:n]


class Async(opstest.OpsTestCase):

    def start(self, delay="0ms", workers=2):
        conf = self.config("listen tcp %s:0 {\n    handler async\n    delay %s\n}\n"
                           % (HOST, delay), workers=workers)
        return self.run_conf(conf)

    def test_answers_come_from_the_thread_in_order(self):
        d = self.start()
        errors = []

        def client(i):
            try:
                s = eddytest.connect(d.port())
                lines = [b"client %d line %d" % (i, k) for k in range(200)]
                s.sendall(b"".join(l + b"\n" for l in lines))
                got = read_lines(s, len(lines))
                want = [b"async: " + l for l in lines]
                if got != want:
                    errors.append("client %d: got %r..." % (i, got[:3]))
                s.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("client %d: %r" % (i, e))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assert_up(d)
        self.stop(d)

    def test_clients_that_leave_before_their_answer(self):
        d = self.start(delay="20ms")
        s = eddytest.connect(d.port())
        s.sendall(b"warm\n")
        self.assertEqual(read_lines(s, 1), [b"async: warm"])
        base = fd_count(d)
        s.close()
        for i in range(50):
            c = eddytest.connect(d.port())
            c.sendall(b"a\nb\nc\n")
            if i % 2:
                eddytest.set_linger_reset(c)
            c.close()
        self.assertLessEqual(wait_fds(d, base - 1), base - 1)
        s = eddytest.connect(d.port())
        s.sendall(b"after\n")
        self.assertEqual(read_lines(s, 1), [b"async: after"])
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_stop_while_answers_are_on_the_thread(self):
        d = self.start(delay="100ms")
        socks = []
        for i in range(4):
            c = eddytest.connect(d.port())
            c.sendall(b"x\ny\n")
            socks.append(c)
        time.sleep(0.05)
        self.stop(d)
        for c in socks:
            c.close()


if __name__ == "__main__":
    opstest.main()
