#!/usr/bin/env python3
"""integration.ops_drain - SIGTERM/SIGINT drain: no reply already accepted
is cut.

- 1,000 pipelined requests in flight: 20 connections to the pure echo
  (prefix "") each send 50 requests of 2 KiB back to back and do not read
  (a 4 KiB receive buffer), so at the signal eddyd holds most replies
  queued.  After SIGTERM every connection must get every byte of its 50
  replies, in order, then EOF; eddyd logs "SIGTERM: draining ...", refuses
  new connections (its listening sockets are closed) while it drains, logs
  "stopped" and exits 0.
- The same with 1,000 connections holding one 64-byte request each (SIGINT).
- Pool work in flight: the slow handler (delay 1s, dispatch pool, 4 pool
  threads) with 8 requests sleeping or queued (pool_pending > 0 seen in the
  stats) when SIGTERM comes: all 8 replies arrive, then EOF.
- shutdown_timeout bounds it: a client that never reads, shutdown_timeout
  1s: eddyd logs the timeout and exits 0 well within the stop deadline.
- A second signal stops at once ("stopping now"), exit 0.
"""

import selectors
import signal
import socket
import time

import eddytest
import opstest
from eddytest import HOST, log


def read_streams(socks, checkers, totals, timeout=120.0):
    """Read all sockets at once until EOF; check each stream; returns the
    seconds it took."""
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    done = {}
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        while len(done) < len(socks):
            left = deadline - time.monotonic()
            if left <= 0:
                stuck = [i for i in range(len(socks)) if i not in done]
                raise AssertionError("%d connections not finished within %.0fs; first: %d "
                                     "(%d of %d bytes)" % (len(stuck), timeout, stuck[0],
                                                           checkers[stuck[0]].got,
                                                           totals[stuck[0]]))
            for key, _ in sel.select(min(left, 1.0)):
                i = key.data
                try:
                    b = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    raise AssertionError("connection %d reset after %d of %d reply bytes"
                                         % (i, checkers[i].got, totals[i]))
                if b:
                    checkers[i].feed(b)
                    continue
                checkers[i].check_final(totals[i])
                done[i] = True
                sel.unregister(key.fileobj)
    finally:
        sel.close()
    return time.monotonic() - t0


def assert_refused(port):
    s = socket.socket()
    s.settimeout(10)
    try:
        err = s.connect_ex((HOST, port))
    finally:
        s.close()
    return err


class Drain(opstest.OpsTestCase):

    def echo_conf(self, extra_global="", extra_listener=""):
        self.stats = self.path("stats.sock")
        return self.config("%slisten tcp %s:0 {\n    handler echo\n    prefix \"\"\n%s}\n"
                           "listen unix %s {\n    handler stats\n}\n"
                           % (extra_global, HOST, extra_listener, self.stats))

    def wait_accepted(self, n):
        """Wait until eddyd has accepted our n connections (open = n + the
        stats query): a connection still in the kernel's accept queue when
        the listening socket closes is reset by the kernel, and was never
        eddyd's to answer."""
        deadline = time.monotonic() + 120
        while True:
            totals, _ = opstest.stats_at(self.stats)
            if totals["open"] >= n + 1:
                return
            if time.monotonic() > deadline:
                self.fail("eddyd holds %d of our %d connections after 120s"
                          % (totals["open"] - 1, n))
            time.sleep(0.02)

    def check_stop_logged(self, d, name):
        self.assertIsNotNone(d.wait_for_log(r" info \[main\] %s: draining \(a second signal stops "
                                            r"at once\)" % name, timeout=5),
                             d.stderr()[-2000:])
        self.assertIsNotNone(d.wait_for_log(r" info \[main\] stopped$", timeout=5), d.stderr()[-2000:])

    def test_1000_pipelined_requests_all_answered(self):
        d = self.run_conf(self.echo_conf(), listeners=2)
        port = d.port()
        nconn, nreq, size = 20, 50, 2048
        socks, checkers, totals = [], [], []
        for i in range(nconn):
            s = eddytest.connect(port, rcvbuf=4096)
            socks.append(s)
            checkers.append(eddytest.EchoChecker(b"", stream=i, name="conn %d" % i))
            totals.append(nreq * size)
        for i, s in enumerate(socks):
            for k in range(nreq):
                s.sendall(eddytest.payload(size, i, k * size))
        for s in socks:
            eddytest.wait_sent(s)   # all 1,000 requests are in eddyd's hands
        self.wait_accepted(nconn)
        d.signal(signal.SIGTERM)
        self.assertIsNotNone(d.wait_for_log(r"SIGTERM: draining"), d.stderr()[-2000:])
        # Listening sockets closed: new connections are refused while the
        # 20 connections are still owed their replies (they cannot all be
        # sent: the clients do not read yet).  eddyd logs "draining" just
        # before it closes them, so poll, bounded.
        deadline = time.monotonic() + 60
        attempts = 0
        while True:
            attempts += 1
            err = assert_refused(port)
            if err != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertNotEqual(err, 0, "eddyd still accepts new connections %d attempts and 60s "
                            "into the drain" % attempts)
        secs = read_streams(socks, checkers, totals)
        log("%d requests on %d connections: every reply then EOF, %.2fs after SIGTERM"
            % (nconn * nreq, nconn, secs))
        for s in socks:
            s.close()
        self.stop(d, send=False)
        self.check_stop_logged(d, "SIGTERM")

    def test_1000_connections_one_request_each(self):
        d = self.run_conf(self.echo_conf("max_connections 5000\n"), listeners=2)
        port = d.port()
        n, size = 1000, 64
        socks, checkers = [], []
        for i in range(n):
            s = eddytest.connect(port)
            s.sendall(eddytest.payload(size, i, 0))
            socks.append(s)
            checkers.append(eddytest.EchoChecker(b"", stream=i, name="conn %d" % i))
        self.wait_accepted(n)
        d.signal(signal.SIGINT)
        secs = read_streams(socks, checkers, [size] * n)
        log("%d connections: every reply then EOF, %.2fs after SIGINT" % (n, secs))
        for s in socks:
            s.close()
        self.stop(d, sig=signal.SIGINT, send=False)
        self.check_stop_logged(d, "SIGINT")

    def test_pool_work_in_flight(self):
        stats = self.path("stats.sock")
        conf = self.config("pool_threads 4\n"
                           "listen tcp %s:0 {\n    handler slow\n    delay 1s\n"
                           "    dispatch pool\n}\n"
                           "listen unix %s {\n    handler stats\n}\n" % (HOST, stats))
        d = self.run_conf(conf, listeners=2)
        port = d.port(0)
        socks = []
        for i in range(8):
            s = eddytest.connect(port)
            s.sendall(b"job %d" % i)
            socks.append(s)
        # Wait until eddyd holds all 8 connections and the pool has work
        # (sleeping or queued): the requests were read and handed over.
        deadline = time.monotonic() + 30
        seen = 0
        while time.monotonic() < deadline:
            totals, _ = opstest.stats_at(stats)
            if totals["open"] >= 9 and totals["reads"] >= 4 and (totals["pool_pending"] > 0
                                               or totals["sends"] < 8):
                seen = totals
                break
            time.sleep(0.02)
        self.assertTrue(seen, "no pool work seen in flight")
        log("at SIGTERM: %s" % {k: seen[k] for k in ("reads", "sends",
                                                      "pool_pending")})
        d.signal(signal.SIGTERM)
        for i, s in enumerate(socks):
            data, how = eddytest.read_until_eof(s, timeout=60)
            self.assertEqual(data, b"job %d" % i, "pool reply %d (then %s)" % (i, how))
            self.assertEqual(how, "eof")
            s.close()
        self.stop(d, send=False)
        self.check_stop_logged(d, "SIGTERM")

    def stuck_client(self, port):
        s = eddytest.connect(port, rcvbuf=4096, sndbuf=65536)
        eddytest.fill_until_stalled(s, 7)
        return s

    def test_shutdown_timeout_bounds_the_drain(self):
        d = self.run_conf(self.echo_conf("shutdown_timeout 1s\n"), listeners=2)
        s = self.stuck_client(d.port())
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        self.stop(d, send=False, timeout=60)
        secs = time.monotonic() - t0
        log("exit %.2fs after SIGTERM with shutdown_timeout 1s" % secs)
        self.assertIsNotNone(d.wait_for_log(r"shutdown_timeout passed", timeout=1),
                             d.stderr()[-2000:])
        self.assertEqual(eddytest.expect_closed(s, timeout=30) in ("eof", "reset"), True)
        s.close()

    def test_second_signal_stops_at_once(self):
        d = self.run_conf(self.echo_conf("shutdown_timeout 1h\n"), listeners=2)
        s = self.stuck_client(d.port())
        d.signal(signal.SIGTERM)
        self.assertIsNotNone(d.wait_for_log(r"SIGTERM: draining"), d.stderr()[-2000:])
        time.sleep(0.5)
        self.assertTrue(d.alive(), "eddyd did not wait for the client that does not read")
        d.signal(signal.SIGTERM)
        self.stop(d, send=False, timeout=60)
        self.assertIsNotNone(d.wait_for_log(r"SIGTERM again: stopping now", timeout=1),
                             d.stderr()[-2000:])
        eddytest.expect_closed(s, timeout=30)
        s.close()


if __name__ == "__main__":
    opstest.main()
