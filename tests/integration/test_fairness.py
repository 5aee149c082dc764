#!/usr/bin/env python3
"""integration.fairness - one greedy client cannot starve the others; the
kernel's SO_REUSEPORT hash spreads connections over the workers.

- greedy: `eddyd --workers 1 --prefix ''` (pure echo, so every connection is
  on the same loop).  One greedy client pipelines 64 KiB messages as fast as
  it can (a writer thread that never waits for replies, a reader thread that
  reads, checks and discards) beside 63 ping-pong clients (64-byte messages,
  one at a time, on one selector).  The greedy client is seen moving bytes
  before the window opens.  Then, over an 8 s window, every ping-pong client
  must complete at least MIN_ROUND_TRIPS round trips and none may wait longer
  than MAX_WAIT seconds for any reply; the greedy client must be served too
  (some of its bytes come back inside the window).  Every byte of every
  client is checked, the greedy stream to the last byte after its
  half-close.  Liveness only: no throughput and no latency percentile is
  asserted (bench/fairness.sh measures the p99).
- spread: 2 workers, run from a config file with an echo listener on
  127.0.0.1:0 and a unix stats listener.  1,000 connections (each from its
  own kernel-chosen source port, all held open at once), one message and its
  reply on each; then eddy's own per-worker counters (`eddyd --stats -c
  CONF`, worker.N.accepted) must give each worker between 30% and 70% of
  them.  SO_REUSEPORT picks the listening socket from a hash of the
  4-tuple, so this is statistical; the bound is in the test.

Every loop is bounded in count and by a generous deadline (sanitizer builds
run 2-10x slower); MAX_WAIT is a starvation bound, not a latency target.
"""

import math
import os
import selectors
import socket
import threading
import time

import eddytest
import opstest
from eddytest import HOST, log

NPINGPONG = 63
PING_SIZE = 64
GREEDY_MSG = 64 << 10
WINDOW = 8.0               # seconds the ping-pong clients are watched
MIN_ROUND_TRIPS = 10       # each, in the window (a fair loop gives thousands)
MAX_WAIT = 5.0             # longest any ping-pong client may wait for a reply
GREEDY_WARMUP = 1 << 20    # greedy bytes echoed before the window opens
GREEDY_STREAM = 1000       # payload stream of the greedy client

SPREAD_CONNS = 1000
SPREAD_LO, SPREAD_HI = 0.30, 0.70


class Greedy:
    """One connection written continuously by one thread and read (checked,
    discarded) by another.  stop() ends the writer, half-closes, and waits
    for the reader to see every byte back and EOF."""

    def __init__(self, port, stream=GREEDY_STREAM):
        self.sock = eddytest.connect(port)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.checker = eddytest.EchoChecker(b"", stream=stream, name="greedy")
        self.sent = 0
        self.received = 0          # read by the reader thread (only it writes)
        self.error = None
        self.eof = False
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self):
        self._writer.start()
        self._reader.start()

    def _write(self):
        s, stream = self.sock, self.checker.stream
        try:
            # Bounded by the stop event; each sendall by the socket timeout
            # (eddytest.IO_TIMEOUT): a server that stops reading us for that
            # long is an error.
            while not self._stop.is_set():
                s.sendall(eddytest.payload(GREEDY_MSG, stream, self.sent))
                self.sent += GREEDY_MSG
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = self.error or "greedy writer after %d bytes: %r" % (self.sent, e)

    def _read(self):
        s = self.sock
        try:
            while True:
                b = s.recv(1 << 18)
                if not b:
                    self.eof = True
                    return
                self.checker.feed(b)
                self.received += len(b)
        except (OSError, AssertionError) as e:
            self.error = self.error or "greedy reader after %d bytes: %r" % (self.received, e)

    def wait_received(self, n, timeout):
        deadline = time.monotonic() + timeout
        while self.received < n and self.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received >= n

    def stop(self, timeout=eddytest.IO_TIMEOUT * 2):
        self._stop.set()
        self._writer.join(timeout)
        self._reader.join(timeout)
        alive = self._writer.is_alive() or self._reader.is_alive()
        self.sock.close()
        return not alive


class PingPong:
    __slots__ = ("i", "sock", "checker", "sent", "t_sent", "trips", "max_wait", "waiting")

    def __init__(self, i, port):
        self.i = i
        self.sock = eddytest.connect(port)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.checker = eddytest.EchoChecker(b"", stream=i, name="ping-pong %d" % i)
        self.sent = 0
        self.t_sent = 0.0
        self.trips = 0
        self.max_wait = 0.0
        self.waiting = False

    def send_one(self):
        data = eddytest.payload(PING_SIZE, self.i, self.sent)
        # 64 bytes into an empty socket buffer: one send takes them all.
        n = self.sock.send(data)
        if n != len(data):
            raise AssertionError("ping-pong %d: short send %d of %d" % (self.i, n, len(data)))
        self.sent += n
        self.t_sent = time.monotonic()
        self.waiting = True


def run_pingpong(clients, window, drain=eddytest.IO_TIMEOUT):
    """Round trips on every client for `window` seconds (one message in
    flight each), then wait (at most `drain` s) for the last replies.
    Returns the wall time of the window."""
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ, c)
    t0 = time.monotonic()
    end = t0 + window
    hard_end = end + drain
    try:
        for c in clients:
            c.send_one()
        while True:
            now = time.monotonic()
            waiting = [c for c in clients if c.waiting]
            if now >= end and not waiting:
                break
            if now >= hard_end:
                desc = ", ".join("ping-pong %d (waiting %.1fs, %d trips)"
                                 % (c.i, now - c.t_sent, c.trips) for c in waiting[:5])
                raise AssertionError("%d ping-pong clients still without a reply %.0fs after "
                                     "the window: %s" % (len(waiting), drain, desc))
            for key, _ in sel.select(min(0.5, hard_end - now)):
                c = key.data
                try:
                    b = c.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as e:
                    raise AssertionError("ping-pong %d: recv after %d trips: %r" % (c.i, c.trips, e))
                if not b:
                    raise AssertionError("ping-pong %d: EOF after %d trips" % (c.i, c.trips))
                c.checker.feed(b)
                if c.checker.complete(c.sent):
                    t = time.monotonic()
                    c.max_wait = max(c.max_wait, t - c.t_sent)
                    c.trips += 1
                    c.waiting = False
                    if t < end:
                        c.send_one()
    finally:
        sel.close()
    return min(time.monotonic(), end) - t0


class Fairness(eddytest.EddyTestCase):

    def test_greedy_client_does_not_starve_pingpong(self):
        d = self.start_eddyd(workers=1, prefix="")
        port = d.port
        clients = []
        greedy = None
        try:
            for i in range(NPINGPONG):
                clients.append(PingPong(i, port))
            # Each client once, before the greedy one starts: all are served.
            run_pingpong(clients, 0.0)
            self.assertTrue(all(c.trips == 1 for c in clients))
            for c in clients:
                c.trips, c.max_wait = 0, 0.0

            greedy = Greedy(port)
            greedy.start()
            self.assertTrue(greedy.wait_received(GREEDY_WARMUP, eddytest.IO_TIMEOUT),
                            "the greedy client got %d bytes back within %.0fs (want %d): %s"
                            % (greedy.received, eddytest.IO_TIMEOUT, GREEDY_WARMUP, greedy.error))
            before = greedy.received
            queued = eddytest.unsent_bytes(greedy.sock)
            wall = run_pingpong(clients, WINDOW)
            during = greedy.received - before
            queued_after = eddytest.unsent_bytes(greedy.sock)
            self.assertIsNone(greedy.error, greedy.error)
            self.assertTrue(greedy._writer.is_alive(),
                            "the greedy writer stopped during the window: %s" % greedy.error)

            trips = sorted(c.trips for c in clients)
            worst = max(clients, key=lambda c: c.max_wait)
            fewest = min(clients, key=lambda c: c.trips)
            log("window %.1fs: ping-pong round trips min %d median %d max %d (total %d); "
                "longest wait %.3fs (client %d); greedy echoed %.1f MiB in the window, "
                "%d / %d bytes unsent in its socket at the start / end"
                % (wall, trips[0], trips[len(trips) // 2], trips[-1], sum(trips),
                   worst.max_wait, worst.i, during / 2**20, queued, queued_after))

            self.assertGreaterEqual(
                fewest.trips, MIN_ROUND_TRIPS,
                "ping-pong client %d completed only %d round trips in %.1fs beside the greedy "
                "client (want >= %d)" % (fewest.i, fewest.trips, wall, MIN_ROUND_TRIPS))
            self.assertLessEqual(
                worst.max_wait, MAX_WAIT,
                "ping-pong client %d waited %.2fs for a reply beside the greedy client "
                "(bound %.0fs)" % (worst.i, worst.max_wait, MAX_WAIT))
            self.assertGreater(during, 0, "the greedy client got nothing back in the window")

            # The greedy stream, to the last byte.
            self.assertTrue(greedy.stop(), "greedy threads did not finish")
            self.assertIsNone(greedy.error, greedy.error)
            self.assertTrue(greedy.eof, "greedy: no EOF after the half-close")
            greedy.checker.check_final(greedy.sent)
            log("greedy: %.1f MiB sent and echoed back intact" % (greedy.sent / 2**20))
            greedy = None
            self.assert_alive(d)
        finally:
            if greedy is not None:
                greedy.stop(timeout=10)
            for c in clients:
                c.sock.close()
        self.stop_eddyd(d)


def binomial_tail(n, lo, hi):
    """P(X < lo or X > hi) for X ~ Binomial(n, 1/2), exactly (in floats)."""
    total = 0.0
    for k in range(n + 1):
        if k < lo or k > hi:
            total += math.comb(n, k)
    return total / 2.0 ** n


class Spread(opstest.OpsTestCase):

    def test_reuseport_spreads_1000_connections_over_2_workers(self):
        # Each connection goes to worker 0 or 1 by the kernel's SO_REUSEPORT
        # hash of its 4-tuple (only the source port changes here).  Modelled
        # as 1,000 fair coin flips, X = connections on worker 0:
        #   P(X < 300 or X > 700) = 2 * sum_{k<300} C(1000,k) / 2^1000
        #                         = 7.5e-38  (exact; the Chernoff bound
        #   2 * exp(-1000 * KL(0.3 || 0.5)) = 2 * exp(-82.3) = 3.7e-36 agrees),
        # printed by the test as it runs.  Run every second for the age of
        # the universe (4e17 s), the test would still fail by chance with
        # probability below 1e-19.
        # The bound allows +1 on each worker for the one stats query that
        # falls inside the measured delta, which only widens it.
        # A failure therefore means eddy does not spread connections (one
        # worker's socket not listening, a steering program, SO_INCOMING_CPU
        # or a shared accept queue), not bad luck.
        n = SPREAD_CONNS
        lo, hi = int(n * SPREAD_LO), int(n * SPREAD_HI)
        log("P(a fair hash puts < %d or > %d of %d on one worker) = %.2g"
            % (lo, hi, n, binomial_tail(n, lo, hi)))

        sock = self.path("stats.sock")
        conf = self.config("listen tcp %s:0 {\n    handler echo\n}\n"
                           "listen unix %s {\n    handler stats\n}\n" % (HOST, sock),
                           workers=2)
        d = self.run_conf(conf, listeners=2)
        tcp = [a for a, h in d.listening if h == "echo"]
        self.assertEqual(len(tcp), 1, d.listening)
        port = opstest.split_addr(tcp[0])[1]
        self.assertTrue(any(h == "stats" for _, h in d.listening), d.listening)
        self.assertRegex(d.stderr(), r"handler echo, 2 workers")

        totals0, workers0 = d.stats()
        self.assertEqual(sorted(workers0), [0, 1], workers0)

        socks = []
        ports = set()
        try:
            for i in range(n):
                s = eddytest.connect(port)
                socks.append(s)
                ports.add(s.getsockname()[1])
                ck = eddytest.EchoChecker(stream=i, name="connection %d" % i)
                eddytest.roundtrip(s, 16, ck)
            self.assertEqual(len(ports), n, "source ports were reused")

            totals1, workers1 = d.stats()
        finally:
            for s in socks:
                s.close()
        self.assertEqual(sorted(workers1), [0, 1], workers1)
        delta = {w: workers1[w]["accepted"] - workers0[w]["accepted"] for w in (0, 1)}
        total = totals1["accepted"] - totals0["accepted"]
        log("accepted over %d connections (+1 stats query): worker 0: %d (%.1f%%), "
            "worker 1: %d (%.1f%%)" % (n, delta[0], 100.0 * delta[0] / n,
                                       delta[1], 100.0 * delta[1] / n))
        # n connections and the second query (the first is counted in totals0).
        self.assertEqual(total, n + 1, "accepted delta %d, want %d" % (total, n + 1))
        self.assertEqual(delta[0] + delta[1], total)
        for w in (0, 1):
            self.assertGreaterEqual(delta[w], lo,
                                    "worker %d accepted %d of %d connections (< %d%%): %s"
                                    % (w, delta[w], n, 100 * SPREAD_LO, delta))
            self.assertLessEqual(delta[w], hi + 1,
                                 "worker %d accepted %d of %d connections (> %d%%): %s"
                                 % (w, delta[w], n, 100 * SPREAD_HI, delta))
        self.assert_up(d)
        self.stop(d)


if __name__ == "__main__":
    eddytest.main()
