#!/usr/bin/env python3
"""integration.handler_api - handler ABI 3 against the real eddyd.

    python3 test_handler_api.py PATH/TO/eddyd --plugins DIR [unittest args]

DIR holds the test plugins built from tests/integration/plugins.

- async (handlers/examples/async.c): each line is answered from the
  plugin's own thread through eddy_conn_ref/eddy_ref_post; answers keep
  their order over several clients at once; clients that leave before
  their answers (posts to closed connections) leave eddyd up, with no fd
  more than before, and a SIGTERM while answers are still on the plugin's
  thread exits 0 (eddyd waits for the references; sanitizer builds check
  for use-after-free and leaks).
- flood (plugins/flood.c, issue 17's case): a timer sends 16 KiB every ms
  to a client that never reads.  eddyd's RSS stays within a few MB of its
  start (max_output 4m closes the connection: counted as
  errors_output_limit, one log line) while an echo client beside it is
  served.  With `polite on` the handler waits for drained() instead: the
  connection is never closed, RSS stays as low, and once the client reads,
  drained() restarts the flood.
- halfclose (plugins/halfclose.c): after a real shutdown(SHUT_WR) the
  handler is told (peer_shutdown) and still answers, 20 ms later, with the
  count of every byte sent before the FIN; then EOF, not a reset.
- peerinfo (plugins/peerinfo.c): peer and local addresses as struct
  sockaddr equal the client's own view (IPv4 and IPv6); `reset` gives the
  client ECONNRESET; `log` writes a warn line naming the connection's id
  and peer; per-worker state from worker_init counts the worker's
  connections, and a worker timer ticks; a reload that replaces the
  listener runs the new worker_init before new connections are served,
  the old connection keeps the old state, and the old worker_fini runs
  after it closes (and every fini at the stop).
"""

import os
import signal
import socket
import sys
import threading
import time

import eddytest
import opstest
from eddytest import HOST


PLUGINS = None  # --plugins DIR


def take_plugins_arg():
    global PLUGINS
    if "--plugins" in sys.argv:
        i = sys.argv.index("--plugins")
        PLUGINS = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]


def test_plugin(name):
    if PLUGINS is None:
        raise AssertionError("--plugins DIR was not given on the command line")
    return os.path.join(PLUGINS, name + ".so")


def rss_kib(d):
    with open("/proc/%d/status" % d.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


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


class Flood(opstest.OpsTestCase):
    MIB = 1024

    def start(self, polite="off"):
        self.stats_path = self.path("stats.sock")
        conf = self.config(
            "listen tcp %s:0 {\n    handler %s\n    polite %s\n"
            "    high_water 256k\n    low_water 64k\n}\n"
            "listen tcp %s:%d {\n    handler echo\n    prefix \"\"\n}\n"
            "listen unix %s {\n    handler stats\n}\n"
            % (HOST, test_plugin("flood"), polite, HOST, opstest.free_port(),
               self.stats_path), workers=1)
        d = self.run_conf(conf, listeners=3)
        ports = {os.path.basename(h): opstest.split_addr(a)[1] for a, h in d.listening
                 if not a.startswith("unix")}
        return d, ports["flood.so"] if "flood.so" in ports else ports["flood"], ports["echo"]

    def watch(self, d, echo, seconds, s):
        """For `seconds`: echo round trips, each answered; returns the
        highest RSS seen (KiB)."""
        e = eddytest.connect(echo)
        peak = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertEqual(opstest.echo_request(e, b"still here"), b"still here")
            peak = max(peak, rss_kib(d))
            time.sleep(0.02)
        e.close()
        return peak

    def test_rss_stays_flat_under_a_timer_that_floods(self):
        d, flood, echo = self.start()
        eddytest.echo_once(echo, prefix=b"")
        base = rss_kib(d)
        s = eddytest.connect(flood, rcvbuf=4096)  # and never read
        peak = self.watch(d, echo, 4.0, s)
        eddytest.log("flood: RSS %d KiB at start, %d KiB at most" % (base, peak))
        # 4 MiB of queued output at most (uncapped, 16 MiB a second).  RSS
        # under a sanitizer's allocator (shadow memory) says nothing of ours.
        if not eddytest.foreign_allocator():
            self.assertLess(peak - base, 8 * self.MIB, "RSS grew from %d to %d KiB" % (base, peak))
        totals, _ = opstest.stats_at(self.stats_path)
        self.assertEqual(totals["errors_output_limit"], 1, totals)
        lines = [l for l in d.stderr_lines() if "over max_output" in l]
        self.assertEqual(len(lines), 1, lines)
        _, how = eddytest.read_until_eof(s)  # what was sent, then the end
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_polite_flood_waits_for_drained(self):
        d, flood, echo = self.start(polite="on")
        eddytest.echo_once(echo, prefix=b"")
        base = rss_kib(d)
        s = eddytest.connect(flood, rcvbuf=4096)
        peak = self.watch(d, echo, 1.5, s)
        if not eddytest.foreign_allocator():
            self.assertLess(peak - base, 8 * self.MIB, "RSS grew from %d to %d KiB" % (base, peak))
        totals, _ = opstest.stats_at(self.stats_path)
        self.assertEqual(totals["errors_output_limit"], 0, totals)
        # Reading now: drained() restarts the timer, far past what was queued.
        s.settimeout(eddytest.IO_TIMEOUT)
        got = 0
        while got < 16 << 20:
            chunk = s.recv(1 << 20)
            self.assertTrue(chunk, "closed after %d bytes" % got)
            got += len(chunk)
        s.close()
        self.assert_up(d)
        self.stop(d)


class HalfClose(opstest.OpsTestCase):

    def test_answer_after_the_peers_fin(self):
        conf = self.config("listen tcp %s:0 {\n    handler %s\n}\n"
                           % (HOST, test_plugin("halfclose")))
        d = self.run_conf(conf)
        for size in (0, 5, 1 << 20):
            s = eddytest.connect(d.port())
            s.sendall(b"h" * size)
            s.shutdown(socket.SHUT_WR)
            data, how = eddytest.read_until_eof(s)
            self.assertEqual((data, how), (b"got %d bytes\n" % size, "eof"))
            s.close()
        self.assert_up(d)
        self.stop(d)


class PeerInfo(opstest.OpsTestCase):

    def conf(self, tag, extra=""):
        return self.config("listen tcp %s:%d {\n    handler %s\n    tag %s\n}\n%s"
                           % (HOST, self.port, test_plugin("peerinfo"), tag, extra),
                           workers=2)

    def ask(self, s, line):
        s.sendall(line + b"\n")
        return read_lines(s, 1)[0].decode()

    def test_addresses_reset_and_log(self):
        self.port = opstest.free_port()
        six = opstest.free_port(socket.SOCK_STREAM)
        d = self.run_conf(self.conf("a", "listen tcp [::1]:%d {\n    handler %s\n}\n"
                                    % (six, test_plugin("peerinfo"))), listeners=2)
        s = eddytest.connect(self.port)
        me, them = s.getsockname(), s.getpeername()
        self.assertEqual(self.ask(s, b"addr"),
                         "peer %s:%d local %s:%d" % (me[0], me[1], them[0], them[1]))
        self.assertEqual(self.ask(s, b"log hello there"), "logged")
        line = d.wait_for_log(r"said hello there")
        self.assertIsNotNone(line, d.stderr())
        self.assertRegex(line, r" warn \[w\d\] #\d+ 127\.0\.0\.1:%d: said hello there" % me[1])
        s.sendall(b"reset\n")
        s.settimeout(eddytest.IO_TIMEOUT)
        with self.assertRaises(ConnectionResetError):
            while s.recv(100):
                pass
        s.close()
        s6 = socket.create_connection(("::1", six), timeout=eddytest.IO_TIMEOUT)
        me6 = s6.getsockname()
        self.assertEqual(self.ask(s6, b"addr"),
                         "peer [%s]:%d local [::1]:%d" % (me6[0], me6[1], six))
        s6.close()
        self.assert_up(d)
        self.stop(d)

    def inits(self, d, what):
        return sorted(l.split("peerinfo: ")[1] for l in d.stderr_lines()
                      if "peerinfo: %s" % what in l)

    def test_worker_state_across_a_reload(self):
        self.port = opstest.free_port()
        conf = self.conf("v1")
        d = self.run_conf(conf)
        for w in (0, 1):
            self.assertIsNotNone(d.wait_for_log(r"worker_init v1 %d" % w), d.stderr())
        a = eddytest.connect(self.port)
        first = self.ask(a, b"worker")
        self.assertRegex(first, r"^tag v1 worker [01] conns 1 ticks \d+$")
        time.sleep(0.2)
        ticks = int(self.ask(a, b"worker").split()[-1])
        self.assertGreater(ticks, int(first.split()[-1]), "the worker timer does not tick")
        # A reload with a changed parameter: a new listener at the same address.
        self.conf("v2")  # the same file
        d.signal(signal.SIGHUP)
        for w in (0, 1):
            self.assertIsNotNone(d.wait_for_log(r"worker_init v2 %d" % w), d.stderr())
        worker = first.split()[3]
        other = "1" if worker == "0" else "0"
        # v1 ended at once on the worker without a connection, not on a's
        self.assertIsNotNone(d.wait_for_log(r"worker_fini v1 %s conns 0" % other), d.stderr())
        self.assertEqual(self.inits(d, "worker_fini v1"), ["worker_fini v1 %s conns 0" % other])
        for i in range(6):  # new connections, on both workers: v2's state
            b = eddytest.connect(self.port)
            self.assertRegex(self.ask(b, b"worker"), r"^tag v2 worker [01] conns 1 ticks \d+$")
            b.close()
        self.assertRegex(self.ask(a, b"worker"), r"^tag v1 ")  # the old one keeps v1
        a.close()
        self.assertIsNotNone(d.wait_for_log(r"worker_fini v1 %s conns 0" % worker), d.stderr())
        self.stop(d)
        self.assertEqual(len(self.inits(d, "worker_fini v1")), 2, d.stderr())
        self.assertEqual(self.inits(d, "worker_fini v2"),
                         ["worker_fini v2 0 conns 0", "worker_fini v2 1 conns 0"])


if __name__ == "__main__":
    take_plugins_arg()
    opstest.main()
