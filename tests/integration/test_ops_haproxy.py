#!/usr/bin/env python3
"""integration.ops_haproxy - HAProxy (Debian's package) in front of two eddyd.

The setup is config/examples/haproxy.cfg and
config/examples/ops-haproxy-backend.conf with the addresses replaced by
free loopback ports, the stats socket put in a temporary directory, and
HAProxy's health checks dropped (so each eddyd's counters count only the
test's connections).  HAProxy sends PROXY v2 headers (send-proxy-v2,
balance roundrobin, retries 3, option redispatch); each eddyd is a pure
echo with proxy_protocol on.  The test installs nothing: without a
`haproxy` binary it fails and says so.

- spread: 20 clients, one after another, 5 round trips each through
  HAProxy, every reply byte-checked.  Each eddyd's stats show accepted > 0
  and reads > 0 (the split is logged); together they accepted exactly
  20 connections (plus the stats queries themselves).
- per-IP limit sees the client (max_connections_per_ip 2 on each eddyd):
  6 clients from 6 loopback addresses (127.0.0.2-7), held open: all served,
  although HAProxy's 6 connections to the two eddyd all come from
  127.0.0.1 (3 each, over the limit if eddyd counted HAProxy's address).
  Then 5 clients from 127.0.0.9, opened one at a time and held, each sending
  one message: whichever eddyd HAProxy picks, eddyd i must serve
  min(2, n_i) and refuse the rest, where n_i is how many of the 5 it got
  (its accepted delta); so at least one is refused (5 > 2 x 2), each
  refused client sees its connection closed with no reply, the served ones
  get their echo, sum(refused_per_ip) = clients refused, and the log line of
  a refusal names 127.0.0.9.
- one eddyd draining loses no request: 8 client threads (4 keep one
  connection, 4 open a new connection per request) do request/reply
  through HAProxy: a unique 200-byte request, the exact 200 bytes back.
  After every client did 20 requests, eddyd #1 gets SIGTERM; the clients go
  on until eddyd #1 has exited (status 0, "stopped") and every client did
  20 more requests.  What is checked, exactly:
    * every request gets its exact reply; a reply cut short (some bytes,
      then EOF) or wrong fails the test;
    * a request whose connection ends (EOF or reset) before any byte of
      its reply came back is sent again on a new connection, at most 5
      times: this is the request that was in flight between HAProxy and
      the draining eddyd when eddyd closed that connection (or a connection
      HAProxy had opened to it just before its listening socket closed),
      which eddyd never read; such retries are counted and logged, and are
      fewer than the number of client threads x 5;
    * eddyd #2 keeps serving throughout, and serves all requests after
      eddyd #1 exited.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import eddytest
import opstest
from eddytest import HOST, log

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "config", "examples")


def haproxy_path():
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
        None)


class HAProxy:
    def __init__(self, binary, cfg):
        self.cfg = cfg
        self.proc = subprocess.Popen([binary, "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = []
        self.t = threading.Thread(target=self._drain, daemon=True)
        self.t.start()

    def _drain(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.out.append(raw.decode(errors="replace"))

    def output(self):
        return "".join(self.out)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.t.join(10)
        self.proc.stdout.close()


class HAProxyTest(opstest.OpsTestCase):

    def setUp(self):
        super().setUp()
        self.haproxy = haproxy_path()
        if not self.haproxy:
            self.fail("haproxy not found: this test needs Debian's haproxy package "
                      "(apt-get install -y haproxy; scripts/test installs it)")

    # -- setup from the example files ---------------------------------------

    def backend(self, i, per_ip=64):
        with open(os.path.join(EXAMPLES, "ops-haproxy-backend.conf")) as f:
            text = f.read()
        port = opstest.free_port()
        stats = self.path("stats-%d.sock" % i)
        text = text.replace("127.0.0.1:7801", "%s:%d" % (HOST, port))
        text = text.replace("/tmp/eddy-stats-7801.sock", stats)
        text, n = re.subn(r"(?m)^max_connections_per_ip \d+", "max_connections_per_ip %d"
                          % per_ip, text)
        self.assertEqual(n, 1)
        text = "plugin_dir %s\n" % opstest.plugin_dir() + text
        conf = self.write("eddyd-%d.conf" % i, text)
        d = self.run_conf(conf, listeners=2)
        self.assertEqual(d.port(0), port)
        d.stats_path = stats
        return d

    def start(self, per_ip=64):
        self.eddyds = [self.backend(1, per_ip), self.backend(2, per_ip)]
        self.queries = [0, 0]
        with open(os.path.join(EXAMPLES, "haproxy.cfg")) as f:
            text = f.read()
        self.port = opstest.free_port()
        text = text.replace("bind 127.0.0.1:7777", "bind %s:%d" % (HOST, self.port))
        for i, d in enumerate(self.eddyds):
            text = text.replace("127.0.0.1:%d send-proxy-v2" % (7801 + i),
                                "%s:%d send-proxy-v2" % (HOST, d.port(0)))
        # No health checks: the counters then count only our connections.
        text, n = re.subn(r"(?m)^(\s*server \S+ \S+ send-proxy-v2)[^\n]*", r"\1", text)
        self.assertEqual(n, 2, "the template's server lines changed")
        cfg = self.write("haproxy.cfg", text)
        rc = subprocess.run([self.haproxy, "-c", "-f", cfg], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(rc.returncode, 0, "haproxy -c: %s" % rc.stdout.decode())
        self.hap = HAProxy(self.haproxy, cfg)
        self.addCleanup(self.hap.stop)
        # Ready when a request makes it through HAProxy to an eddyd and back
        # (a probe that only connects may reach an eddyd later, or never).
        deadline = time.monotonic() + 60
        while True:
            try:
                s = eddytest.connect(self.port, timeout=10)
                try:
                    if opstest.echo_request(s, b"probe", timeout=10) == b"probe":
                        break
                finally:
                    s.close()
            except OSError:
                pass
            if time.monotonic() > deadline or self.hap.proc.poll() is not None:
                self.fail("haproxy did not start: %s" % self.hap.output())
            time.sleep(0.05)
        # Wait until that probe is closed in eddyd too, so that it counts
        # nowhere below.
        self.settle()

    def settle(self):
        """Wait until every eddyd has only the stats query open."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all([self.query(i)["open"] == 1 for i in range(len(self.eddyds))]):
                return
            time.sleep(0.05)
        self.fail("connections still open in eddyd")

    def query(self, i):
        """eddyd #i's totals; counts the queries (each is a connection)."""
        self.queries[i] += 1
        return opstest.stats_at(self.eddyds[i].stats_path)[0]

    def stats(self):
        return [self.query(i) for i in range(len(self.eddyds))]

    def finish(self):
        self.hap.stop()
        for d in self.eddyds:
            if d.alive():
                self.stop(d)

    # -- tests --------------------------------------------------------------

    def test_traffic_is_spread(self):
        self.start()
        before = self.stats()
        q0 = list(self.queries)
        n, rounds, size = 20, 5, 300
        for i in range(n):
            s = eddytest.connect(self.port)
            ck = eddytest.EchoChecker(b"", stream=i, name="client %d" % i)
            for k in range(rounds):
                eddytest.roundtrip(s, size, ck)
            s.close()
        self.settle()
        after = self.stats()
        acc = [a["accepted"] - b["accepted"] for a, b in zip(after, before)]
        msg = [a["reads"] - b["reads"] for a, b in zip(after, before)]
        byt = [a["bytes_in"] - b["bytes_in"] for a, b in zip(after, before)]
        log("accepted per eddyd %s, reads %s, bytes_in %s (stats queries included)"
            % (acc, msg, byt))
        # The stats queries after `before` are connections too.
        q = [a - b for a, b in zip(self.queries, q0)]
        for i in range(2):
            self.assertGreater(acc[i] - q[i], 0, "eddyd #%d got no connection" % (i + 1))
            self.assertGreater(msg[i] - q[i], 0, "eddyd #%d got no message" % (i + 1))
        self.assertEqual(sum(acc) - sum(q), n, "connections through HAProxy")
        self.assertGreaterEqual(sum(byt), n * rounds * size)
        for st in after:
            self.assertEqual(st["errors_proxy"], 0, st)
        self.finish()

    def test_per_ip_limit_sees_the_client_address(self):
        self.start(per_ip=2)
        held = []
        for k in range(6):
            s = opstest.connect_from(self.port, "127.0.0.%d" % (2 + k))
            data = b"distinct %d" % k
            self.assertEqual(opstest.echo_request(s, data), data,
                             "client 127.0.0.%d refused or not answered" % (2 + k))
            held.append(s)
        before = self.stats()
        served, refused = 0, 0
        for k in range(5):
            s = opstest.connect_from(self.port, "127.0.0.9")
            data = b"same address %d" % k
            try:
                s.sendall(data)
            except OSError:
                pass
            s.settimeout(eddytest.IO_TIMEOUT)
            try:
                got = opstest.recv_exact(s, len(data))
            except ConnectionResetError:
                got = b""
            if got == data:
                served += 1
                held.append(s)
            else:
                self.assertEqual(got, b"", "127.0.0.9 client %d: wrong reply" % k)
                refused += 1
                s.close()
        after = self.stats()
        acc = [a["accepted"] - b["accepted"] - 1 for a, b in zip(after, before)]  # - query
        ref = [a["refused_per_ip"] - b["refused_per_ip"] for a, b in zip(after, before)]
        log("5 clients from 127.0.0.9: %d served, %d refused; per eddyd: got %s, refused %s"
            % (served, refused, acc, ref))
        self.assertEqual(sum(acc), 5)
        for i in range(2):
            self.assertEqual(ref[i], max(0, acc[i] - 2),
                             "eddyd #%d got %d connections from 127.0.0.9 with limit 2 and "
                             "refused %d" % (i + 1, acc[i], ref[i]))
        self.assertGreaterEqual(refused, 1)
        self.assertEqual(sum(ref), refused)
        self.assertEqual(served, 5 - refused)
        lines = [d.wait_for_log(r"refused .*max_connections_per_ip", timeout=1)
                 for d, r in zip(self.eddyds, ref) if r]
        for line in lines:
            self.assertIsNotNone(line)
            self.assertIn("127.0.0.9", line)
        log("logged: %s" % lines[0])
        for s in held:
            s.close()
        self.finish()

    def test_drain_of_one_eddyd_loses_no_request(self):
        self.start()
        nthreads, size = 8, 200
        counts = [0] * nthreads
        retries = [0] * nthreads
        errors = []
        stop = threading.Event()
        lock = threading.Lock()

        def request(i, seq):
            head = b"c%d r%d " % (i, seq)
            return head + bytes((i * 31 + seq + j) % 251 for j in range(size - len(head)))

        def client(i, persistent):
            s = None
            seq = 0
            deadline = time.monotonic() + 300
            try:
                while not stop.is_set() and time.monotonic() < deadline and seq < 100000:
                    data = request(i, seq)
                    for attempt in range(6):
                        if attempt == 5:
                            raise AssertionError("client %d request %d: 5 retries, no reply"
                                                 % (i, seq))
                        if s is None:
                            s = eddytest.connect(self.port)
                        try:
                            s.sendall(data)
                            got = opstest.recv_exact(s, len(data))
                        except (ConnectionResetError, BrokenPipeError):
                            got = b""
                        if got == data:
                            break
                        if got:
                            raise AssertionError("client %d request %d: reply cut or wrong: "
                                                 "%d of %d bytes, %r..."
                                                 % (i, seq, len(got), len(data), got[:24]))
                        # Closed before any byte of the reply: retry.
                        s.close()
                        s = None
                        with lock:
                            retries[i] += 1
                    if not persistent:
                        s.close()
                        s = None
                    seq += 1
                    with lock:
                        counts[i] = seq
            except Exception as e:   # reported by the main thread
                errors.append(repr(e))
            finally:
                if s is not None:
                    s.close()

        threads = [threading.Thread(target=client, args=(i, i % 2 == 0), daemon=True)
                   for i in range(nthreads)]
        for t in threads:
            t.start()

        def wait_counts(target, what):
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not errors:
                with lock:
                    if min(counts) >= target:
                        return
                time.sleep(0.02)
            self.assertEqual(errors, [], what)
            self.fail("clients stuck (%s): %s" % (what, counts))

        wait_counts(20, "before the drain")
        d1, d2 = self.eddyds
        before = [st["reads"] for st in self.stats()]
        self.assertTrue(all(x > 1 for x in before), "traffic not spread: %s" % before)
        d1.signal(signal.SIGTERM)
        self.stop(d1, send=False, timeout=120)
        self.assertIsNotNone(d1.wait_for_log(r" info \[main\] stopped$", timeout=5))
        # eddyd #2's counter first, the clients' counts second: a request
        # answered in between is in m2_end - m2 but not in total_after.  A
        # request read by #2 before the query and answered after the
        # snapshot is the other way round: at most one per client (each has
        # one in flight), hence the slack of nthreads below.
        m2 = self.query(1)["reads"]
        with lock:
            at_exit = list(counts)
        wait_counts(max(at_exit) + 20, "after eddyd #1 exited")
        stop.set()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [], "clients failed")
        self.assertFalse(any(t.is_alive() for t in threads))
        m2_end = self.query(1)["reads"]
        total_after = sum(counts) - sum(at_exit)
        log("requests: %d in all, %d after eddyd #1 exited, all answered; retries on a fresh "
            "connection: %s (total %d)" % (sum(counts), total_after, retries, sum(retries)))
        self.assertGreaterEqual(m2_end - m2, total_after - nthreads,
                                "eddyd #2 did not serve the requests made after the drain")
        self.assertLess(sum(retries), nthreads * 5)
        self.assert_up(d2)
        self.finish()


if __name__ == "__main__":
    opstest.main()
