#!/usr/bin/env python3
"""integration.accept_spread - two workers share the connections (issue 20).

eddyd with 2 workers, an echo listener and a unix stats listener; the
counts come from the stats (worker.N.accepted, worker.N.open), i.e. from
the server side.  No timing is asserted.

- A burst of short connections (400, 20 open at once, each one round trip
  then closed): both workers accepted some, and neither fewer than a
  quarter (the kernel's SO_REUSEPORT hash alone puts 200 +- 10 on each).
- Connections held open, opened one after another (each one's round trip
  done before the next connects): the workers' open counts differ by at
  most the balance's slack, 4, plus 1 for the stats query's own
  connection.  The kernel's hash alone leaves 200 connections 100 +- 7 on
  each, more than 5 apart in about three runs of four: this is what the
  accept balance (core/accept.c) adds.  Every connection answers, handed
  over or not, and eddyd stops cleanly (exit 0).
- A worker that does not serve the listener (the test plugin peerinfo's
  worker_init fails on worker 1, so worker 1 closes its socket for it):
  the balance still hands it connections (it holds none), it sends each
  back, and worker 0 serves all 30 held connections; each answers
  "worker 0".

    python3 tests/integration/test_accept_spread.py EDDYD --plugins DIR
"""

import os

import eddytest
import opstest
from eddytest import HOST, log

SLACK = 4  # core/accept.c's BALANCE_SLACK
PLUGINS = opstest.take_path_args(["plugins"]).get("plugins")


class AcceptSpread(opstest.OpsTestCase):

    def start(self):
        self.sock = self.path("stats.sock")
        conf = self.config("listen tcp %s:0 {\n    handler echo\n}\n"
                           "listen unix %s {\n    handler stats\n}\n" % (HOST, self.sock))
        d = self.run_conf(conf, listeners=2)
        return d, d.port(0)

    def per_worker(self, name):
        _, workers = opstest.stats_at(self.sock)
        self.assertEqual(sorted(workers), [0, 1], workers)
        return [workers[0][name], workers[1][name]]

    def test_burst_of_short_connections(self):
        d, port = self.start()
        before = self.per_worker("accepted")
        total, width, stream = 400, 20, 0
        for _ in range(total // width):
            socks = []
            for _ in range(width):
                socks.append((eddytest.connect(port), eddytest.EchoChecker(stream=stream)))
                stream += 1
            for s, ck in socks:
                eddytest.roundtrip(s, 64, ck)
                s.close()
        after = self.per_worker("accepted")
        got = [b - a for a, b in zip(before, after)]
        log("accepted per worker over %d short connections (+1 stats query): %s" % (total, got))
        self.assertEqual(sum(got), total + 1, got)  # the second query is counted too
        for n in got:
            self.assertGreater(n, 0, got)
            self.assertGreaterEqual(n, total // 4, "one worker took %s of %d" % (got, total))
        self.stop(d)

    def test_held_connections_balanced(self):
        d, port = self.start()
        held = []
        for i in range(200):
            s = eddytest.connect(port)
            eddytest.roundtrip(s, 64, eddytest.EchoChecker(stream=i))
            held.append(s)
        is_open = self.per_worker("open")
        log("open per worker with 200 held connections (+1 stats query): %s" % is_open)
        self.assertEqual(sum(is_open), 201, is_open)
        self.assertLessEqual(abs(is_open[0] - is_open[1]), SLACK + 1, is_open)
        # every one still answers, wherever it is served
        for i, s in enumerate(held):
            eddytest.roundtrip(s, 64, eddytest.EchoChecker(stream=1000 + i))
        for s in held:
            s.close()
        self.stop(d)

    def test_worker_that_does_not_serve_the_listener(self):
        self.assertIsNotNone(PLUGINS, "--plugins DIR was not given")
        conf = self.config("listen tcp %s:0 {\n    handler %s\n    tag fail1\n}\n"
                           % (HOST, os.path.join(PLUGINS, "peerinfo.so")))
        d = self.run_conf(conf)
        port = d.port(0)
        self.assertIsNotNone(d.wait_for_log(r"worker 1 does not serve"), d.stderr())
        held = []
        for i in range(30):
            s = eddytest.connect(port)
            s.sendall(b"worker\n")
            held.append(s)
            got = b""
            s.settimeout(eddytest.IO_TIMEOUT)
            while not got.endswith(b"\n"):
                b = s.recv(256)
                self.assertTrue(b, "connection %d closed; eddyd:\n%s" % (i, d.stderr()[-2000:]))
                got += b
            self.assertRegex(got.decode(), r"^tag fail1 worker 0 conns %d " % (i + 1))
        for s in held:
            s.close()
        self.assert_up(d)
        self.stop(d)


if __name__ == "__main__":
    opstest.main()
