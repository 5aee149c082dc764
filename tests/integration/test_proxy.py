#!/usr/bin/env python3
"""integration.proxy - the proxy handler (handlers/proxy) through the real
eddyd, with real upstreams: eddyd echo, redis-server, and small Python
servers that record what they were sent.

- echo through the proxy: 16 clients at once, each half-closes after its
  bytes and reads the echo to EOF (the FIN passes on, the answer still
  comes back); eddyd's fd count back to its start.
- upstream down at start: retries reach the live one, every client served,
  the dead one logged down once; counters in the log at exit.
- all upstreams down: the client is closed with no byte; one log line for
  a burst of clients (rate-limited to one a second).
- fail_timeout: an upstream that was down is tried again once it passed,
  and then serves.
- the upstream killed mid-stream: the client sees its connection end,
  eddyd serves on and holds no more fds than before.
- a client that never reads while the upstream streams: the upstream stalls
  (backpressure) and eddyd's RSS stays within a few MB.
- both sides above high water at once: a client sends into eddyd echo
  (through the proxy) without reading until its sends block, so the
  proxy's output to the client, the echo's output and the proxy's output
  to the upstream all back up; then it reads: every byte comes back, in
  order.  The mirror: an upstream that sends without reading, a client
  that echoes (and stops reading while its own send blocks).
- a side's own output backed up while it must be read: eddyd echo stopped
  (SIGSTOP) while a client fills the proxy's 16 MiB queue to it, then let
  go: it echoes until its own output backs up and stops reading, and only
  the proxy reading on (EDDY_HANDLER_RELAY) lets every byte through; the
  same at the default marks with an echo that holds no output.  Both
  stalled with 0 bytes back before the proxy was a relay.
- a client that resets: the upstream's connection is reset too; an
  upstream that resets: the client's is reset.
- idle_timeout is the pair's: bytes from the upstream keep a silent client
  open; a pair with no byte either way is closed, upstream too.
- 5,000 pairs at once, then closed: fds back to the start.
- balance: round_robin spreads 30 connections 10/10/10 over upstreams given
  on two lines, kept in their order; least_conn puts the
  next one on the upstream with fewest; ip_hash sends every connection of
  one client address to one upstream.
- proxy_protocol_send v1/v2: the upstream reads a header naming the
  client's address (127.0.0.3) and port; an eddyd echo with
  `proxy_protocol on` behind it answers the payload alone.
- redis-server behind the proxy, through redis-cli.
- `upstream` is a list: several values a line, several lines, up to 64;
  each bad value (a name, a comma list, 65 of them, a line with none) is
  refused by eddyd -t at its own line.
Each test ends with eddyd exiting 0 on SIGTERM.  No timing is asserted.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT


class Upstream(eddytest.ThreadedServer):
    """A threaded TCP server.  mode "echo": echoes; "hold": reads and keeps
    the connection; "stream": sends forever; "tick": a byte every 100 ms;
    "flood": sends payload(2) without reading until its sends block, then
    reads as many bytes back and closes (`flooded`: bytes sent, `back`:
    whether they all came back unchanged).  Records each connection's
    first bytes (up to `keep`) and counts connections opened and ended."""

    def __init__(self, mode="echo", keep=256, sock=None):
        self.mode = mode
        self.keep = keep
        self.first = []
        self.sent = 0
        self.resets = 0
        self.reset_all = False  # the next bytes get a reset
        self.flooded = None
        self.back = None
        self.gate = threading.Event()  # "echo" reads nothing until it is set
        self.gate.set()
        self.sndbuf = None  # SO_SNDBUF of each connection (the kernel's default: None)
        super().__init__(backlog=512, sock=sock)

    def conn(self, c):
        got = b""
        try:
            if self.mode == "tick":  # a byte every 100 ms
                while not self.stop:
                    c.sendall(b"t")
                    time.sleep(0.1)
                return
            if self.mode == "flood":
                n = eddytest.fill_until_stalled(c, 2, limit=FLOOD_LIMIT)
                with self.lock:
                    self.flooded = n
                got = recv_all(c, n)
                with self.lock:
                    self.back = got == eddytest.payload(n, 2)
                got = b""
                return
            if self.mode == "stream":
                chunk = b"s" * 65536
                c.settimeout(0.5)
                while not self.stop:
                    try:
                        n = c.send(chunk)
                    except socket.timeout:
                        continue
                    with self.lock:
                        self.sent += n
                return
            c.settimeout(IO_TIMEOUT * 4)
            if self.sndbuf:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            self.gate.wait(IO_TIMEOUT * 4)
            while True:
                b = c.recv(65536)
                if not b:
                    break
                if len(got) < self.keep:
                    got += b[:self.keep - len(got)]
                if self.reset_all:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
                if self.mode == "echo":
                    c.sendall(b)
        except ConnectionResetError:
            with self.lock:
                self.resets += 1
        except OSError:
            pass
        finally:
            with self.lock:
                self.first.append(got)
                self.ended += 1
            c.close()


FLOOD_LIMIT = 256 << 20  # sends stop well before: kernel buffers and 2 x high_water fill first


def recv_all(s, n, timeout=IO_TIMEOUT):
    """Exactly n bytes (fewer at EOF), into one buffer: the floods are tens
    of MiB.  Bounded by timeout as a whole."""
    got = bytearray(n)
    view, k = memoryview(got), 0
    deadline = time.monotonic() + timeout
    while k < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            r = s.recv_into(view[k:], min(n - k, 1 << 20))
        except socket.timeout:
            break
        if not r:
            break
        k += r
    return bytes(got[:k])


def read_to_eof(s):
    return eddytest.read_until_eof(s)[0]


def wait_for(cond, timeout=IO_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class ProxyTest(opstest.OpsTestCase):

    def upstream(self, mode="echo", **kw):
        u = Upstream(mode, **kw)
        self.addCleanup(u.close)
        return u

    def proxy(self, upstreams, extra="", workers=1, copy=False):
        """eddyd proxying to `upstreams`, all on one `upstream` line; copy:
        bytes always through data() (max_connections 2 leaves no room for a
        splice pipe)."""
        body = ("%slog_level info\nlisten tcp %s:0 {\n    handler proxy\n    upstream %s\n%s}\n"
                % ("max_connections 2\n" if copy else "", HOST, " ".join(upstreams), extra))
        return self.run_conf(self.config(body, workers=workers))

    def echo_upstream(self, extra=()):
        return self.start_eddyd(workers=1, prefix="", extra=extra)

    @staticmethod
    def pipes(d):
        """Pipes eddyd holds now: its stdout and stderr, and a spliced
        stream's (eddy_conn_splice)."""
        n = 0
        for f in os.listdir("/proc/%d/fd" % d.pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (d.pid, f)).startswith("pipe:")
            except OSError:
                pass
        return n

    def stream(self, d, s, n, stream, shut=False):
        """Send n bytes of payload(stream) on s while a thread reads them
        back; then a FIN when shut.  Returns (what came back, the most pipes
        eddyd held while sending)."""
        back = {}

        def reader():
            back["got"] = recv_all(s, n)
        t = threading.Thread(target=reader)
        t.start()
        sent, pipes = 0, 0
        while sent < n:
            k = min(1 << 20, n - sent)
            s.sendall(eddytest.payload(k, stream, sent))
            sent += k
            pipes = max(pipes, self.pipes(d))
        if shut:
            s.shutdown(socket.SHUT_WR)
        t.join(IO_TIMEOUT * 2)
        return back.get("got", b""), pipes

    @staticmethod
    def rss(d):
        with open("/proc/%d/status" % d.pid) as f:
            return int(f.read().split("VmRSS:")[1].split()[0])

    def roundtrip(self, port, data, src=None):
        s = opstest.connect_from(port, src)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # closed already (no upstream)
            pass
        got = read_to_eof(s)
        s.close()
        return got

    def test_echo_and_half_close(self):
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)])
        fds = d.fd_count()
        results = {}

        def client(i):
            data = os.urandom(1000 * (i + 1))
            results[i] = self.roundtrip(d.port(), data) == data

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(IO_TIMEOUT * 2)
        self.assertEqual(results, {i: True for i in range(16)})
        self.wait_fds(d, fds)
        self.stop(d)
        self.stop_eddyd(echo)

    def test_upstream_down_at_start(self):
        echo = self.echo_upstream()
        dead, _ = opstest.refusing_port(self)
        d = self.proxy(["%s:%d" % (HOST, dead), "%s:%d" % (HOST, echo.port)],
                       "    retries 1\n    fail_timeout 1h\n")
        for i in range(6):
            self.assertEqual(self.roundtrip(d.port(), b"ping %d" % i), b"ping %d" % i)
        self.stop(d)
        log = d.stderr()
        self.assertEqual(len(re.findall(r"upstream %s:%d down \(connection refused\)" % (HOST, dead),
                                        log)), 1, log)
        self.assertRegex(log, r"upstream %s:%d \(down\) at exit: connections 0 failures 1 "
                         % (HOST, dead))
        self.assertRegex(log, r"upstream %s:%d \(up\) at exit: connections 6 failures 0 "
                         r"bytes_in 36 bytes_out 36 active 0" % (HOST, echo.port))
        self.stop_eddyd(echo)

    def test_all_down(self):
        (a, _), (b, _) = opstest.refusing_port(self), opstest.refusing_port(self)
        d = self.proxy(["%s:%d" % (HOST, a), "%s:%d" % (HOST, b)],
                       "    retries 1\n    fail_timeout 0\n")
        fds = d.fd_count()
        t0 = time.monotonic()
        for _ in range(20):
            s = eddytest.connect(d.port())
            s.sendall(b"anyone?")
            self.assertEqual(read_to_eof(s), b"")
            s.close()
        seconds = time.monotonic() - t0
        self.assert_up(d)
        self.wait_fds(d, fds)
        self.stop(d)
        lines = re.findall(r"no upstream reachable", d.stderr())
        self.assertGreaterEqual(len(lines), 1)
        self.assertLessEqual(len(lines), int(seconds) + 2, d.stderr())

    def test_fail_timeout_recovery(self):
        port, reserved = opstest.refusing_port(self)
        d = self.proxy(["%s:%d" % (HOST, port)], "    fail_timeout 1s\n")
        t0 = time.monotonic()
        self.assertEqual(self.roundtrip(d.port(), b"x"), b"")  # refused: marked down
        u = self.upstream(sock=reserved)
        self.assertEqual(self.roundtrip(d.port(), b"y"), b"")
        if time.monotonic() - t0 < 0.9:  # still down: not tried (a slow machine may pass 1s)
            self.assertEqual(u.opened, 0)
        self.assertTrue(wait_for(lambda: self.roundtrip(d.port(), b"back") == b"back"))
        self.assertIsNotNone(d.wait_for_log(r"upstream %s:%d up" % (HOST, port), timeout=5))
        self.stop(d)

    def test_upstream_killed_mid_stream(self):
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)])
        fds = d.fd_count()
        s = eddytest.connect(d.port())
        s.sendall(b"a" * 100000)
        self.assertEqual(len(opstest.recv_exact(s, 100000)), 100000)
        echo.kill()
        s.settimeout(IO_TIMEOUT)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        s.close()
        self.assert_up(d)
        self.wait_fds(d, fds)
        self.stop(d)

    def test_client_never_reads(self):
        u = self.upstream("stream")
        d = self.proxy(["%s:%d" % (HOST, u.port)])
        rss0 = self.rss(d)
        s = eddytest.connect(d.port(), rcvbuf=65536)
        s.sendall(b"go")
        # The upstream stalls: what it sent stops growing.
        last = -1
        while True:
            time.sleep(0.5)
            with u.lock:
                now = u.sent
            if now == last:
                break
            last = now
        rss = self.rss(d)
        self.assertGreater(last, 0)
        # queued in eddyd: at most about 2 x high_water (1m) + reads; RSS well under 16 MB more
        self.assertLess(last, 64 << 20, "the upstream never stalled")
        self.assertLess(rss - rss0, 16 << 10, "RSS grew %d KiB" % (rss - rss0))
        # paused, not closed: reading lets the upstream send again
        self.assertEqual(len(opstest.recv_exact(s, 4 << 20)), 4 << 20)
        self.assertTrue(wait_for(lambda: u.sent > last), "the upstream never resumed")
        s.close()
        self.stop(d)

    def check_both_sides_above_high_water(self, copy):
        # The client sends without reading: the proxy's output to it passes
        # high_water (the upstream is paused), the echo's output backs up
        # (it stops reading), the proxy's output to the upstream passes
        # high_water (the client is paused).  Then the client reads.
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)], copy=copy)
        fds, rss0 = d.fd_count(), self.rss(d)
        s = eddytest.connect(d.port())
        sent = eddytest.fill_until_stalled(s, 1, limit=FLOOD_LIMIT)
        self.assertLess(sent, FLOOD_LIMIT, "sends never blocked")
        self.assertGreater(sent, 4 << 20)  # more than both high_water marks
        rss = self.rss(d)
        self.assertLess(rss - rss0, 16 << 10, "RSS grew %d KiB" % (rss - rss0))
        got = recv_all(s, sent)
        self.assertEqual(len(got), sent, "stalled: %d of %d bytes came back" % (len(got), sent))
        self.assertTrue(got == eddytest.payload(sent, 1), "the bytes came back changed")
        # and the pair still works both ways, then ends with a FIN
        self.assertEqual(opstest.echo_request(s, b"after"), b"after")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(eddytest.read_until_eof(s), (b"", "eof"))
        s.close()
        self.wait_fds(d, fds)
        self.stop(d)
        self.stop_eddyd(echo)

    def check_both_sides_above_high_water_mirrored(self, copy):
        # The client connection's own output backs up while it must be
        # read: the upstream floods without reading until its sends block,
        # then reads; the client echoes once the flood stalled, and stops
        # reading while its own send blocks (a 32 KiB send buffer).
        u = self.upstream("flood")
        d = self.proxy(["%s:%d" % (HOST, u.port)], copy=copy)
        fds = d.fd_count()
        s = eddytest.connect(d.port(), sndbuf=32 << 10)
        self.assertTrue(wait_for(lambda: u.flooded is not None, timeout=IO_TIMEOUT * 2))
        echoed = 0
        while True:
            try:
                b = s.recv(65536)
                if not b:
                    break
                s.sendall(b)
            except socket.timeout:
                self.fail("stalled: %d bytes echoed, %s flooded" % (echoed, u.flooded))
            echoed += len(b)
        s.close()
        self.assertTrue(wait_for(lambda: u.ended == 1))
        self.assertIsNotNone(u.flooded)
        self.assertLess(u.flooded, FLOOD_LIMIT, "sends never blocked")
        self.assertEqual(echoed, u.flooded)
        self.assertTrue(u.back, "the bytes did not all come back unchanged")
        self.wait_fds(d, fds)
        self.stop(d)

    def check_own_output_backed_up_while_read(self, copy):
        # The upstream connection's own output (to eddyd echo) is far above
        # high_water while its input must be read: the echo, stopped while
        # the client floods, then echoes what it reads and stops reading
        # once its own output backs up (1 MiB), long before the proxy's
        # 16 MiB to it is taken.  Only reading the upstream (which feeds
        # the client, not the upstream) lets it go on.
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)],
                       "    high_water 16m\n    max_output 32m\n", copy=copy)
        s, pipes0 = eddytest.connect(d.port()), self.pipes(d)
        self.assertEqual(opstest.echo_request(s, b"up"), b"up")  # connected
        os.kill(echo.pid, signal.SIGSTOP)
        self.addCleanup(lambda: echo.alive() and os.kill(echo.pid, signal.SIGCONT))
        sent = eddytest.fill_until_stalled(s, 3, limit=FLOOD_LIMIT)
        self.assertLess(sent, FLOOD_LIMIT, "sends never blocked")
        if copy:  # the proxy's queue to the upstream is full (spliced, the pipe is the queue)
            self.assertGreater(sent, 16 << 20)
            self.assertEqual(self.pipes(d), pipes0)  # copied: no pipe
        os.kill(echo.pid, signal.SIGCONT)
        got = recv_all(s, sent)
        self.assertEqual(len(got), sent, "stalled: %d of %d bytes came back" % (len(got), sent))
        self.assertTrue(got == eddytest.payload(sent, 3), "the bytes came back changed")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(eddytest.read_until_eof(s), (b"", "eof"))
        s.close()
        self.stop(d)
        self.stop_eddyd(echo)

    def check_own_output_backed_up_default_marks(self, copy):
        # The same with the default marks, in front of an echo that holds
        # no output of its own (a blocking send, a 32 KiB send buffer): it
        # stops reading as soon as its send blocks.  The proxy's queue to
        # it (over 1 MiB) then never drains unless the proxy reads on.
        u = self.upstream("echo")
        u.sndbuf = 32 << 10
        u.gate.clear()
        d = self.proxy(["%s:%d" % (HOST, u.port)], copy=copy)
        s = eddytest.connect(d.port())
        sent = eddytest.fill_until_stalled(s, 4, limit=FLOOD_LIMIT)
        self.assertLess(sent, FLOOD_LIMIT, "sends never blocked")
        self.assertGreater(sent, 1 << 20)
        u.gate.set()
        got = recv_all(s, sent)
        self.assertEqual(len(got), sent, "stalled: %d of %d bytes came back" % (len(got), sent))
        self.assertTrue(got == eddytest.payload(sent, 4), "the bytes came back changed")
        s.close()
        self.stop(d)

    def both_ways(self, check):
        """check(copy) copied through data() (where the deadlocks were),
        then spliced (the pipe is the queue: nothing to deadlock on)."""
        for copy in (True, False):
            with self.subTest(copy=copy):
                check(copy)

    def test_both_sides_above_high_water(self):
        self.both_ways(self.check_both_sides_above_high_water)

    def test_both_sides_above_high_water_mirrored(self):
        self.both_ways(self.check_both_sides_above_high_water_mirrored)

    def test_own_output_backed_up_while_read(self):
        self.both_ways(self.check_own_output_backed_up_while_read)

    def test_own_output_backed_up_default_marks(self):
        self.both_ways(self.check_own_output_backed_up_default_marks)

    def test_stream_is_spliced(self):
        # 32 MiB each way: spliced (eddyd holds pipes meanwhile), every
        # byte back in order; then the FIN both ways, the pipes gone, and
        # the counters at exit count every byte, spliced or not.
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)])
        fds = d.fd_count()
        s = eddytest.connect(d.port())
        n = 32 << 20
        pipes0 = self.pipes(d)
        got, pipes = self.stream(d, s, n, 5)
        self.assertEqual(len(got), n)
        self.assertTrue(got == eddytest.payload(n, 5), "the bytes came back changed")
        self.assertGreater(pipes, pipes0, "never spliced")
        self.assertEqual(opstest.echo_request(s, b"small again"), b"small again")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(eddytest.read_until_eof(s), (b"", "eof"))
        s.close()
        self.wait_fds(d, fds)
        self.assertEqual(self.pipes(d), pipes0)
        self.stop(d)
        self.assertRegex(d.stderr(), r"upstream %s:%d \(up\) at exit: connections 1 failures 0 "
                         r"bytes_in %d bytes_out %d active 0" % (HOST, echo.port, n + 11, n + 11))
        self.stop_eddyd(echo)

    def test_half_close_through_splice(self):
        # The FIN right behind 16 MiB still in flight: it reaches the
        # upstream after them, whose answer and FIN come back whole.
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)])
        fds = d.fd_count()
        for i in range(3):
            s = eddytest.connect(d.port())
            n = 16 << 20
            got, pipes = self.stream(d, s, n, 7 + i, shut=True)
            self.assertEqual(len(got), n)
            self.assertTrue(got == eddytest.payload(n, 7 + i), "the bytes came back changed")
            self.assertEqual(eddytest.read_until_eof(s), (b"", "eof"))
            s.close()
        self.wait_fds(d, fds)
        self.stop(d)
        self.stop_eddyd(echo)

    def test_resets_through_splice(self):
        # A client that resets mid-stream: the upstream is reset too; an
        # upstream that resets mid-stream: so is the client.  No descriptor
        # (pipes included) stays behind.
        u = self.upstream("echo")
        d = self.proxy(["%s:%d" % (HOST, u.port)])
        fds, pipes0 = d.fd_count(), self.pipes(d)
        s = eddytest.connect(d.port())
        got, pipes = self.stream(d, s, 8 << 20, 9)
        self.assertEqual(len(got), 8 << 20)
        self.assertGreater(pipes, pipes0, "never spliced")
        eddytest.set_linger_reset(s)
        s.close()
        self.assertTrue(wait_for(lambda: u.resets == 1), (u.opened, u.ended, u.resets))
        self.wait_fds(d, fds)
        s = eddytest.connect(d.port())
        got, pipes = self.stream(d, s, 8 << 20, 10)
        self.assertEqual(len(got), 8 << 20)
        u.reset_all = True
        s.settimeout(IO_TIMEOUT)
        with self.assertRaises(ConnectionResetError):
            for i in range(1024):  # the upstream resets at its next read
                s.sendall(eddytest.payload(1 << 16, 10, i << 16))
                s.recv(1 << 20)
        s.close()
        self.wait_fds(d, fds)
        self.assertEqual(self.pipes(d), pipes0)
        self.stop(d)

    def test_idle_timeout_is_the_pairs(self):
        u = self.upstream("tick")
        d = self.proxy(["%s:%d" % (HOST, u.port)], "    idle_timeout 1s\n")
        s = eddytest.connect(d.port())  # never sends: the upstream's bytes keep it open
        s.settimeout(IO_TIMEOUT)
        got, t0 = b"", time.monotonic()
        while time.monotonic() - t0 < 3:
            b = s.recv(100)
            self.assertNotEqual(b, b"", "closed while bytes flowed")
            got += b
        s.close()
        h = self.upstream("hold")
        d2 = self.proxy(["%s:%d" % (HOST, h.port)], "    idle_timeout 300ms\n")
        s = eddytest.connect(d2.port())
        self.assertEqual(read_to_eof(s), b"")  # nothing either way: closed
        s.close()
        self.assertTrue(wait_for(lambda: h.ended == 1))
        self.stop(d2)
        self.stop(d)

    def test_client_reset(self):
        u = self.upstream("hold")
        d = self.proxy(["%s:%d" % (HOST, u.port)])
        fds = d.fd_count()
        for _ in range(10):
            s = eddytest.connect(d.port())
            s.sendall(b"hello")
            self.assertTrue(wait_for(lambda: any(f == b"hello" for f in u.first) or
                                     u.opened > u.ended))
            eddytest.set_linger_reset(s)
            s.close()
        self.assertTrue(wait_for(lambda: u.ended == 10), (u.opened, u.ended))
        self.assertEqual(u.resets, 10)  # passed on as resets, not FINs
        self.wait_fds(d, fds)
        self.stop(d)

    def test_upstream_reset(self):
        u = self.upstream("echo")
        d = self.proxy(["%s:%d" % (HOST, u.port)])
        s = eddytest.connect(d.port())
        s.sendall(b"hi")
        self.assertEqual(opstest.recv_exact(s, 2), b"hi")
        # the upstream's side resets: the Python server's socket, closed with linger 0
        self.assertTrue(wait_for(lambda: u.opened == 1))
        u.reset_all = True
        s.sendall(b"bye")
        s.settimeout(IO_TIMEOUT)
        with self.assertRaises(ConnectionResetError):
            while s.recv(65536):
                pass
        s.close()
        self.stop(d)

    def test_many_pairs(self):
        echo = self.echo_upstream()
        d = self.proxy(["%s:%d" % (HOST, echo.port)])
        fds = d.fd_count()
        socks = []
        n = 5000  # 10,000 fds in the proxy, 5,000 here and in the upstream: each under 20,000
        for i in range(n):
            s = eddytest.connect(d.port())
            s.sendall(b"%05d" % i)
            socks.append(s)
        for i, s in enumerate(socks):
            self.assertEqual(opstest.recv_exact(s, 5), b"%05d" % i)
        self.assertGreaterEqual(d.fd_count(), fds + 2 * n)
        for s in socks:
            s.close()
        self.wait_fds(d, fds, timeout=IO_TIMEOUT * 2)
        self.stop(d)
        self.stop_eddyd(echo)

    def test_round_robin(self):
        # the list over two lines, as nginx's server lines: A B, then C
        ups = [self.upstream("hold") for _ in range(3)]
        names = ["%s:%d" % (HOST, u.port) for u in ups]
        d = self.proxy(names[:2], "    upstream %s\n" % names[2])
        socks = []
        for _ in range(30):
            s = eddytest.connect(d.port())
            s.sendall(b"x")
            socks.append(s)
        self.assertTrue(wait_for(lambda: sum(u.opened for u in ups) == 30))
        self.assertEqual([u.opened for u in ups], [10, 10, 10])
        for s in socks:
            s.close()
        self.stop(d)
        # the upstreams in the order given: the counters at exit follow it
        self.assertEqual(re.findall(r"upstream (\S+) \(up\) at exit", d.stderr()), names)

    def test_least_conn(self):
        ups = [self.upstream("echo") for _ in range(3)]
        d = self.proxy(["%s:%d" % (HOST, u.port) for u in ups], "    balance least_conn\n")
        # one at a time, each answered (so connected) before the next: 3 each
        held = []
        for i in range(9):
            s = eddytest.connect(d.port())
            s.sendall(b"x")
            self.assertEqual(opstest.recv_exact(s, 1), b"x")
            held.append(s)
        self.assertEqual(sorted(u.opened for u in ups), [3, 3, 3])
        # ties go round: clients 0, 3 and 6 share one upstream.  They end,
        # and the next three all go there
        busy = [u.opened for u in ups]
        for s in held[0::3]:
            s.close()
        self.assertTrue(wait_for(lambda: sum(u.ended for u in ups) == 3))
        freed = [u for u in ups if u.ended == 3]
        self.assertEqual(len(freed), 1, [u.ended for u in ups])
        for _ in range(3):
            s = eddytest.connect(d.port())
            s.sendall(b"y")
            self.assertEqual(opstest.recv_exact(s, 1), b"y")
            held.append(s)
        self.assertEqual(freed[0].opened, 6, (busy, [u.opened for u in ups]))
        for s in held:
            s.close()
        self.stop(d)

    def test_ip_hash(self):
        ups = [self.upstream("hold") for _ in range(3)]
        d = self.proxy(["%s:%d" % (HOST, u.port) for u in ups], "    balance ip_hash\n")
        socks = []
        for _ in range(12):
            s = opstest.connect_from(d.port(), "127.0.0.5")
            s.sendall(b"x")
            socks.append(s)
        self.assertTrue(wait_for(lambda: sum(u.opened for u in ups) == 12))
        self.assertEqual(sorted(u.opened for u in ups), [0, 0, 12])
        for s in socks:
            s.close()
        self.stop(d)

    def check_proxy_protocol(self, version):
        u = self.upstream("echo", keep=200)
        d = self.proxy(["%s:%d" % (HOST, u.port)], "    proxy_protocol_send %s\n" % version)
        s = opstest.connect_from(d.port(), "127.0.0.3")
        sport = s.getsockname()[1]
        s.sendall(b"payload")
        s.shutdown(socket.SHUT_WR)
        got = read_to_eof(s)
        s.close()
        self.assertTrue(wait_for(lambda: u.ended == 1))
        first = u.first[0]
        if version == "v1":
            line = b"PROXY TCP4 127.0.0.3 127.0.0.1 %d %d\r\n" % (sport, d.port())
            self.assertEqual(first, line + b"payload")
        else:
            hdr = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton("127.0.0.3")
                   + socket.inet_aton("127.0.0.1") + struct.pack("!HH", sport, d.port()))
            self.assertEqual(first, hdr + b"payload")
        self.assertTrue(got.endswith(b"payload"))
        # eddyd echo with proxy_protocol on behind it: the payload alone comes back
        conf = self.config("listen tcp %s:0 {\n    handler echo\n    prefix \"\"\n"
                           "    proxy_protocol on\n}\n" % HOST, name="echo.conf", workers=1)
        e = self.run_conf(conf)
        d2 = self.proxy(["%s:%d" % (HOST, e.port())], "    proxy_protocol_send %s\n" % version)
        self.assertEqual(self.roundtrip(d2.port(), b"through", src="127.0.0.3"), b"through")
        self.stop(d2)
        self.stop(e)
        self.stop(d)

    def test_proxy_protocol_v1(self):
        self.check_proxy_protocol("v1")

    def test_proxy_protocol_v2(self):
        self.check_proxy_protocol("v2")

    def test_redis(self):
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if not server or not cli:
            self.fail("redis-server and redis-cli are needed (Debian: redis-server, redis-tools)")
        port = opstest.free_port()
        r = subprocess.Popen([server, "--port", str(port), "--bind", HOST, "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)
        self.addCleanup(lambda: (r.kill(), r.wait()))
        self.assertTrue(wait_for(lambda: subprocess.run(
            [cli, "-p", str(port), "ping"], capture_output=True).stdout == b"PONG\n"))
        d = self.proxy(["%s:%d" % (HOST, port)])
        p = str(d.port())
        out = subprocess.run([cli, "-p", p, "set", "k", "through"], capture_output=True)
        self.assertEqual(out.stdout, b"OK\n")
        out = subprocess.run([cli, "-p", p, "get", "k"], capture_output=True)
        self.assertEqual(out.stdout, b"through\n")
        self.stop(d)

    def test_bad_parameters(self):
        # The block's lines: 3 listen, 4 handler, then `extra` from line 5;
        # each error names the line of the value it is about.
        many = " ".join("127.0.0.1:%d" % (1000 + i) for i in range(64))
        not_numeric = "'localhost:80' is not IPV4:PORT, [IPV6]:PORT nor unix:PATH (names are " \
                      "not resolved)"
        for extra, want in (
                ("    upstream localhost:80\n", "5: handler 'proxy': upstream: " + not_numeric),
                # a bad second value on a line; a bad value on a repeated line
                ("    upstream 127.0.0.1:1 localhost:80\n", "5: handler 'proxy': upstream: "
                 + not_numeric),
                ("    upstream 127.0.0.1:1 [::1]:2\n    balance least_conn\n"
                 "    upstream unix:/tmp/a.sock localhost:80\n",
                 "7: handler 'proxy': upstream: " + not_numeric),
                ("    upstream 127.0.0.1:1\n    upstream 127.0.0.1:0\n",
                 "6: handler 'proxy': upstream: '127.0.0.1:0' is not IPV4:PORT"),
                # one address per value: the comma form is gone
                ("    upstream 127.0.0.1:1,127.0.0.1:2\n", "5: handler 'proxy': upstream: "
                 "'127.0.0.1:1,127.0.0.1:2' is one value: give each address as its own, "
                 "separated by spaces (upstream A B)"),
                ("    upstream \"127.0.0.1:1 127.0.0.1:2\"\n", "5: handler 'proxy': upstream: "
                 "'127.0.0.1:1 127.0.0.1:2' is one value"),
                ("    upstream unix:/%s\n" % ("x" * 100), "5: handler 'proxy': upstream: "
                 "'unix:/xxxxxxxxxxxxxx...' is too long: at most 79 bytes"),
                # 64 upstreams on one line, and a 65th on the next
                ("    upstream %s\n    upstream 127.0.0.1:2000\n" % many,
                 "6: handler 'proxy': upstream: at most 64 upstreams, this is number 65"),
                # how many values each line holds, and repeats
                ("    balance least_conn\n", "3: handler 'proxy': upstream: required: one or more "
                 "numeric addresses"),
                ("    upstream\n", "5: handler 'proxy': 'upstream' takes one or more values"),
                ("    upstream 127.0.0.1:1\n    upstream\n",
                 "6: handler 'proxy': 'upstream' takes one or more values"),
                ("    upstream 127.0.0.1:1\n    balance least_conn ip_hash\n",
                 "6: handler 'proxy': 'balance' takes one value, got 2"),
                ("    upstream 127.0.0.1:1\n    balance least_conn\n    balance ip_hash\n",
                 "7: handler 'proxy': 'balance' given twice in this listen block"),
                ("    upstreams 127.0.0.1:1 127.0.0.1:2\n", "5: handler 'proxy': upstreams: "
                 "unknown parameter for handler 'proxy' (did you mean 'upstream'?)"),
                ("    upstream 127.0.0.1:1\n    balance random\n", "6: handler 'proxy': balance: "
                 "'random': must be round_robin"),
                ("    upstream 127.0.0.1:1\n    proxy_protocol_send v3\n", "6: handler 'proxy': "
                 "proxy_protocol_send: 'v3': must be off, v1 or v2")):
            conf = self.config("listen tcp %s:0 {\n    handler proxy\n%s}\n" % (HOST, extra))
            out = subprocess.run([eddytest.EDDYD, "-t", "-c", conf], capture_output=True)
            self.assertEqual(out.returncode, 1, extra)
            self.assertIn("%s:%s" % (conf, want), out.stderr.decode(), extra)

    def test_upstream_lists(self):
        # One line or several, with every kind of address, up to 64: eddyd -t
        # says ok and -T gives each line back as it was.
        lines = ("    upstream 127.0.0.1:7001 127.0.0.1:7002 [::1]:7003 unix:/run/app.sock\n"
                 "    upstream 127.0.0.1:7004\n"
                 "    upstream %s\n" % " ".join("127.0.0.1:%d" % (1000 + i) for i in range(59)))
        conf = self.config("listen tcp %s:0 {\n    handler proxy\n%s}\n" % (HOST, lines))
        rc, out, err = eddytest.run_eddyd(["-t", "-c", conf])
        self.assertEqual((rc, out, err), (0, "%s: ok\n" % conf, ""))
        rc, out, err = eddytest.run_eddyd(["-T", "-c", conf])
        self.assertEqual((rc, err), (0, ""))
        self.assertIn(lines + "}\n", out)


if __name__ == "__main__":
    eddytest.main()
