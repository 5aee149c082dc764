#!/usr/bin/env python3
"""bench.scaling - bench/scaling.py counts who accepted what, and right.

- Against real servers (2 workers each, no timing): eddyd's per-worker
  counts of its measured listener (read from its stats socket, Prometheus
  text) and the floor's (SIGUSR1) each grow by exactly the number of
  connections made, the stats socket's own connections not among them.
- The parsers on fixed text: wrk's output (rate, requests, every kind of
  error), nginx's access log (distinct connections per worker pid), and
  the spread summary (the busier worker's share; in or out of 45-55 %).

    python3 bench/test_scaling.py BUILD/   (the build with eddyd and bench/)
"""
import os
import socket
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import scaling  # noqa: E402

BUILD = None


def connect_and_echo(port, n):
    """n connections, one after another, each a 64-byte round trip."""
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"x" * 64)
            got = b""
            while len(got) < 64:
                b = s.recv(64)
                if not b:
                    break
                got += b
            assert got == b"x" * 64, got


class Counts(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="eddy-scaling-test-")

    def tearDown(self):
        bench.kill_all()

    def check(self, p, counts):
        before = counts(p)
        self.assertEqual(len(before), 2, before)
        connect_and_echo(p.port, 30)
        after = counts(p)
        self.assertEqual(sum(after) - sum(before), 30, (before, after))
        sh = scaling.shares(before, after)
        self.assertAlmostEqual(sum(sh), 1.0)

    def test_eddy(self):
        p = scaling.start_eddy(BUILD, self.tmp, "echo", 2)
        self.check(p, scaling.eddy_accepted)

    def test_floor(self):
        p = scaling.start_floor(BUILD, self.tmp, 2)
        self.check(p, scaling.floor_accepted)


WRK = """Running 2s test @ http://127.0.0.1:1234/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   500.00us  100.00us   2.00ms   90.00%
  123456 requests in 2.00s, 10.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  61728.00
Transfer/sec:      5.00MB
"""


class Parsers(unittest.TestCase):

    def test_wrk(self):
        self.assertEqual(scaling.parse_wrk(WRK), (61728.0, 123456, 15))
        clean = "\n".join(x for x in WRK.splitlines() if "errors" not in x and "Non-2xx" not in x)
        self.assertEqual(scaling.parse_wrk(clean), (61728.0, 123456, 0))
        self.assertEqual(scaling.parse_wrk("wrk: connection refused"), (None, None, 0))

    def test_nginx_log(self):
        text = "10 1\n10 1\n10 1\n11 2\n10 3\n11 4\n11 5\ngarbage\n12 6\n"
        # connection 1 made 3 requests: counted once; pid 12 is not a worker asked for
        self.assertEqual(scaling.parse_nginx_log(text, [10, 11]), [2, 3])

    def test_eddy_text(self):
        text = ('eddy_connections_accepted_total{listener="127.0.0.1:5",worker="1"} 7\n'
                'eddy_connections_accepted_total{listener="127.0.0.1:5",worker="0"} 3\n'
                'eddy_connections_accepted_total{listener="unix:/s",worker="0"} 9\n'
                'eddy_connections_open{listener="127.0.0.1:5",worker="0"} 1\n')
        self.assertEqual(scaling.parse_eddy_accepted(text, "127.0.0.1:5"), [3, 7])

    def test_spread(self):
        self.assertIsNone(scaling.shares([5, 5], [5, 5]))
        self.assertEqual(scaling.shares([1, 2], [4, 3]), [0.75, 0.25])
        self.assertTrue(scaling.in_band([0.45, 0.55]))
        self.assertFalse(scaling.in_band([0.44, 0.56]))
        self.assertFalse(scaling.in_band(None))
        s = scaling.spread_summary([[0.5, 0.5], [0.6, 0.4], [0.48, 0.52], None])
        self.assertEqual((s["runs"], s["in_band"], s["worst"], s["median"]), (4, 2, 0.6, 0.52))


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: test_scaling.py BUILD [unittest args]")
    BUILD = sys.argv.pop(1)
    unittest.main()
