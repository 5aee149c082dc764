#!/usr/bin/env python3
"""integration.forward - outgoing connections through the real eddyd, with
the example plugin forward.so (handlers/examples/forward.c): each client
line goes to a backend, each backend line comes back.

- served: a Python line backend answers "re: " + line; 8 clients at once
  pipeline 50 lines each and get every answer in order; the Prometheus
  stats count the backend connections under listener="outgoing"; when the
  clients are gone, eddyd holds no more fds than before (each backend
  connection closed with its client) and the backend saw every connection
  end.
- a real eddyd as the backend (a pure echo): the line comes back whole.
- refused: no backend listens: "ERR backend: connection refused", then EOF.
- timeout: the backend's accept queue is full (backlog 0, one connection
  never accepted: Linux drops the next SYNs): with connect_timeout 200ms,
  "ERR backend: connection timed out", then EOF.
- the backend closes mid-conversation: the client gets the answers sent
  before, then EOF; the backend resets: EOF too, and eddyd serves on.
- a bad `backend` is refused at -t with FILE:LINE.
Each test ends with eddyd exiting 0 on SIGTERM (the sanitizer builds check
for leaks and memory errors).  No timing is asserted.
"""

import os
import re
import socket
import struct
import threading
import time

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT, log


class LineBackend(eddytest.ThreadedServer):
    """A threaded TCP server: each line gets "re: " + line; counts
    connections opened and ended.  mode "close_after_first": answers the
    first line, then closes; "reset": resets on the first line."""

    def __init__(self, mode="answer"):
        self.mode = mode
        super().__init__()

    def conn(self, c):
        c.settimeout(IO_TIMEOUT)
        buf = b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                buf += b
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if self.mode == "reset":
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
                        raise ConnectionError("reset on purpose")
                    c.sendall(b"re: " + line + b"\n")
                    if self.mode == "close_after_first":
                        raise ConnectionError("closing on purpose")
        except OSError:
            pass
        finally:
            c.close()
            with self.lock:
                self.ended += 1


def read_until_eof(s):
    return eddytest.read_until_eof(s)[0]


def read_lines(s, n):
    s.settimeout(IO_TIMEOUT)
    out = b""
    while out.count(b"\n") < n:
        b = s.recv(65536)
        if not b:
            break
        out += b
    return out


class Forward(opstest.OpsTestCase):

    def start(self, backend, extra="", stats=False):
        body = ("listen tcp %s:0 {\n    handler forward\n    backend %s\n%s}\n"
                % (HOST, backend, extra))
        if stats:
            body += "listen tcp %s:0 {\n    handler stats\n}\n" % HOST
        d = self.run_conf(self.config(body), listeners=2 if stats else 1)
        return d

    def backend(self, mode="answer"):
        b = LineBackend(mode)
        self.addCleanup(b.close)
        return b

    def test_lines_are_forwarded_and_answered_in_order(self):
        b = self.backend()
        d = self.start("%s:%d" % (HOST, b.port), stats=True)
        ports = {h: opstest.split_addr(a)[1] for a, h in d.listening}
        fds = d.fd_count()
        results = {}

        def client(i):
            s = eddytest.connect(ports["forward"])
            lines = [b"client %d line %d" % (i, k) for k in range(50)]
            s.sendall(b"".join(l + b"\n" for l in lines))
            got = read_lines(s, 50)
            s.close()
            results[i] = got == b"".join(b"re: " + l + b"\n" for l in lines)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(IO_TIMEOUT * 2)
        self.assertEqual(results, {i: True for i in range(8)})
        s = eddytest.connect(ports["stats"])
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        text = read_until_eof(s).decode()
        s.close()
        opened = sum(int(v) for v in re.findall(
            r'eddy_connections_accepted_total\{listener="outgoing",worker="\d+"\} (\d+)', text))
        self.assertEqual(opened, 8, text)
        deadline = time.monotonic() + IO_TIMEOUT
        while b.ended < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual((b.opened, b.ended), (8, 8))
        self.wait_fds(d, fds)
        self.stop(d)

    def test_eddyd_as_the_backend(self):
        echo = self.start_eddyd(workers=1, prefix="")
        d = self.start("%s:%d" % (HOST, echo.port))
        s = eddytest.connect(d.port())
        s.sendall(b"hello\nworld\n")
        self.assertEqual(read_lines(s, 2), b"hello\nworld\n")
        s.close()
        self.stop(d)
        self.stop_eddyd(echo)

    def test_refused(self):
        port = opstest.free_port()
        d = self.start("%s:%d" % (HOST, port))
        s = eddytest.connect(d.port())
        s.sendall(b"anyone?\n")
        self.assertEqual(read_until_eof(s), b"ERR backend: connection refused\n")
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_connect_timeout(self):
        full = socket.socket()
        full.bind((HOST, 0))
        full.listen(0)
        self.addCleanup(full.close)
        filler = socket.create_connection(full.getsockname())  # the one queue place
        self.addCleanup(filler.close)
        d = self.start("%s:%d" % full.getsockname(), extra="    connect_timeout 200ms\n")
        s = eddytest.connect(d.port())
        s.sendall(b"anyone?\n")
        self.assertEqual(read_until_eof(s), b"ERR backend: connection timed out\n")
        s.close()
        self.stop(d)

    def test_backend_closes(self):
        b = self.backend("close_after_first")
        d = self.start("%s:%d" % (HOST, b.port))
        s = eddytest.connect(d.port())
        s.sendall(b"one\n")
        self.assertEqual(read_until_eof(s), b"re: one\n")
        s.close()
        self.stop(d)

    def test_backend_resets(self):
        b = self.backend("reset")
        d = self.start("%s:%d" % (HOST, b.port))
        fds = d.fd_count()
        for _ in range(20):
            s = eddytest.connect(d.port())
            try:  # eddyd may close this client before it has taken it all
                s.sendall(b"x" * 4000 + b"\n" + b"more\n" * 20000)
            except OSError:
                pass
            self.assertEqual(read_until_eof(s), b"")
            s.close()
        self.wait_fds(d, fds)
        self.assert_up(d)
        self.stop(d)

    def test_bad_backend_refused_at_check(self):
        conf = self.config("listen tcp %s:0 {\n    handler forward\n    backend nowhere.invalid:80\n}\n"
                           % HOST)
        rc, out, err = eddytest.run_eddyd(["-t", "-c", conf])
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"eddyd\.conf:\d+: handler 'forward': backend: 'nowhere\.invalid:80' is not an address")
        conf = self.config("listen tcp %s:0 {\n    handler forward\n}\n" % HOST, name="b.conf")
        rc, out, err = eddytest.run_eddyd(["-t", "-c", conf])
        self.assertNotEqual(rc, 0)
        self.assertIn("backend", err)


if __name__ == "__main__":
    opstest.main()
