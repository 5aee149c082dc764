#!/usr/bin/env python3
"""integration.ops_systemd - eddyd under systemd, faked with real sockets.

- Watchdog: NOTIFY_SOCKET names a unix datagram socket this test owns and
  WATCHDOG_USEC=200000.  After READY=1, WATCHDOG=1 pings arrive while both
  workers are idle (eddyd wakes them to check).  One chunk sent to a
  `slow` listener dispatched inline (it sleeps 20s on its worker) blocks
  one of the two workers: the pings then stop (a silence of 15 check
  intervals is seen while the slow reply is still pending), and they come
  back once the reply has been sent.  WATCHDOG_PID naming another process:
  no pings at all.
- LISTEN_FDNAMES: two listening sockets bound here, passed at fds 3 and 4
  (bash -c 'LISTEN_PID=$$ ... exec eddyd', pass_fds) with the names
  "beta:alpha"; the config's blocks say `systemd_socket alpha` and
  `systemd_socket beta` with addresses that are not the sockets' own.
  Each socket answers with its block's prefix.  A UDP socket passed under
  a name a tcp block claims: exit 1 naming the fd and the name.
- The units: `cmake --install` of this build into a temporary prefix
  writes lib/systemd/system/eddyd.service with that prefix's paths and
  eddyd.socket (with FileDescriptorName=); `systemd-analyze verify` finds
  nothing wrong with them, and `systemd-analyze security --offline=yes`
  rates the service 4.0 or lower while it keeps
  AmbientCapabilities=CAP_NET_BIND_SERVICE (skipped when systemd-analyze is
  not installed).
- MemoryDenyWriteExecute: eddyd started with the kernel's equivalent
  (prctl PR_SET_MDWE, Linux 6.3+; skipped where refused) still loads the
  http, resp and slow plugins and serves them.
"""

import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT, log

WATCHDOG_USEC = 200000                      # eddyd checks every 100 ms
SILENCE = 15 * WATCHDOG_USEC / 2 / 1e6      # 15 check intervals without a ping


class Notify:
    """A unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.env = path

    def next(self, timeout=IO_TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()


class Watchdog(opstest.OpsTestCase):

    def watched(self, extra_env=None):
        n = Notify(self.path("notify.sock"))
        self.addCleanup(n.close)
        conf = self.config('listen tcp %s:0 {\n    handler echo\n    prefix "E: "\n}\n'
                           "listen tcp %s:0 {\n    handler slow\n    dispatch inline\n"
                           "    delay 20s\n}\n" % (HOST, HOST))
        env = {"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        env.update(extra_env or {})
        d = self.run_conf(conf, listeners=2, env=env)
        self.assertEqual(n.next(), "READY=1\nSTATUS=serving")
        return n, d

    def pings(self, n, count, timeout=60):
        """Wait for count WATCHDOG=1 messages (and nothing else)."""
        deadline = time.monotonic() + timeout
        got = 0
        while got < count and time.monotonic() < deadline:
            msg = n.next(timeout=max(0.01, deadline - time.monotonic()))
            if msg is not None:
                self.assertEqual(msg, "WATCHDOG=1")
                got += 1
        self.assertEqual(got, count, "WATCHDOG=1 pings within %ds" % timeout)

    def test_pings_stop_while_a_worker_is_stuck(self):
        n, d = self.watched()
        self.pings(n, 5)
        eddytest.echo_once(d.port(0), prefix=b"E: ")
        # Block one worker: slow sleeps 20s inline before echoing.
        s = eddytest.connect(d.port(1), timeout=120)
        s.sendall(b"stuck")
        # Pings already queued or sent before the worker took the chunk may
        # still come; then a silence must follow while the reply is pending.
        start = time.monotonic()
        before = 0
        while True:
            msg = n.next(timeout=SILENCE)
            if msg is None:
                break
            self.assertEqual(msg, "WATCHDOG=1")
            before += 1
            self.assertLess(time.monotonic() - start, 15,
                            "WATCHDOG=1 kept coming while a worker was stuck")
        s.setblocking(False)
        try:
            early = s.recv(100)
        except BlockingIOError:
            early = None
        self.assertIsNone(early, "the slow reply came before the pings stopped: %r" % early)
        log("%d pings after the chunk was sent, then %.1fs of silence" % (before, SILENCE))
        s.setblocking(True)
        s.settimeout(120)
        got = b""
        while len(got) < 5:
            b = s.recv(5 - len(got))
            self.assertTrue(b, "slow closed without replying")
            got += b
        self.assertEqual(got, b"stuck")
        s.close()
        self.pings(n, 3)        # the worker turns again: pings resume
        d.signal(signal.SIGTERM)
        self.assertEqual(n.next(), "STOPPING=1")
        self.stop(d, send=False)

    def test_no_pings_for_another_pid(self):
        n, d = self.watched({"WATCHDOG_PID": "1"})
        self.assertIsNone(n.next(timeout=SILENCE), "a ping for WATCHDOG_PID=1")
        self.stop(d)


class FdNames(opstest.OpsTestCase):

    def passed(self, socks, names, conf, listeners):
        """eddyd under bash with socks at fds 3, 4, ..., LISTEN_FDS,
        LISTEN_FDNAMES=names and LISTEN_PID=its own pid."""
        high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 100 + i) for i, s in enumerate(socks)]
        for fd in high:
            self.addCleanup(os.close, fd)
        moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(high))
        script = ('exec %s; LISTEN_PID=$$ LISTEN_FDS=%d LISTEN_FDNAMES=%s exec "$0" "$1" "$2"'
                  % (moves, len(socks), names))
        d = opstest.OpsEddyd(conf, listeners=listeners, pass_fds=high,
                             wrap=["bash", "-c", script])
        self.addCleanup(d.kill)
        return d

    def listening(self, kind=socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        s.bind((HOST, 0))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        self.addCleanup(s.close)
        return s

    def test_sockets_go_to_the_blocks_that_name_them(self):
        alpha, beta = self.listening(), self.listening()
        # Addresses that are not the sockets': only the names can match.
        conf = self.config(
            'listen tcp %s:%d {\n    handler echo\n    prefix "A: "\n    systemd_socket alpha\n}\n'
            'listen tcp %s:%d {\n    handler echo\n    prefix "B: "\n    systemd_socket beta\n}\n'
            % (HOST, opstest.free_port(), HOST, opstest.free_port()))
        d = self.passed([beta, alpha], "beta:alpha", conf, listeners=2)
        d.start()
        ports = {h: opstest.split_addr(a)[1] for a, h in d.listening}
        self.assertEqual(sorted(opstest.split_addr(a)[1] for a, _ in d.listening),
                         sorted([alpha.getsockname()[1], beta.getsockname()[1]]), d.listening)
        eddytest.echo_once(alpha.getsockname()[1], prefix=b"A: ")
        eddytest.echo_once(beta.getsockname()[1], prefix=b"B: ")
        log("alpha %d, beta %d served by name: %s" % (alpha.getsockname()[1],
                                                      beta.getsockname()[1], ports))
        self.stop(d)

    def test_a_named_socket_of_another_transport_is_refused(self):
        udp = self.listening(socket.SOCK_DGRAM)
        conf = self.config('listen tcp %s:0 {\n    handler echo\n    systemd_socket alpha\n}\n'
                           % HOST)
        d = self.passed([udp], "alpha", conf, listeners=1)
        with self.assertRaises(eddytest.EddydError):
            d.start()
        self.assertEqual(d.wait(), 1)
        self.assertIn("fd 3 (alpha)", d.stderr())
        self.assertIn("the udp socket named 'alpha' cannot serve listen tcp", d.stderr())


def build_dir():
    """The build directory: eddyd is built at its top."""
    return os.path.dirname(eddytest.EDDYD)


class Units(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="eddy-units-")
        out = subprocess.run(["cmake", "--install", build_dir(), "--prefix", cls.prefix],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=300)
        if out.returncode != 0:
            raise AssertionError("cmake --install: %s" % out.stdout)
        cls.units = os.path.join(cls.prefix, "lib", "systemd", "system")
        cls.service = os.path.join(cls.units, "eddyd.service")
        cls.socket = os.path.join(cls.units, "eddyd.socket")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def keys(self, path):
        keys = {}
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith(("#", ";", "[")):
                    k, _, v = line.partition("=")
                    keys.setdefault(k, []).append(v)
        return keys

    def test_units_name_the_prefix(self):
        k = self.keys(self.service)
        conf = os.path.join(self.prefix, "etc", "eddy", "eddyd.conf")
        eddyd = os.path.join(self.prefix, "bin", "eddyd")
        self.assertEqual(k["ExecStart"], ["%s -c %s" % (eddyd, conf)])
        self.assertEqual(k["ExecStartPre"], ["%s -t -c %s" % (eddyd, conf)])
        self.assertTrue(os.access(eddyd, os.X_OK) and os.path.exists(conf))
        self.assertEqual(k["Type"], ["notify"])
        self.assertEqual(k["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(k["Sockets"], ["eddyd.socket"])
        self.assertEqual(k["AmbientCapabilities"], ["CAP_NET_BIND_SERVICE"])
        m = re.fullmatch(r"(\d+)s?", k["TimeoutStopSec"][0])
        self.assertTrue(m and int(m.group(1)) > 10,
                        "TimeoutStopSec must be longer than shutdown_timeout's default 10s")
        self.assertIn("WatchdogSec", k)
        s = self.keys(self.socket)
        self.assertEqual(s["ListenStream"], ["127.0.0.1:7777"])
        self.assertEqual(s["FileDescriptorName"], ["echo"])
        # ...and the installed default config serves it by that name.
        with open(conf) as f:
            self.assertRegex(f.read(), r"(?m)^\s*systemd_socket echo\s*$")

    def analyze(self, *args):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        return subprocess.run(["systemd-analyze"] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)

    def test_verify(self):
        out = self.analyze("verify", self.service, self.socket)
        log("systemd-analyze verify: exit %d %r" % (out.returncode, out.stdout))
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertEqual(out.stdout.strip(), "")

    def test_security_score(self):
        out = self.analyze("security", "--offline=yes", self.service)
        m = re.search(r"Overall exposure level for eddyd.service: (\d+\.\d+)", out.stdout)
        self.assertTrue(m, out.stdout[-2000:])
        score = float(m.group(1))
        log("systemd-analyze security --offline=yes: %.1f" % score)
        self.assertLessEqual(score, 4.0, out.stdout)


PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
MDWE_EXEC = ("import ctypes, os, sys\n"
             "if ctypes.CDLL(None, use_errno=True).prctl(%d, %d, 0, 0, 0) != 0:\n"
             "    sys.exit('PR_SET_MDWE: ' + os.strerror(ctypes.get_errno()))\n"
             "os.execv(sys.argv[1], sys.argv[1:])\n" % (PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN))


class MemoryDenyWriteExecute(opstest.OpsTestCase):

    def test_plugins_load(self):
        probe = subprocess.run(["python3", "-c", MDWE_EXEC, "/bin/true"], stderr=subprocess.PIPE,
                               text=True, timeout=60)
        if probe.returncode != 0:
            self.skipTest("the kernel refuses PR_SET_MDWE: %s" % probe.stderr.strip())
        conf = self.config("listen tcp %s:0 {\n    handler http\n}\n"
                           "listen tcp %s:0 {\n    handler resp\n}\n"
                           "listen tcp %s:0 {\n    handler slow\n    delay 1ms\n"
                           "    dispatch pool\n}\n" % (HOST, HOST, HOST))
        d = opstest.OpsEddyd(conf, listeners=3, wrap=["python3", "-c", MDWE_EXEC])
        self.addCleanup(d.kill)
        d.start()
        s = eddytest.connect(d.port(0))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw, _ = eddytest.read_until_eof(s)
        s.close()
        self.assertTrue(raw.startswith(b"HTTP/1.1 200"), raw[:100])
        s = eddytest.connect(d.port(1))
        s.sendall(b"PING\r\n")
        self.assertEqual(s.recv(100), b"+PONG\r\n")
        s.close()
        eddytest.echo_once(d.port(2), prefix=b"")
        self.stop(d)


if __name__ == "__main__":
    opstest.main()
