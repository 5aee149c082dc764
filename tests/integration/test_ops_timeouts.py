#!/usr/bin/env python3
"""integration.ops_timeouts - idle_timeout and first_byte_timeout.

Two echo listeners: one with first_byte_timeout 1s only, one with
idle_timeout 1s only, and a unix stats listener.

- first byte: a connection that never sends is closed (EOF or reset, no
  data), not before ~1s and within a generous bound; one that sends at once
  and then stays quiet is not closed by it (still served 3s later).
- idle: a connection quiet after an exchange is closed; one that sends a
  byte every 300 ms for 3s (input resets the timer) is still served; a
  slowloris client sending one byte every 2.5s is closed anyway.
- the stats count every one of these closes in `timeouts`, and nothing else.
- 2,000 idle connections with idle_timeout 1h armed: eddyd uses (almost)
  no CPU while they wait (under 0.5s of CPU over 3s: a generous bound that
  only a busy loop can cross) and serves them all afterwards.
"""

import time

import eddytest
import opstest
from eddytest import HOST, log


class Timeouts(opstest.OpsTestCase):

    def start(self):
        self.stats = self.path("stats.sock")
        conf = self.config(
            "listen tcp %s:0 {\n    handler echo\n    first_byte_timeout 1s\n}\n"
            "listen tcp %s:%d {\n    handler echo\n    idle_timeout 1s\n}\n"
            "listen unix %s {\n    handler stats\n}\n"
            % (HOST, HOST, opstest.free_port(), self.stats))
        d = self.run_conf(conf, listeners=3)
        return d, d.port(0), d.port(1)

    def closed_after(self, s, timeout=60):
        t0 = time.monotonic()
        self.assertTrue(opstest.closed_without_reply(s, timeout),
                        "data instead of a close")
        return time.monotonic() - t0

    def test_first_byte_timeout(self):
        d, fb, _ = self.start()
        t0 = time.monotonic()
        silent = eddytest.connect(fb)
        talker = eddytest.connect(fb)
        eddytest.roundtrip(talker, 10, eddytest.EchoChecker())
        self.closed_after(silent)
        secs = time.monotonic() - t0
        log("silent connection closed after %.2fs (first_byte_timeout 1s)" % secs)
        self.assertGreater(secs, 0.5, "closed long before first_byte_timeout")
        time.sleep(2.0)
        # It sent its first byte: first_byte_timeout no longer applies.
        eddytest.roundtrip(talker, 10, eddytest.EchoChecker())  # fresh checker: new stream 0
        totals, _ = opstest.stats_at(self.stats)
        self.assertEqual(totals["timeouts"], 1, totals)
        silent.close()
        talker.close()
        self.stop(d)

    def test_idle_timeout(self):
        d, _, idle = self.start()
        quiet = eddytest.connect(idle)
        # quiet: one exchange, then nothing.
        quiet.sendall(b"x")
        self.assertEqual(opstest.recv_exact(quiet, len(b"Received: x")), b"Received: x")
        t0 = time.monotonic()
        # A client sending a byte every 300 ms for 3 s: never idle 1 s.
        busy = eddytest.connect(idle)
        got = b""
        for k in range(10):
            busy.sendall(b"b")
            got += opstest.recv_exact(busy, len(b"Received: b"))
            time.sleep(0.3)
        self.assertEqual(got, b"Received: b" * 10)
        busy.sendall(b"z")
        self.assertEqual(opstest.recv_exact(busy, 11), b"Received: z")
        busy.close()   # by the client: not a timeout
        self.closed_after(quiet)
        log("quiet connection closed (idle_timeout 1s); the busy one lived 3s")
        # Slowloris: one byte every 2.5 s.
        slow = eddytest.connect(idle)
        t1 = time.monotonic()
        closed = False
        for k in range(10):
            try:
                slow.sendall(b"s")
            except OSError:
                closed = True
                break
            # Read whatever comes for 2.5 s (the echo of the byte, then
            # EOF once idle_timeout passes), then send the next byte.
            until = time.monotonic() + 2.5
            while not closed and time.monotonic() < until:
                slow.settimeout(max(0.01, until - time.monotonic()))
                try:
                    if not slow.recv(4096):
                        closed = True
                except TimeoutError:
                    pass
                except ConnectionResetError:
                    closed = True
            if closed:
                break
        self.assertTrue(closed, "a slowloris client (a byte every 2.5s) was not closed")
        log("slowloris closed after %.2fs" % (time.monotonic() - t1))
        totals, _ = opstest.stats_at(self.stats)
        self.assertEqual(totals["timeouts"], 2, totals)
        for s in (quiet, busy, slow):
            s.close()
        self.stop(d)

    def test_idle_connections_with_timers_cost_no_cpu(self):
        conf = self.config("max_connections 5000\nlisten tcp %s:0 {\n    handler echo\n"
                           "    idle_timeout 1h\n    first_byte_timeout 1h\n}\n" % HOST)
        d = self.run_conf(conf)
        port = d.port()
        socks = []
        for i in range(2000):
            s = eddytest.connect(port)
            if i % 2:
                s.sendall(b"x")      # half past the first byte, half not
            socks.append(s)
        for i in range(1, 2000, 2):
            self.assertEqual(opstest.recv_exact(socks[i], 11), b"Received: x")
        time.sleep(0.5)
        eddyd = eddytest.Eddyd.__new__(eddytest.Eddyd)
        eddyd.proc = d.proc
        c0 = eddyd.cpu_seconds()
        time.sleep(3.0)
        cpu = eddyd.cpu_seconds() - c0
        log("2,000 idle connections with timers: %.3fs CPU over 3s" % cpu)
        self.assertLess(cpu, 0.5, "eddyd busy while every connection is idle")
        for i in range(0, 2000, 97):
            socks[i].sendall(b"y")
            self.assertEqual(opstest.recv_exact(socks[i], 11), b"Received: y")
        for s in socks:
            s.close()
        self.stop(d)


if __name__ == "__main__":
    opstest.main()
